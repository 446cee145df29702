// A passthrough node opens its host fd at first use, by the name it was last known by (so a stat of
// many files opens none). A hard-linked file must then survive losing that name through the mount
// — by unlink or by a rename over it — and stay reachable by its other names; and a file looked up
// but never used must never be reached through a directory swapped for a symlink.
// Cache lifetimes are 0, so every step asks the daemon.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { mountPassthrough } from '../helpers/cli';
import { run } from '../helpers/run';
import { sourceAndMountpoint } from '../helpers/scratch';

const NO_CACHE = ['attr_timeout=0', 'entry_timeout=0', 'negative_timeout=0'];

test('a hard link keeps working after the name its node knew is unlinked or renamed over', async () => {
  const s = sourceAndMountpoint({ a: 'content\n', x: 'x\n' });
  const m = await mountPassthrough(s.src, s.mnt, NO_CACHE);
  try {
    const mnt = s.mnt;
    // b is the last name the node is known by; then b goes.
    const r1 = await run('sh', [
      '-c',
      `ln ${mnt}/a ${mnt}/b && stat -c %h ${mnt}/a ${mnt}/b && rm ${mnt}/b && stat -c %h ${mnt}/a && cat ${mnt}/a`,
    ]);
    expect({ out: r1.stdout, err: r1.stderr }).toEqual({ out: '2\n2\n1\ncontent\n', err: '' });
    // c is the last name; x is renamed over it.
    const r2 = await run('sh', [
      '-c',
      `ln ${mnt}/a ${mnt}/c && stat -c %h ${mnt}/c && mv ${mnt}/x ${mnt}/c && stat -c %h ${mnt}/a && cat ${mnt}/a ${mnt}/c`,
    ]);
    expect({ out: r2.stdout, err: r2.stderr }).toEqual({ out: '2\n1\ncontent\nx\n', err: '' });
    expect(fs.readdirSync(s.src).sort()).toEqual(['a', 'c']);
  } finally {
    await m.unmount();
    s.cleanup();
  }
});

test('a file looked up but never opened is not reached through a directory swapped for a symlink', async () => {
  const s = sourceAndMountpoint({});
  const outside = path.join(path.dirname(s.src), 'outside');
  fs.mkdirSync(path.join(s.src, 'sub'));
  fs.writeFileSync(path.join(s.src, 'sub', 'f'), 'inside\n');
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(outside, 'f'), 'outside\n');
  const m = await mountPassthrough(s.src, s.mnt, ['attr_timeout=5', 'entry_timeout=5']);
  try {
    expect((await run('stat', ['-c', '%s', path.join(s.mnt, 'sub', 'f')])).stdout).toBe('7\n');
    fs.renameSync(path.join(s.src, 'sub'), path.join(s.src, 'sub.old'));
    fs.symlinkSync(outside, path.join(s.src, 'sub'));
    const r = await run('sh', ['-c', `echo pwned > ${s.mnt}/sub/f; cat ${s.mnt}/sub/f`]);
    // The node is the directory it looked up (now sub.old): the write lands there, or fails — never outside.
    expect(r.stdout).not.toMatch(/outside/);
    expect(fs.readFileSync(path.join(outside, 'f'), 'utf8')).toBe('outside\n');
    if (r.stdout === 'pwned\n') expect(fs.readFileSync(path.join(s.src, 'sub.old', 'f'), 'utf8')).toBe('pwned\n');
  } finally {
    await m.unmount();
    s.cleanup();
    fs.rmSync(outside, { recursive: true, force: true });
  }
});
