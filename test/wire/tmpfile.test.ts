// O_TMPFILE (FUSE_TMPFILE, wire transport only): an unnamed file in a directory, written, then given
// a name with linkat(AT_SYMLINK_FOLLOW) through /proc/self/fd (open(2)'s recipe); one never linked leaves nothing
// behind; one opened O_EXCL cannot be linked. Checked through the mount and on the backing layer.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Mounted, mountOverlay, mountPassthrough } from '../helpers/cli';
import { overlayLayers, sourceAndMountpoint } from '../helpers/scratch';
import { py } from '../helpers/run';

// Prints: the size fstat saw before linking, its link count, and the result of linking.
const TMPFILE = `
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD, AT_SYMLINK_FOLLOW = -100, 0x400
d, name, excl = sys.argv[1], sys.argv[2], sys.argv[3] == '1'
fd = os.open(d, os.O_TMPFILE | os.O_RDWR | (os.O_EXCL if excl else 0), 0o640)
os.write(fd, b'made unnamed\\n')
st = os.fstat(fd)
res = 'linked'
# os.link would call link(2), which does not follow the /proc magic link.
if name != '-' and libc.linkat(AT_FDCWD, b'/proc/self/fd/%d' % fd, AT_FDCWD, os.path.join(d, name).encode(), AT_SYMLINK_FOLLOW) != 0:
    res = 'errno %d' % ctypes.get_errno()
os.write(fd, b'written after\\n')
print(st.st_size, st.st_nlink, res)
`;

async function checkTmpfile(dir: string, backingDir: string): Promise<void> {
  // The overlay's upper directory exists only once the tmpfile copies it up.
  const before = fs.existsSync(backingDir) ? fs.readdirSync(backingDir) : [];
  expect(await py(TMPFILE, dir, 'named', '0')).toBe('13 0 linked');
  const f = path.join(dir, 'named');
  expect(fs.readFileSync(f, 'utf8')).toBe('made unnamed\nwritten after\n');
  expect(fs.statSync(f).mode & 0o777).toBe(0o640);
  expect(fs.statSync(f).nlink).toBe(1);
  expect(fs.readFileSync(path.join(backingDir, 'named'), 'utf8')).toBe('made unnamed\nwritten after\n');

  // Never linked: gone at close, nothing left in the backing directory.
  expect(await py(TMPFILE, dir, '-', '0')).toBe('13 0 linked');
  // O_EXCL: the kernel refuses the name (ENOENT).
  expect(await py(TMPFILE, dir, 'refused', '1')).toBe('13 0 errno 2');
  expect(fs.existsSync(path.join(dir, 'refused'))).toBe(false);
  expect(fs.readdirSync(backingDir).sort()).toEqual([...before, 'named'].sort());
}

test('passthrough: O_TMPFILE, linked in, never linked, and O_EXCL', async () => {
  const t = sourceAndMountpoint();
  let m: Mounted | undefined;
  try {
    fs.mkdirSync(path.join(t.src, 'd'));
    m = await mountPassthrough(t.src, t.mnt);
    await checkTmpfile(path.join(t.mnt, 'd'), path.join(t.src, 'd'));
  } finally {
    await m?.unmount();
    t.cleanup();
  }
});

test('overlay: O_TMPFILE in a lower-only directory is made in its copied-up upper directory', async () => {
  const t = overlayLayers([{ 'd/lower': 'from below' }]);
  let m: Mounted | undefined;
  try {
    m = await mountOverlay(t.mnt, t);
    await checkTmpfile(path.join(t.mnt, 'd'), path.join(t.upper!, 'd'));
    expect(fs.readdirSync(path.join(t.mnt, 'd')).sort()).toEqual(['lower', 'named']);
    expect(fs.existsSync(path.join(t.lower[0]!, 'd', 'named'))).toBe(false);
  } finally {
    await m?.unmount();
    t.cleanup();
  }
});
