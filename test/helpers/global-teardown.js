// After every run: fail loudly if a test left a FUSE mount of ours behind (and clean it up, so the
// next run starts clean).
const fs = require('node:fs');
const { execFileSync } = require('node:child_process');

/** The projects named by --selectProjects on jest's command line (Jest 29 keeps them out of globalConfig). */
function selectedProjects(argv) {
  const out = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i].startsWith('--selectProjects=')) out.push(...argv[i].slice('--selectProjects='.length).split(','));
    else if (argv[i] === '--selectProjects') while (i + 1 < argv.length && !argv[i + 1].startsWith('-')) out.push(argv[++i]);
  }
  return out;
}

module.exports = async function globalTeardown() {
  // The unit tests alone (`npm run test:unit`: jest --selectProjects core) mount nothing, and may run
  // while another run's integration tests have mounts up: those are not theirs to unmount.
  const projects = selectedProjects(process.argv);
  if (projects.length > 0 && projects.every((p) => p === 'core')) return;
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
