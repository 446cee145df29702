// mmap and read()/write() users of one file see the same bytes through the mount, and msync'ed
// stores reach the source. The checks run in python3 (mmap), against a real mount.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { sourceAndMountpoint } from '../helpers/scratch';
import { mountPassthrough } from '../helpers/cli';

test.each([[[]], [['cache=kernel']], [['cache=none']]] as string[][][])('mmap coherence with options %j', async (opts) => {
  const s = sourceAndMountpoint({ m: Buffer.alloc(3 * 4096, '.') });
  const { src, mnt } = s;
  const m = await mountPassthrough(src, mnt, opts);
  try {
    const r = spawnSync('python3', [path.join(__dirname, '..', 'helpers', 'mmap-check.py'), path.join(mnt, 'm'), path.join(src, 'm')], {
      encoding: 'utf8',
    });
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('ok');
    expect(r.status).toBe(0);
  } finally {
    await m.unmount();
    s.cleanup();
  }
});
