// The syscalls Node's fs lacks, through one binding (koffi: prebuilt FFI, no compiler at install).
// Each is a µs-long metadata call on a local path, issued synchronously: an FFI call that went to the
// threadpool would lose errno (it lives in the worker thread) and cost a ~20 µs hop for a ~2 µs call.
// Data I/O never comes through here. Every function throws FsError with a positive errno.
import koffi from 'koffi';
import { FsError } from './errors';

const libc = koffi.load('libc.so.6');

// Anonymous on purpose: koffi's type names are process-global, and a module loaded twice (jest loads
// modules once per test file) would collide on a named struct.
const Timespec = koffi.struct({ tv_sec: 'int64', tv_nsec: 'int64' });

const Dirent64 = koffi.struct({
  d_ino: 'uint64', d_off: 'int64', d_reclen: 'uint16', d_type: 'uint8', d_name: koffi.array('char', 256, 'String'),
});

const c = {
  lgetxattr: libc.func('intptr_t lgetxattr(const char *path, const char *name, _Out_ uint8_t *value, size_t size)'),
  lsetxattr: libc.func('int lsetxattr(const char *path, const char *name, const uint8_t *value, size_t size, int flags)'),
  llistxattr: libc.func('intptr_t llistxattr(const char *path, _Out_ uint8_t *list, size_t size)'),
  lremovexattr: libc.func('int lremovexattr(const char *path, const char *name)'),
  fgetxattr: libc.func('intptr_t fgetxattr(int fd, const char *name, _Out_ uint8_t *value, size_t size)'),
  mknod: libc.func('int mknod(const char *path, uint32_t mode, uint64_t dev)'),
  utimensat: libc.func('utimensat', 'int', ['int', 'const char *', koffi.pointer(Timespec), 'int']),
  renameat2: libc.func('int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags)'),
  fallocate: libc.func('int fallocate(int fd, int mode, int64_t offset, int64_t len)'),
  umount2: libc.func('int umount2(const char *target, int flags)'),
  mount: libc.func('int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)'),
  lseek: libc.func('int64_t lseek(int fd, int64_t offset, int whence)'),
  syncfs: libc.func('int syncfs(int fd)'),
  linkat: libc.func('int linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags)'),
  copyFileRange: libc.func('int64_t copy_file_range(int fd_in, _Inout_ int64_t *off_in, int fd_out, _Inout_ int64_t *off_out, size_t len, unsigned int flags)'),
  opendir: libc.func('void *opendir(const char *path)'),
  readdir64: libc.func('readdir64', koffi.pointer(Dirent64), ['void *']),
  closedir: libc.func('int closedir(void *dir)'),
  // struct file_handle is a header and a variable tail: passed as raw bytes.
  nameToHandleAt: libc.func('int name_to_handle_at(int dirfd, const char *path, _Inout_ uint8_t *handle, _Out_ int *mountId, int flags)'),
  openByHandleAt: libc.func('int open_by_handle_at(int mountFd, const uint8_t *handle, int flags)'),
  ioctlPtr: libc.func('int ioctl(int fd, unsigned long request, _Inout_ uint8_t *arg)'),
};

const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;
const AT_SYMLINK_FOLLOW = 0x400;

/** open(2)'s O_TMPFILE (__O_TMPFILE | O_DIRECTORY), which Node's constants lack. */
export const O_TMPFILE = 0o20200000;

/** utimensat's special tv_nsec values. */
export const UTIME_NOW = (1 << 30) - 1;
export const UTIME_OMIT = (1 << 30) - 2;

export const XattrFlags = { CREATE: 1, REPLACE: 2 } as const;
export const RenameFlags = { NOREPLACE: 1, EXCHANGE: 2, WHITEOUT: 4 } as const;
export const FallocFlags = { KEEP_SIZE: 1, PUNCH_HOLE: 2, ZERO_RANGE: 0x10 } as const;
export const UmountFlags = { FORCE: 1, DETACH: 2 } as const;

function check(ret: number | bigint, syscall: string, path?: string): number {
  const n = Number(ret);
  if (n < 0) throw new FsError(koffi.errno(), syscall, path);
  return n;
}

/** A time for utimens: nanoseconds since the epoch, or "now", or "leave as is". */
export type TimeSpec = bigint | 'now' | 'omit';

function toTimespec(t: TimeSpec): { tv_sec: bigint; tv_nsec: bigint } {
  if (t === 'now') return { tv_sec: 0n, tv_nsec: BigInt(UTIME_NOW) };
  if (t === 'omit') return { tv_sec: 0n, tv_nsec: BigInt(UTIME_OMIT) };
  let sec = t / 1_000_000_000n;
  let nsec = t % 1_000_000_000n;
  if (nsec < 0n) { sec -= 1n; nsec += 1_000_000_000n; }
  return { tv_sec: sec, tv_nsec: nsec };
}

export function lgetxattr(path: string, name: string): Buffer {
  // Size, then fetch; retry if the value grew in between (ERANGE), as getfattr does.
  for (;;) {
    const size = check(c.lgetxattr(path, name, null, 0), 'getxattr', path);
    const buf = Buffer.alloc(size);
    if (size === 0) return buf;
    const n = Number(c.lgetxattr(path, name, buf, size));
    if (n >= 0) return buf.subarray(0, n);
    const errno = koffi.errno();
    if (errno !== 34 /* ERANGE */) throw new FsError(errno, 'getxattr', path);
  }
}

export function fgetxattr(fd: number, name: string): Buffer {
  const size = check(c.fgetxattr(fd, name, null, 0), 'fgetxattr');
  const buf = Buffer.alloc(size);
  const n = check(c.fgetxattr(fd, name, buf, size), 'fgetxattr');
  return buf.subarray(0, n);
}

/** The value's size only (getxattr with size 0), for callers probing the length. */
export function lgetxattrSize(path: string, name: string): number {
  return check(c.lgetxattr(path, name, null, 0), 'getxattr', path);
}

export function lsetxattr(path: string, name: string, value: Uint8Array, flags = 0): void {
  check(c.lsetxattr(path, name, value, value.length, flags), 'setxattr', path);
}

export function llistxattr(path: string): string[] {
  for (;;) {
    const size = check(c.llistxattr(path, null, 0), 'listxattr', path);
    if (size === 0) return [];
    const buf = Buffer.alloc(size);
    const n = Number(c.llistxattr(path, buf, size));
    if (n >= 0) return buf.subarray(0, n).toString('utf8').split('\0').filter((s) => s.length > 0);
    const errno = koffi.errno();
    if (errno !== 34 /* ERANGE */) throw new FsError(errno, 'listxattr', path);
  }
}

export function lremovexattr(path: string, name: string): void {
  check(c.lremovexattr(path, name), 'removexattr', path);
}

export function mknod(path: string, mode: number, rdev: number | bigint = 0): void {
  check(c.mknod(path, mode, BigInt(rdev)), 'mknod', path);
}

/** utimensat(2) without following a final symlink, with nanosecond times and UTIME_NOW/OMIT. */
export function lutimens(path: string, atime: TimeSpec, mtime: TimeSpec): void {
  check(c.utimensat(AT_FDCWD, path, [toTimespec(atime), toTimespec(mtime)], AT_SYMLINK_NOFOLLOW), 'utimensat', path);
}

export function renameat2(oldPath: string, newPath: string, flags: number): void {
  check(c.renameat2(AT_FDCWD, oldPath, AT_FDCWD, newPath, flags), 'renameat2', oldPath);
}

export function fallocate(fd: number, mode: number, offset: number | bigint, len: number | bigint): void {
  check(c.fallocate(fd, mode, BigInt(offset), BigInt(len)), 'fallocate');
}

export function umount2(target: string, flags = 0): void {
  check(c.umount2(target, flags), 'umount2', target);
}

export function mount(source: string, target: string, fstype: string, flags: number, data: string): void {
  check(c.mount(source, target, fstype, flags, data), 'mount', target);
}

export const SeekWhence = { SET: 0, CUR: 1, END: 2, DATA: 3, HOLE: 4 } as const;

/** lseek(2), for SEEK_DATA/SEEK_HOLE, which Node cannot ask for. */
export function lseek(fd: number, offset: number, whence: number): number {
  return check(c.lseek(fd, offset, whence), 'lseek');
}

/** copy_file_range(2) at explicit offsets (the fds' own positions are not touched). */
export function copyFileRange(fdIn: number, offIn: number, fdOut: number, offOut: number, len: number): number {
  return check(c.copyFileRange(fdIn, [offIn], fdOut, [offOut], len, 0), 'copy_file_range');
}

export function syncfs(fd: number): void {
  check(c.syncfs(fd), 'syncfs');
}

/**
 * Give the open file `fd` the name `newPath` (an O_TMPFILE opened without O_EXCL; open(2) documents
 * this form, which needs no CAP_DAC_READ_SEARCH). A file that was unlinked fails ENOENT, as in the kernel.
 */
export function linkFd(fd: number, newPath: string): void {
  check(c.linkat(AT_FDCWD, `/proc/self/fd/${fd}`, AT_FDCWD, newPath, AT_SYMLINK_FOLLOW), 'linkat', newPath);
}

/** MAX_HANDLE_SZ: the largest f_handle any filesystem encodes. */
const MAX_HANDLE_SZ = 128;

/** An exportfs file handle: the filesystem's fid type and its opaque bytes (struct file_handle). */
export interface FileHandle {
  type: number;
  fid: Buffer;
}

/** name_to_handle_at(2) without following a final symlink; EOPNOTSUPP where the filesystem has none. */
export function nameToHandle(path: string): FileHandle {
  const raw = Buffer.alloc(8 + MAX_HANDLE_SZ);
  raw.writeUInt32LE(MAX_HANDLE_SZ, 0);
  check(c.nameToHandleAt(AT_FDCWD, path, raw, [0], 0), 'name_to_handle_at', path);
  return { type: raw.readInt32LE(4), fid: Buffer.from(raw.subarray(8, 8 + raw.readUInt32LE(0))) };
}

/**
 * open_by_handle_at(2): the file `h` names on the filesystem `mountFd` is on. Needs
 * CAP_DAC_READ_SEARCH (EPERM otherwise); ESTALE when the file is gone.
 */
export function openByHandle(mountFd: number, h: FileHandle, flags: number): number {
  const raw = Buffer.alloc(8 + h.fid.length);
  raw.writeUInt32LE(h.fid.length, 0);
  raw.writeInt32LE(h.type, 4);
  h.fid.copy(raw, 8);
  return check(c.openByHandleAt(mountFd, raw, flags), 'open_by_handle_at');
}

/** FS_IOC_GETFSUUID = _IOR(0x15, 0, struct fsuuid2 { u8 len; u8 uuid[16]; }). */
const FS_IOC_GETFSUUID = 0x80111500;

/**
 * The UUID of the filesystem `fd` is on (the kernel's sb->s_uuid), or 16 zero bytes where the
 * filesystem has none (ENOTTY) — the null UUID the kernel uses for it too.
 */
export function fsUuid(fd: number): Buffer {
  const arg = Buffer.alloc(17);
  if (c.ioctlPtr(fd, FS_IOC_GETFSUUID, arg) < 0) {
    const errno = koffi.errno();
    if (errno === 25 /* ENOTTY */) return Buffer.alloc(16);
    throw new FsError(errno, 'FS_IOC_GETFSUUID');
  }
  const uuid = Buffer.alloc(16);
  arg.copy(uuid, 0, 1, 1 + Math.min(arg[0]!, 16));
  return uuid;
}

export interface RawDirent {
  name: string;
  ino: bigint;
  /** S_IFMT bits (d_type << 12); 0 when the filesystem does not report types. */
  type: number;
}

/**
 * All entries of a directory with d_ino and d_type ("." and ".." only with `withDots`). Node's readdir has no
 * d_ino, and a readdir whose d_ino differs from st_ino breaks find(1), du and hard-link detection.
 */
export function readdirIno(path: string, opts: { withDots?: boolean } = {}): RawDirent[] {
  const dir = c.opendir(path);
  if (dir === null) throw new FsError(koffi.errno(), 'opendir', path);
  try {
    const out: RawDirent[] = [];
    for (;;) {
      koffi.errno(0);
      const ent = c.readdir64(dir);
      if (ent === null) {
        const errno = koffi.errno();
        if (errno !== 0) throw new FsError(errno, 'readdir', path);
        return out;
      }
      const d = koffi.decode(ent, Dirent64) as { d_ino: bigint | number; d_type: number; d_name: string };
      if (!opts.withDots && (d.d_name === '.' || d.d_name === '..')) continue;
      out.push({ name: d.d_name, ino: BigInt(d.d_ino), type: d.d_type << 12 });
    }
  } finally {
    c.closedir(dir);
  }
}
