// Paths near PATH_MAX inside the mount: the daemon never hands the host a full path (the passthrough
// walks from node fds, the overlay resolves below each layer's root fd), so a mount-relative path of
// 4 000 bytes works even where the backing directory's own path is long enough that root + path is
// over PATH_MAX on the host (a path-based daemon answered ENAMETOOLONG there), and so does depth 1 000.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Mounted, mountOverlay, mountPassthrough } from './helpers/cli';
import { scratch } from './helpers/scratch';
import { py, run } from './helpers/run';

const SCRIPT = `
import os, sys, json
m, kind = sys.argv[1], sys.argv[2]
names = ['n' * 199] * 20 if kind == 'long' else ['d'] * 1000
p = m
for n in names:
    p = os.path.join(p, n)
    os.mkdir(p)
rel = len(p) - len(m)
f = os.path.join(p, 'f')
with open(f, 'w') as h: h.write('deep')
st = os.stat(f)
os.rename(f, os.path.join(p, 'g'))
content = open(os.path.join(p, 'g')).read()
os.unlink(os.path.join(p, 'g'))
print(json.dumps({'rel': rel, 'size': st.st_size, 'content': content, 'left': os.listdir(p)}))
`;

test.each([
  ['passthrough', 'long'],
  ['passthrough', 'deep'],
  ['overlay', 'long'],
  ['overlay', 'deep'],
])(
  '%s: create, stat, rename, unlink at a %s path inside the mount',
  async (fsName, kind) => {
    const s = scratch();
    // Backing directories with paths longer than the mountpoint's: on the host side every path is
    // ~300 bytes longer than inside the mount.
    const long = path.join(s.dir, 's'.repeat(250));
    const mnt = path.join(s.dir, 'mnt');
    fs.mkdirSync(mnt);
    let m: Mounted | undefined;
    try {
      if (fsName === 'passthrough') {
        fs.mkdirSync(path.join(long, 'src'), { recursive: true });
        m = await mountPassthrough(path.join(long, 'src'), mnt);
      } else {
        for (const d of ['lower', 'upper', 'work']) fs.mkdirSync(path.join(long, d), { recursive: true });
        m = await mountOverlay(mnt, { lower: [path.join(long, 'lower')], upper: path.join(long, 'upper'), work: path.join(long, 'work') });
      }
      const out = JSON.parse(await py(SCRIPT, mnt, kind));
      expect(out.rel).toBeGreaterThanOrEqual(kind === 'long' ? 4000 : 2000);
      expect(out).toMatchObject({ size: 4, content: 'deep', left: [] });
    } finally {
      await m?.unmount();
      // A tree longer than PATH_MAX on the host: rm(1) walks it relative to each directory, Node's rmSync does not.
      await run('rm', ['-rf', s.dir]);
    }
  },
  120000,
);
