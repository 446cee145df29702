// After every run: fail loudly if a test left a FUSE mount of ours behind (and clean it up, so the
// next run starts clean).
const fs = require('node:fs');
const { execFileSync } = require('node:child_process');

module.exports = async function globalTeardown() {
  const mounts = fs
    .readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f[2] && f[2].startsWith('fuse') && f[2] !== 'fusectl' && f[1].includes('layerfs-test'))
    .map((f) => f[1].replace(/\\040/g, ' '));
  for (const m of mounts) {
    try {
      execFileSync('umount', ['-l', m]);
    } catch {
      /* reported below either way */
    }
  }
  if (mounts.length > 0) throw new Error(`tests left FUSE mounts behind: ${mounts.join(', ')}`);
};
