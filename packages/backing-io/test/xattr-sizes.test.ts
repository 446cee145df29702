// The xattr calls read into a shared 4 KiB buffer first and fall back to size-then-fetch when the
// value or the name list is bigger (ERANGE). ext4 keeps at most ~4 KiB of xattrs per inode here, so
// the fallback needs a filesystem with bigger ones: tmpfs holds user.* xattrs of any size since
// Linux 6.6, and /dev/shm is a tmpfs any user may write.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FsError, syscalls } from '@layerfs/backing-io';
import { tempDir } from './helpers';

function bigXattrDir(): { dir: string; cleanup(): void } | undefined {
  if (!fs.existsSync('/dev/shm')) return undefined;
  const d = fs.mkdtempSync('/dev/shm/layerfs-xattr-');
  try {
    fs.writeFileSync(path.join(d, 'probe'), '');
    syscalls.lsetxattr(path.join(d, 'probe'), 'user.probe', Buffer.alloc(8192, 1));
    return { dir: d, cleanup: () => fs.rmSync(d, { recursive: true, force: true }) };
  } catch {
    fs.rmSync(d, { recursive: true, force: true });
    return undefined;
  }
}

const big = bigXattrDir();
const onBigXattrs = big ? test : test.skip;
afterAll(() => big?.cleanup());

test('small values and lists come back whole, absent ones as ENODATA (one call each)', () => {
  const t = tempDir();
  try {
    const f = path.join(t.dir, 'f');
    fs.writeFileSync(f, '');
    expect(syscalls.llistxattr(f)).toEqual([]);
    syscalls.lsetxattr(f, 'user.a', Buffer.from('alpha'));
    syscalls.lsetxattr(f, 'user.empty', Buffer.alloc(0));
    expect(syscalls.lgetxattr(f, 'user.a').toString()).toBe('alpha');
    expect(syscalls.lgetxattr(f, 'user.empty').length).toBe(0);
    expect(syscalls.llistxattr(f).sort()).toEqual(['user.a', 'user.empty']);
    // The value handed back is a copy, not a view of the shared buffer the next call overwrites.
    const a = syscalls.lgetxattr(f, 'user.a');
    syscalls.lgetxattr(f, 'user.empty');
    syscalls.lsetxattr(f, 'user.b', Buffer.from('bravo!'));
    syscalls.lgetxattr(f, 'user.b');
    expect(a.toString()).toBe('alpha');
    let err: unknown;
    try {
      syscalls.lgetxattr(f, 'user.none');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FsError);
    expect((err as FsError).code).toBe('ENODATA');
  } finally {
    t.cleanup();
  }
});

test('lgetxattrIfAny answers an absent xattr undefined, by path and by fd; other errors still throw', () => {
  const t = tempDir();
  try {
    const f = path.join(t.dir, 'f');
    fs.writeFileSync(f, '');
    syscalls.lsetxattr(f, 'user.a', Buffer.from('alpha'));
    expect(syscalls.lgetxattrIfAny(f, 'user.none')).toBeUndefined();
    expect(syscalls.lgetxattrIfAny(f, 'user.a')?.toString()).toBe('alpha');
    const fd = fs.openSync(f, 'r');
    try {
      expect(syscalls.lgetxattrIfAny('', 'user.none', { fd })).toBeUndefined();
      expect(syscalls.lgetxattrIfAny('', 'user.a', { fd })?.toString()).toBe('alpha');
    } finally {
      fs.closeSync(fd);
    }
    expect(() => syscalls.lgetxattrIfAny(path.join(t.dir, 'missing'), 'user.a')).toThrow(/ENOENT/);
  } finally {
    t.cleanup();
  }
});

onBigXattrs('values and name lists bigger than the first buffer are fetched whole (the ERANGE path)', () => {
  const f = path.join(big!.dir, 'f');
  fs.writeFileSync(f, '');
  const value = Buffer.alloc(20000);
  for (let i = 0; i < value.length; i++) value[i] = (i * 7) & 0xff;
  syscalls.lsetxattr(f, 'user.big', value);
  expect(syscalls.lgetxattr(f, 'user.big').equals(value)).toBe(true);
  const names = Array.from({ length: 80 }, (_, i) => `user.${String(i).padStart(3, '0')}-${'n'.repeat(60)}`);
  for (const n of names) syscalls.lsetxattr(f, n, Buffer.from('1'));
  // 80 names of 70 bytes: 5.6 KiB of list.
  expect(syscalls.llistxattr(f).sort()).toEqual([...names, 'user.big'].sort());
});

test('by a name in a directory fd (getxattrat, listxattrat): values, absence, a symlink not followed, errors named', () => {
  const t = tempDir();
  try {
    const f = path.join(t.dir, 'f');
    fs.writeFileSync(f, '');
    syscalls.lsetxattr(f, 'user.a', Buffer.from('alpha'));
    fs.symlinkSync('f', path.join(t.dir, 'link'));
    const dir = fs.openSync(t.dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | syscalls.O_PATH);
    try {
      expect(syscalls.lgetxattrIfAny('f', 'user.a', { dir })?.toString()).toBe('alpha');
      expect(syscalls.lgetxattrIfAny('f', 'user.none', { dir })).toBeUndefined();
      expect(syscalls.llistxattr('f', { dir })).toEqual(['user.a']);
      // The link itself: user.* xattrs are not allowed on symlinks, so it has none, and the file's
      // are not reached through it.
      expect(syscalls.lgetxattrIfAny('link', 'user.a', { dir })).toBeUndefined();
      expect(syscalls.llistxattr('link', { dir })).toEqual([]);
      expect(syscalls.lgetxattrIfAny('link', 'user.a', { dir, follow: true })?.toString()).toBe('alpha');
      expect(() => syscalls.lgetxattrIfAny('missing', 'user.a', { dir })).toThrow(/ENOENT.*missing/);
      syscalls.lsetxattr('f', 'user.b', Buffer.from('bravo'), 0, { dir });
      expect(syscalls.lgetxattr('f', 'user.b', { dir }).toString()).toBe('bravo');
      syscalls.lremovexattr('f', 'user.b', { dir });
      expect(syscalls.llistxattr(f)).toEqual(['user.a']);
    } finally {
      fs.closeSync(dir);
    }
  } finally {
    t.cleanup();
  }
});

onBigXattrs('by a name in a directory fd: a value bigger than the first buffer comes whole (by the procfs path)', () => {
  const f = path.join(big!.dir, 'g');
  fs.writeFileSync(f, '');
  const value = Buffer.alloc(9000, 5);
  syscalls.lsetxattr(f, 'user.big', value);
  const dir = fs.openSync(big!.dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    expect(syscalls.lgetxattrIfAny('g', 'user.big', { dir })?.equals(value)).toBe(true);
  } finally {
    fs.closeSync(dir);
  }
});

test('set and remove by a name in a directory fd (setxattrat, removexattrat): flags honoured, a symlink never followed', () => {
  const t = tempDir();
  try {
    const f = path.join(t.dir, 'f');
    fs.writeFileSync(f, '');
    fs.symlinkSync('f', path.join(t.dir, 'link'));
    const dir = fs.openSync(t.dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | syscalls.O_PATH);
    try {
      syscalls.lsetxattr('f', 'user.c', Buffer.from('one'), 0, { dir });
      expect(syscalls.lgetxattr(f, 'user.c').toString()).toBe('one');
      // XATTR_CREATE on an existing name, XATTR_REPLACE on a missing one.
      expect(() => syscalls.lsetxattr('f', 'user.c', Buffer.from('two'), 1, { dir })).toThrow(/EEXIST/);
      expect(() => syscalls.lsetxattr('f', 'user.d', Buffer.from('x'), 2, { dir })).toThrow(/ENODATA/);
      syscalls.lsetxattr('f', 'user.c', Buffer.from(''), 2, { dir });
      expect(syscalls.lgetxattr(f, 'user.c').length).toBe(0);
      // user.* on the link itself is refused (EPERM), and the file behind it is untouched.
      expect(() => syscalls.lsetxattr('link', 'user.e', Buffer.from('x'), 0, { dir })).toThrow(/EPERM/);
      expect(syscalls.llistxattr(f)).toEqual(['user.c']);
      syscalls.lremovexattr('f', 'user.c', { dir });
      expect(() => syscalls.lremovexattr('f', 'user.c', { dir })).toThrow(/ENODATA/);
      expect(syscalls.llistxattr(f)).toEqual([]);
    } finally {
      fs.closeSync(dir);
    }
  } finally {
    t.cleanup();
  }
});

onBigXattrs('set by a name in a directory fd: a value bigger than the shared buffer goes by the procfs path', () => {
  const f = path.join(big!.dir, 'h');
  fs.writeFileSync(f, '');
  const value = Buffer.alloc(9000, 7);
  const dir = fs.openSync(big!.dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    syscalls.lsetxattr('h', 'user.big', value, 0, { dir });
    expect(syscalls.lgetxattr(f, 'user.big').equals(value)).toBe(true);
  } finally {
    fs.closeSync(dir);
  }
});
