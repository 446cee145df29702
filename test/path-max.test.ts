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

// pjdfstest's `*/03.t`, run in a directory of the lower layer: a path of PATH_MAX - 1 bytes relative
// to that directory is "ld/" + 4 095 bytes from the upper layer's root once the directory is copied
// up — longer than openat2 takes. The kernel resolves it one component at a time; so must we.
const AT_LIMIT = `
import errno, json, os, sys
os.chdir(sys.argv[1])
os.umask(0)
parts = []
while len('/'.join(parts)) < 4095 - 128:
    parts.append('a' * 127)
nx = '/'.join(parts)
nx = nx + '/' + 'x' * (4095 - len(nx) - 1)
os.makedirs(os.path.dirname(nx))
out = {'len': len(nx)}
def attempt(key, fn):
    try:
        fn()
        out[key] = 0
    except OSError as e:
        out[key] = errno.errorcode[e.errno]
attempt('create', lambda: os.close(os.open(nx, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o642)))
out['mode'] = oct(os.stat(nx).st_mode & 0o7777) if out['create'] == 0 else None
attempt('truncate', lambda: os.truncate(nx, 123))
attempt('chmod', lambda: os.chmod(nx, 0o600))
attempt('link', lambda: os.link(nx, 'n0'))
attempt('unlink', lambda: os.unlink(nx))
attempt('mkdir', lambda: os.mkdir(nx, 0o755))
attempt('rmdir', lambda: os.rmdir(nx))
attempt('too long', lambda: os.mkdir(nx + 'x', 0o755))
print(json.dumps(out))
`;

test('overlay: a PATH_MAX - 1 path relative to a lower-layer directory (pjdfstest */03.t there)', async () => {
  const s = scratch();
  const mnt = path.join(s.dir, 'mnt');
  for (const d of ['lower/ld', 'upper', 'work', 'mnt']) fs.mkdirSync(path.join(s.dir, d), { recursive: true });
  fs.writeFileSync(path.join(s.dir, 'lower', 'ld', 'existing'), 'x');
  const m = await mountOverlay(mnt, {
    lower: [path.join(s.dir, 'lower')],
    upper: path.join(s.dir, 'upper'),
    work: path.join(s.dir, 'work'),
  });
  try {
    const out = JSON.parse(await py(AT_LIMIT, path.join(mnt, 'ld')));
    expect(out).toEqual({
      len: 4095,
      create: 0,
      mode: '0o642',
      truncate: 0,
      chmod: 0,
      link: 0,
      unlink: 0,
      mkdir: 0,
      rmdir: 0,
      'too long': 'ENAMETOOLONG',
    });
    // The files really are in the upper layer, below the copied-up directory.
    expect(fs.existsSync(path.join(s.dir, 'upper', 'ld', 'n0'))).toBe(true);
  } finally {
    await m.unmount();
    await run('rm', ['-rf', s.dir]);
  }
}, 120000);

// openat2's limit is in bytes: a lower-layer path of 18 names of 120 'é' is 2 178 characters in
// JavaScript but 4 338 bytes, and must be reached from its parent's fd as a longer ASCII one is.
const MULTIBYTE = `
import os, sys, json
os.chdir(sys.argv[1])
for _ in range(18): os.chdir('\\u00e9' * 120)
before = open('f').read()
with open('f', 'a') as h: h.write('more\\n')
print(json.dumps({'before': before, 'after': open('f').read()}))
`;

test('overlay: a lower-layer path over 4 095 bytes in UTF-8 but not in characters reads and copies up', async () => {
  const s = scratch();
  const mnt = path.join(s.dir, 'mnt');
  for (const d of ['lower', 'upper', 'work', 'mnt']) fs.mkdirSync(path.join(s.dir, d));
  // Made one directory at a time: the host path is too long for one mkdir too.
  await py(
    "import os, sys\nos.chdir(sys.argv[1])\nfor _ in range(18):\n    os.mkdir('\\u00e9' * 120); os.chdir('\\u00e9' * 120)\nopen('f', 'w').write('hi\\n')\nprint('ok')",
    path.join(s.dir, 'lower'),
  );
  const m = await mountOverlay(mnt, {
    lower: [path.join(s.dir, 'lower')],
    upper: path.join(s.dir, 'upper'),
    work: path.join(s.dir, 'work'),
  });
  try {
    expect(JSON.parse(await py(MULTIBYTE, mnt))).toEqual({ before: 'hi\n', after: 'hi\nmore\n' });
  } finally {
    await m.unmount();
    await run('rm', ['-rf', s.dir]);
  }
}, 120000);
