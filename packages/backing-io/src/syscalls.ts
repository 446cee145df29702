// The syscalls Node's fs lacks, through one binding (koffi: prebuilt FFI, no compiler at install).
// Each is a µs-long metadata call on a local path, issued synchronously: an FFI call that went to the
// threadpool would lose errno (it lives in the worker thread) and cost a ~20 µs hop for a ~2 µs call.
// Data I/O comes through here only where it cannot wait for a disk: RWF_NOWAIT reads, and splices of
// ranges the page cache holds (their callers check). Every function throws FsError with a positive
// errno, but for the few hot-loop ones that return −errno.
import * as fs from 'node:fs';
import type { BigIntStats } from 'node:fs';
import koffi from './koffi-native';
import { FsError } from './errors';
import { StatxStats, makedev, statxTimeNs } from './bigint-stats';
import { cString, nameFromBytes, shownPath } from './host-names';
import { addressOf } from './buffer-address';
import type { HostPath } from './host-names';

const libc = koffi.load('libc.so.6');

/** Uint8Array's indexOf, a builtin; Buffer's is JavaScript a fresh daemon interprets for every name it scans. */
const u8IndexOf = Uint8Array.prototype.indexOf;

// Anonymous on purpose: koffi's type names are process-global, and a module loaded twice (jest loads
// modules once per test file) would collide on a named struct.
const Timespec = koffi.struct({ tv_sec: 'int64', tv_nsec: 'int64' });

// Anonymous: koffi's named types are process-wide, and a module loaded twice (jest) would clash.
const Iovec = koffi.struct({ base: 'void *', len: 'size_t' });
const Msghdr = koffi.struct({
  name: 'void *',
  namelen: 'uint32',
  iov: koffi.pointer(Iovec),
  iovlen: 'size_t',
  control: 'void *',
  controllen: 'size_t',
  flags: 'int',
});

const c = {
  lgetxattr: libc.func('intptr_t lgetxattr(const char *path, const char *name, uintptr_t value, size_t size)'),
  lsetxattr: libc.func('int lsetxattr(const char *path, const char *name, const uint8_t *value, size_t size, int flags)'),
  llistxattr: libc.func('intptr_t llistxattr(const char *path, uintptr_t list, size_t size)'),
  lremovexattr: libc.func('int lremovexattr(const char *path, const char *name)'),
  fgetxattr: libc.func('intptr_t fgetxattr(int fd, const char *name, uintptr_t value, size_t size)'),
  fsetxattr: libc.func('int fsetxattr(int fd, const char *name, const uint8_t *value, size_t size, int flags)'),
  flistxattr: libc.func('intptr_t flistxattr(int fd, uintptr_t list, size_t size)'),
  fremovexattr: libc.func('int fremovexattr(int fd, const char *name)'),
  mknod: libc.func('int mknod(const char *path, uint32_t mode, uint64_t dev)'),
  utimensat: libc.func('utimensat', 'int', ['int', 'const char *', koffi.pointer(Timespec), 'int']),
  renameat2: libc.func('int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags)'),
  fallocate: libc.func('int fallocate(int fd, int mode, int64_t offset, int64_t len)'),
  umount2: libc.func('int umount2(const char *target, int flags)'),
  mount: libc.func('int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)'),
  lseek: libc.func('int64_t lseek(int fd, int64_t offset, int whence)'),
  syncfs: libc.func('int syncfs(int fd)'),
  linkat: libc.func('int linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags)'),
  copyFileRange: libc.func(
    'int64_t copy_file_range(int fd_in, _Inout_ int64_t *off_in, int fd_out, _Inout_ int64_t *off_out, size_t len, unsigned int flags)',
  ),
  // struct file_handle is a header and a variable tail: passed as raw bytes.
  nameToHandleAt: libc.func('int name_to_handle_at(int dirfd, const char *path, _Inout_ uint8_t *handle, _Out_ int *mountId, int flags)'),
  openByHandleAt: libc.func('int open_by_handle_at(int mountFd, const uint8_t *handle, int flags)'),
  // ioctl is variadic in libc; every caller here passes a pointer.
  ioctlPtr: libc.func('int ioctl(int fd, unsigned long request, _Inout_ uint8_t *arg)'),
  read: libc.func('intptr_t read(int fd, uintptr_t buf, size_t count)'),
  write: libc.func('intptr_t write(int fd, uintptr_t buf, size_t count)'),
  poll: libc.func('poll', 'int', [
    koffi.inout(koffi.pointer(koffi.struct({ fd: 'int', events: 'short', revents: 'short' }))),
    'uint64',
    'int',
  ]),
  // The *at family: every host access of a node-based filesystem is relative to a directory fd.
  openat: libc.func('int openat(int dirfd, const char *path, int flags, uint32_t mode)'),
  statx: libc.func('int statx(int dirfd, const char *path, int flags, unsigned int mask, uintptr_t buf)'),
  mkdirat: libc.func('int mkdirat(int dirfd, const char *path, uint32_t mode)'),
  unlinkat: libc.func('int unlinkat(int dirfd, const char *path, int flags)'),
  symlinkat: libc.func('int symlinkat(const char *target, int dirfd, const char *path)'),
  mknodat: libc.func('int mknodat(int dirfd, const char *path, uint32_t mode, uint64_t dev)'),
  fchownat: libc.func('int fchownat(int dirfd, const char *path, uint32_t uid, uint32_t gid, int flags)'),
  // fchmodat2 (Linux 6.6) has no libc wrapper here; syscall(2) is variadic, and every caller passes
  // these four integer-class arguments.
  fchmodat2: libc.func('long syscall(long nr, int dirfd, const char *path, uint32_t mode, int flags)'),
  // The *xattrat calls (Linux 6.13) the same way. getxattrat and setxattrat share one shape (a
  // struct xattr_args carries the value); listxattrat and removexattrat have their own.
  xattrArgsAt: libc.func(
    'long syscall(long nr, int dirfd, const char *path, uint32_t flags, const char *name, uintptr_t args, size_t usize)',
  ),
  listxattrat: libc.func('long syscall(long nr, int dirfd, const char *path, uint32_t flags, uintptr_t list, size_t size)'),
  removexattrat: libc.func('long syscall(long nr, int dirfd, const char *path, uint32_t flags, const char *name)'),
  readlinkat: libc.func('intptr_t readlinkat(int dirfd, const char *path, _Out_ uint8_t *buf, size_t size)'),
  getxattr: libc.func('intptr_t getxattr(const char *path, const char *name, uintptr_t value, size_t size)'),
  setxattr: libc.func('int setxattr(const char *path, const char *name, const uint8_t *value, size_t size, int flags)'),
  listxattr: libc.func('intptr_t listxattr(const char *path, uintptr_t list, size_t size)'),
  removexattr: libc.func('int removexattr(const char *path, const char *name)'),
  // openat2(2) has no glibc wrapper: syscall(2) with a fixed prototype, as above (koffi's variadic
  // form parses the argument types at every call: 1.5 µs of each open).
  openat2: libc.func('long syscall(long nr, int dirfd, const char *path, uintptr_t how, size_t size)'),
  close: libc.func('int close(int fd)'),
  getdents64: libc.func('intptr_t getdents64(int fd, uintptr_t buf, size_t count)'),
  // fusermount3's _FUSE_COMMFD protocol: a socket pair, and the /dev/fuse fd back over it.
  socketpair: libc.func('int socketpair(int domain, int type, int protocol, _Out_ int *sv)'),
  recvmsg: libc.func('recvmsg', 'intptr_t', ['int', koffi.inout(koffi.pointer(Msghdr)), 'int']),
  // Every binding above and below declared with a uintptr_t takes its buffer as an address
  // (buffer-address.ts says why and when that is safe): preadv2's iovec is one.
  preadv2: libc.func('intptr_t preadv2(int fd, uintptr_t iov, int iovcnt, int64_t offset, int flags)'),
  posix_fadvise: libc.func('int posix_fadvise(int fd, int64_t offset, int64_t len, int advice)'),
  // fcntl is variadic in libc; F_GETFL/F_SETFL take an int.
  fcntl: libc.func('int fcntl(int fd, int cmd, int arg)'),
  pipe2: libc.func('int pipe2(_Out_ int *fds, int flags)'),
  flock: libc.func('int flock(int fd, int op)'),
  // off_in as a pointer (the file's offset); off_out always NULL (a pipe or a device).
  spliceFrom: libc.func('int64_t splice(int fd_in, uintptr_t off_in, int fd_out, uintptr_t off_out, size_t len, unsigned int flags)'),
  spliceOut: libc.func('int64_t splice(int fd_in, uintptr_t off_in, int fd_out, uintptr_t off_out, size_t len, unsigned int flags)'),
};

const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;
const AT_SYMLINK_FOLLOW = 0x400;

/** open(2)'s access-mode bits, which Node's constants lack. */
export const O_ACCMODE = 3;

/** open(2)'s O_TMPFILE (__O_TMPFILE | O_DIRECTORY), which Node's constants lack. */
export const O_TMPFILE = 0o20200000;

/** utimensat's special tv_nsec values. */
export const UTIME_NOW = (1 << 30) - 1;
export const UTIME_OMIT = (1 << 30) - 2;

export const XattrFlags = { CREATE: 1, REPLACE: 2 } as const;
export const RenameFlags = { NOREPLACE: 1, EXCHANGE: 2, WHITEOUT: 4 } as const;
export const FallocFlags = { KEEP_SIZE: 1, PUNCH_HOLE: 2, ZERO_RANGE: 0x10 } as const;
export const UmountFlags = { FORCE: 1, DETACH: 2 } as const;

function check(ret: number | bigint, syscall: string, path?: HostPath): number {
  const n = Number(ret);
  if (n < 0) throw new FsError(koffi.errno(), syscall, path === undefined ? undefined : shownPath(path));
  return n;
}

/** A time for utimens: nanoseconds since the epoch, or "now", or "leave as is". */
export type TimeSpec = bigint | 'now' | 'omit';

function toTimespec(t: TimeSpec): { tv_sec: bigint; tv_nsec: bigint } {
  if (t === 'now') return { tv_sec: 0n, tv_nsec: BigInt(UTIME_NOW) };
  if (t === 'omit') return { tv_sec: 0n, tv_nsec: BigInt(UTIME_OMIT) };
  let sec = t / 1_000_000_000n;
  let nsec = t % 1_000_000_000n;
  if (nsec < 0n) {
    sec -= 1n;
    nsec += 1_000_000_000n;
  }
  return { tv_sec: sec, tv_nsec: nsec };
}

/**
 * How a path-taking xattr call treats a final symlink. `follow` is for `/proc/self/fd/N` of an
 * O_PATH fd, which must be followed to reach the file the fd names (and goes no further).
 */
export interface XattrAt {
  follow?: boolean;
  /**
   * A real (not O_PATH) fd of the file: the call goes through it (the f*xattr calls), which spares
   * the walk through /proc that a `/proc/self/fd/N` path costs; `path` then only names it in errors.
   */
  fd?: number;
  /**
   * A directory fd (O_PATH will do) that `path` is one name in: the call is getxattrat, listxattrat,
   * setxattrat or removexattrat (Linux 6.13) on it, never following a final symlink unless `follow`, which spares the procfs
   * walk of a `/proc/self/fd/N/name` path (measured: 5.6 -> 3.0 µs a call); that path where the
   * kernel lacks them, or for a value bigger than the shared buffer.
   */
  dir?: number;
}

/**
 * The first try of every xattr read and list. The kernel asks for an xattr on nearly every file a
 * program walks (security.capability; podman's layer diff lists them all), and the answer is
 * mostly "none" or a few bytes: one call into this buffer instead of two (size, then value).
 * Shared: the calls are synchronous and the result is copied out before anything else runs.
 */
const xattrBuf = Buffer.alloc(4096);
const ENODATA = 61;
const ENOSYS = 38;
const ERANGE = 34;
const SYS_SETXATTRAT = 463;
const SYS_GETXATTRAT = 464;
const SYS_LISTXATTRAT = 465;
const SYS_REMOVEXATTRAT = 466;
/**
 * The struct xattr_args { u64 value; u32 size; u32 flags } of getxattrat and setxattrat, always
 * pointing at xattrBuf (a Buffer of 4 KiB lives outside V8's heap and never moves): the value is
 * read into it, or copied into it before a set.
 */
const xattrArgs = Buffer.alloc(16);
const xattrArgsView = new DataView(xattrArgs.buffer, xattrArgs.byteOffset, 16);
const xattrBufAddress = addressOf(xattrBuf);
xattrArgsView.setBigUint64(0, BigInt(xattrBufAddress), true);
const xattrArgsAddress = addressOf(xattrArgs);
/** xattrArgs set for a value of `size` bytes and `flags`: its address, for the *xattrat calls. */
function xattrArgsFor(size: number, flags: number): number {
  xattrArgsView.setUint32(8, size, true);
  xattrArgsView.setUint32(12, flags, true);
  return xattrArgsAddress;
}
/** Set at the first ENOSYS: a kernel before 6.13 (the *xattrat calls). */
let noXattrAt = false;

/** After a failed *xattrat call: its errno, an ENOSYS remembered (the procfs path from then on). */
function xattrAtErrno(): number {
  const errno = koffi.errno();
  if (errno === ENOSYS) noXattrAt = true;
  return errno;
}

const atFlags = (at: XattrAt) => (at.follow ? 0 : AT_SYMLINK_NOFOLLOW);

/** `at.dir`'s name as a path the l*xattr calls take: through procfs. */
function procPathOf(name: HostPath, at: XattrAt): HostPath {
  if (at.dir === undefined) return name;
  const dir = `/proc/self/fd/${at.dir}/`;
  return typeof name === 'string' ? dir + name : Buffer.concat([Buffer.from(dir), name]);
}

export function lgetxattr(hostPath: HostPath, xattr: string, at: XattrAt = {}): Buffer {
  const value = lgetxattrIfAny(hostPath, xattr, at);
  if (value === undefined) throw new FsError(ENODATA, 'getxattr', shownPath(hostPath));
  return value;
}

/**
 * lgetxattr, or undefined where the entry has no attribute of that name (ENODATA only), without an
 * exception: the kernel asks a FUSE daemon for security.capability before every write and for a
 * default ACL before every create, and an absent attribute is the usual answer. An FsError thrown
 * up through a request's handlers cost the daemon ~35 µs of its ~75 per GETXATTR (those functions
 * leave by throw, so V8 never optimizes them), against ~40 µs answered by value.
 */
export function lgetxattrIfAny(hostPath: HostPath, xattr: string, at: XattrAt = {}): Buffer | undefined {
  const fd = at.fd;
  const name = cString(xattr);
  if (at.dir !== undefined && !noXattrAt) {
    const r = Number(c.xattrArgsAt(SYS_GETXATTRAT, at.dir, cString(hostPath), atFlags(at), name, xattrArgsFor(xattrBuf.length, 0), 16));
    if (r >= 0) return Buffer.from(xattrBuf.subarray(0, r));
    const errno = xattrAtErrno();
    if (errno === ENODATA) return undefined;
    if (errno !== ENOSYS && errno !== ERANGE) throw new FsError(errno, 'getxattr', shownPath(procPathOf(hostPath, at)));
    // on by the procfs path: no such call here, or a value bigger than the shared buffer
  }
  const path = cString(procPathOf(hostPath, at));
  const get =
    fd !== undefined
      ? (_p: HostPath, n: HostPath, addr: number, size: number) => c.fgetxattr(fd, n, addr, size)
      : at.follow
        ? c.getxattr
        : c.lgetxattr;
  // Most values fit the shared buffer: one call. A bigger one (ERANGE): size, then fetch, again if
  // the value grew in between, as getfattr does.
  const first = Number(get(path, name, xattrBufAddress, xattrBuf.length));
  if (first >= 0) return Buffer.from(xattrBuf.subarray(0, first));
  const firstErrno = koffi.errno();
  if (firstErrno === ENODATA) return undefined;
  if (firstErrno !== ERANGE) throw new FsError(firstErrno, 'getxattr', shownPath(path));
  for (;;) {
    const size = check(get(path, name, 0, 0), 'getxattr', path);
    const buf = Buffer.alloc(size);
    if (size === 0) return buf;
    const n = Number(get(path, name, addressOf(buf), size));
    if (n >= 0) return buf.subarray(0, n);
    const errno = koffi.errno();
    if (errno === ENODATA) return undefined; // removed in between
    if (errno !== ERANGE) throw new FsError(errno, 'getxattr', shownPath(path));
  }
}

export function fgetxattr(fd: number, xattr: string): Buffer {
  const name = cString(xattr);
  const size = check(c.fgetxattr(fd, name, 0, 0), 'fgetxattr');
  const buf = Buffer.alloc(size);
  const n = check(c.fgetxattr(fd, name, addressOf(buf), size), 'fgetxattr');
  return buf.subarray(0, n);
}

/** The value's size only (getxattr with size 0), for callers probing the length. */
export function lgetxattrSize(path: HostPath, name: string): number {
  return check(c.lgetxattr(cString(path), cString(name), 0, 0), 'getxattr', path);
}

export function lsetxattr(path: HostPath, xattr: string, value: Uint8Array, flags = 0, at: XattrAt = {}): void {
  const name = cString(xattr);
  if (at.dir !== undefined && !noXattrAt && value.length <= xattrBuf.length) {
    xattrBuf.set(value);
    const r = Number(c.xattrArgsAt(SYS_SETXATTRAT, at.dir, cString(path), atFlags(at), name, xattrArgsFor(value.length, flags), 16));
    if (r >= 0) return;
    const errno = xattrAtErrno();
    if (errno !== ENOSYS) throw new FsError(errno, 'setxattr', shownPath(procPathOf(path, at)));
  }
  const r =
    at.fd !== undefined
      ? c.fsetxattr(at.fd, name, value, value.length, flags)
      : (at.follow ? c.setxattr : c.lsetxattr)(cString(procPathOf(path, at)), name, value, value.length, flags);
  check(r, 'setxattr', path);
}

export function llistxattr(hostPath: HostPath, at: XattrAt = {}): string[] {
  const fd = at.fd;
  if (at.dir !== undefined && !noXattrAt) {
    const r = Number(c.listxattrat(SYS_LISTXATTRAT, at.dir, cString(hostPath), atFlags(at), xattrBufAddress, xattrBuf.length));
    if (r >= 0) return splitNames(xattrBuf.subarray(0, r));
    const errno = xattrAtErrno();
    if (errno !== ENOSYS && errno !== ERANGE) throw new FsError(errno, 'listxattr', shownPath(procPathOf(hostPath, at)));
  }
  const path = cString(procPathOf(hostPath, at));
  const list =
    fd !== undefined ? (_p: HostPath, addr: number, size: number) => c.flistxattr(fd, addr, size) : at.follow ? c.listxattr : c.llistxattr;
  const first = Number(list(path, xattrBufAddress, xattrBuf.length));
  if (first >= 0) return splitNames(xattrBuf.subarray(0, first));
  const firstErrno = koffi.errno();
  if (firstErrno !== ERANGE) throw new FsError(firstErrno, 'listxattr', shownPath(path));
  for (;;) {
    const size = check(list(path, 0, 0), 'listxattr', path);
    if (size === 0) return [];
    const buf = Buffer.alloc(size);
    const n = Number(list(path, addressOf(buf), size));
    if (n >= 0) return splitNames(buf.subarray(0, n));
    const errno = koffi.errno();
    if (errno !== ERANGE) throw new FsError(errno, 'listxattr', shownPath(path));
  }
}

function splitNames(list: Buffer): string[] {
  const names: string[] = [];
  for (let start = 0; start < list.length;) {
    let end = u8IndexOf.call(list, 0, start);
    if (end < 0) end = list.length;
    if (end > start) names.push(nameFromBytes(list, start, end));
    start = end + 1;
  }
  return names;
}

export function lremovexattr(path: HostPath, xattr: string, at: XattrAt = {}): void {
  const name = cString(xattr);
  if (at.dir !== undefined && !noXattrAt) {
    const r = Number(c.removexattrat(SYS_REMOVEXATTRAT, at.dir, cString(path), atFlags(at), name));
    if (r >= 0) return;
    const errno = xattrAtErrno();
    if (errno !== ENOSYS) throw new FsError(errno, 'removexattr', shownPath(procPathOf(path, at)));
  }
  check(
    at.fd !== undefined ? c.fremovexattr(at.fd, name) : (at.follow ? c.removexattr : c.lremovexattr)(cString(procPathOf(path, at)), name),
    'removexattr',
    path,
  );
}

export function mknod(path: HostPath, mode: number, rdev: number | bigint = 0): void {
  check(c.mknod(cString(path), mode, BigInt(rdev)), 'mknod', path);
}

/** utimensat(2) without following a final symlink, with nanosecond times and UTIME_NOW/OMIT. */
export function lutimens(path: HostPath, atime: TimeSpec, mtime: TimeSpec): void {
  check(c.utimensat(AT_FDCWD, cString(path), [toTimespec(atime), toTimespec(mtime)], AT_SYMLINK_NOFOLLOW), 'utimensat', path);
}

export function renameat2(oldPath: HostPath, newPath: HostPath, flags: number): void {
  check(c.renameat2(AT_FDCWD, cString(oldPath), AT_FDCWD, cString(newPath), flags), 'renameat2', oldPath);
}

/** renameat2(2) between two directory fds: a name in each, never followed. */
export function renameAt(oldDir: number, oldName: string, newDir: number, newName: string, flags = 0): void {
  check(c.renameat2(oldDir, cString(oldName), newDir, cString(newName), flags), 'renameat2', oldName);
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
export function linkFd(fd: number, newPath: HostPath): void {
  check(c.linkat(AT_FDCWD, `/proc/self/fd/${fd}`, AT_FDCWD, cString(newPath), AT_SYMLINK_FOLLOW), 'linkat', newPath);
}

/** MAX_HANDLE_SZ: the largest f_handle any filesystem encodes. */
const MAX_HANDLE_SZ = 128;

/** An exportfs file handle: the filesystem's fid type and its opaque bytes (struct file_handle). */
export interface FileHandle {
  type: number;
  fid: Buffer;
}

/**
 * name_to_handle_at(2) without following a final symlink; EOPNOTSUPP where the filesystem has none.
 * `path` relative to the directory fd `dir` when given (a name in it: no path walk at all).
 */
export function nameToHandle(path: HostPath, dir = AT_FDCWD): FileHandle {
  const raw = Buffer.alloc(8 + MAX_HANDLE_SZ);
  raw.writeUInt32LE(MAX_HANDLE_SZ, 0);
  check(c.nameToHandleAt(dir, cString(path), raw, [0], 0), 'name_to_handle_at', path);
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

/** getdents64's buffer: a listing of ~1 000 short names per call. Shared: filled and decoded synchronously. */
const direntBuf = Buffer.alloc(64 * 1024);
const direntView = new DataView(direntBuf.buffer, direntBuf.byteOffset, direntBuf.byteLength);
const direntAddress = addressOf(direntBuf);

/**
 * All entries of a directory with d_ino and d_type ("." and ".." only with `withDots`). Node's readdir has no
 * d_ino, and a readdir whose d_ino differs from st_ino breaks find(1), du and hard-link detection.
 */
export function readdirIno(path: HostPath, opts: { withDots?: boolean } = {}): RawDirent[] {
  const fd = check(c.openat(AT_FDCWD, cString(path), O_RDONLY_DIRECTORY, 0), 'opendir', path);
  return readDirFdAndClose(fd, opts);
}

const O_RDONLY_DIRECTORY = 0o200000 /* O_DIRECTORY */ | 0o2000000; /* O_CLOEXEC */

/**
 * Every entry of the directory open as `fd`, which it closes. getdents64 itself, not readdir(3):
 * one call per buffer of entries instead of one FFI call and one struct decode per entry, and the
 * names as bytes (host-names.ts), which a decoded `char[256]` would not keep.
 */
function readDirFdAndClose(fd: number, opts: { withDots?: boolean }): RawDirent[] {
  try {
    const out: RawDirent[] = [];
    const b = direntBuf;
    for (;;) {
      const n = check(c.getdents64(fd, direntAddress, b.length), 'getdents64');
      if (n === 0) return out;
      // struct linux_dirent64: d_ino u64, d_off s64, d_reclen u16, d_type u8, d_name NUL-terminated.
      for (let off = 0; off < n;) {
        const reclen = b[off + 16]! | (b[off + 17]! << 8);
        const nameStart = off + 19;
        let nameEnd = u8IndexOf.call(b, 0, nameStart);
        if (nameEnd < 0 || nameEnd > off + reclen) nameEnd = off + reclen;
        const dots = nameEnd - nameStart <= 2 && b[nameStart] === 0x2e && (nameEnd - nameStart === 1 || b[nameStart + 1] === 0x2e);
        if (opts.withDots || !dots) {
          out.push({ name: nameFromBytes(b, nameStart, nameEnd), ino: direntView.getBigUint64(off, true), type: b[off + 18]! << 12 });
        }
        off += reclen;
      }
    }
  } finally {
    c.close(fd);
  }
}

// -- the *at family -------------------------------------------------------------------------------
// A name below is one component in the directory `dir` (an fd); "" with AT_EMPTY_PATH means the fd's
// own file. Nothing here follows a final symlink unless the name says so.

export const AtFlags = {
  EMPTY_PATH: 0x1000,
  SYMLINK_NOFOLLOW: AT_SYMLINK_NOFOLLOW,
  SYMLINK_FOLLOW: AT_SYMLINK_FOLLOW,
  REMOVEDIR: 0x200,
} as const;
/** open(2)'s O_PATH, which Node's constants lack. */
export const O_PATH = 0o10000000;

export function openat(dir: number, name: string, flags: number, mode = 0): number {
  return check(c.openat(dir, cString(name), flags, mode), 'openat', name);
}

export function close(fd: number): void {
  c.close(fd);
}

/**
 * close(2) that reports a failure, as fs.closeSync does, for the request paths: Node's closeSync
 * runs its argument checks and error wrapper in JavaScript, which a fresh daemon interprets (~2 µs
 * of every OPEN/RELEASE pair there).
 */
export function closeOrThrow(fd: number): void {
  check(c.close(fd), 'close');
}

/** What statx reports, in the units Attr uses (times in ns), plus the device the file is on. */
export interface StatxResult {
  dev: bigint;
  ino: bigint;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
  size: bigint;
  blocks: bigint;
  blksize: number;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  /**
   * Birth time, 0n where the filesystem keeps none: with (dev, ino) it tells a file from a later one
   * given the same inode number.
   */
  btimeNs: bigint;
}

/** STATX_BASIC_STATS: everything stat(2) reports. */
const STATX_BASIC_STATS = 0x7ff;
const STATX_BTIME = 0x800;
const ENOENT = 2;
const statxBuf = Buffer.alloc(256);
/**
 * Its fields are read through a DataView: Buffer's readUInt32LE/readBigUInt64LE are JavaScript
 * with argument checks, which a freshly started daemon runs interpreted for thousands of requests
 * (every lookup and getattr decodes one struct statx); DataView's accessors are builtins.
 */
const statxView = new DataView(statxBuf.buffer, statxBuf.byteOffset, statxBuf.byteLength);
const statxAddress = addressOf(statxBuf);

/**
 * statx(2) of `name` in `dir` without following a final symlink (`""`: the fd itself). One shared
 * buffer: the call and its decoding are synchronous, so nothing can interleave. `btime`: ask for the
 * birth time too (btimeNs is 0n otherwise) — only where identity is decided: on a FUSE filesystem a
 * field beyond the basic stats may cost a round trip the attribute cache would have spared.
 */
export function statxAt(dir: number, name: string, opts: { btime?: boolean } = {}): StatxResult {
  const st = statxAtIfAny(dir, name, opts);
  if (st === undefined) throw new FsError(ENOENT, 'statx', name);
  return st;
}

/** statxAt, or undefined where nothing has that name (ENOENT only: a lookup's usual "not there", no exception made). */
export function statxAtIfAny(dir: number, name: string, opts: { btime?: boolean } = {}): StatxResult | undefined {
  if (statxInto(dir, name, opts.btime ? STATX_BASIC_STATS | STATX_BTIME : STATX_BASIC_STATS) < 0) {
    const errno = koffi.errno();
    if (errno === ENOENT) return undefined;
    throw new FsError(errno, 'statx', name);
  }
  const v = statxView;
  return {
    btimeNs: v.getUint32(0, true) & STATX_BTIME ? statxTimeNs(v, 80) : 0n,
    blksize: v.getUint32(4, true),
    nlink: v.getUint32(16, true),
    uid: v.getUint32(20, true),
    gid: v.getUint32(24, true),
    mode: v.getUint16(28, true),
    ino: v.getBigUint64(32, true),
    size: v.getBigUint64(40, true),
    blocks: v.getBigUint64(48, true),
    atimeNs: statxTimeNs(v, 64),
    ctimeNs: statxTimeNs(v, 96),
    mtimeNs: statxTimeNs(v, 112),
    rdev: Number(makedev(v.getUint32(128, true), v.getUint32(132, true))),
    dev: makedev(v.getUint32(136, true), v.getUint32(140, true)),
  };
}

/**
 * lstat(2) of `name` in `dir` (`""`: the fd itself), answered as fs.lstatSync(path, { bigint: true })
 * answers, without a path through /proc/self/fd (bigint-stats.ts). Throws FsError (code ENOENT, …).
 */
export function lstatAt(dir: number, name: string): BigIntStats {
  const st = lstatAtIfAny(dir, name);
  if (st === undefined) throw new FsError(ENOENT, 'lstat', name);
  return st;
}

/** lstatAt, or undefined where nothing has that name (as Node's `throwIfNoEntry: false`: ENOENT only). */
export function lstatAtIfAny(dir: number, name: string): BigIntStats | undefined {
  if (statxInto(dir, name, STATX_BASIC_STATS | STATX_BTIME) < 0) {
    const errno = koffi.errno();
    if (errno === ENOENT) return undefined;
    throw new FsError(errno, 'lstat', name);
  }
  return new StatxStats(statxView);
}

/** statx(2) of `name` in `dir` into statxBuf, a final symlink not followed (`""`: the fd itself); the raw result. */
function statxInto(dir: number, name: string, mask: number): number {
  const flags = AT_SYMLINK_NOFOLLOW | (name === '' ? AtFlags.EMPTY_PATH : 0);
  return Number(c.statx(dir, cString(name), flags, mask, statxAddress));
}

export function mkdirAt(dir: number, name: string, mode: number): void {
  check(c.mkdirat(dir, cString(name), mode), 'mkdirat', name);
}

export function unlinkAt(dir: number, name: string, opts: { dir?: boolean } = {}): void {
  check(c.unlinkat(dir, cString(name), opts.dir ? AtFlags.REMOVEDIR : 0), opts.dir ? 'rmdir' : 'unlink', name);
}

export function symlinkAt(target: string, dir: number, name: string): void {
  check(c.symlinkat(cString(target), dir, cString(name)), 'symlinkat', name);
}

export function mknodAt(dir: number, name: string, mode: number, rdev: number | bigint = 0): void {
  check(c.mknodat(dir, cString(name), mode, BigInt(rdev)), 'mknodat', name);
}

/** fchmodat2's number: the same on every architecture (the syscall table was unified before 6.6). */
const SYS_FCHMODAT2 = 452;
/** Set once the kernel answers ENOSYS (before Linux 6.6): never asked again. */
let fchmodat2Missing = false;

/**
 * fchmodat2(2) with AT_SYMLINK_NOFOLLOW: the mode of `name` in `dir` itself, in one call (a final
 * symlink answers EOPNOTSUPP); `name` "" changes the fd's own file (AT_EMPTY_PATH, an O_PATH fd
 * will do). False where the kernel lacks the call: the caller then opens the entry O_PATH and
 * changes it through /proc/self/fd, two more syscalls and a procfs walk.
 */
export function fchmodAt(dir: number, name: string, mode: number): boolean {
  if (fchmodat2Missing) return false;
  const flags = AT_SYMLINK_NOFOLLOW | (name === '' ? AtFlags.EMPTY_PATH : 0);
  const ret = Number(c.fchmodat2(SYS_FCHMODAT2, dir, cString(name), mode & 0o7777, flags));
  if (ret < 0 && koffi.errno() === 38 /* ENOSYS */) {
    fchmodat2Missing = true;
    return false;
  }
  check(ret, 'fchmodat2', name);
  return true;
}

/** fchownat(2); `name` "" changes the fd's own file (AT_EMPTY_PATH, an O_PATH fd will do). -1 keeps an id. */
export function fchownAt(dir: number, name: string, uid: number, gid: number): void {
  const flags = AT_SYMLINK_NOFOLLOW | (name === '' ? AtFlags.EMPTY_PATH : 0);
  check(c.fchownat(dir, cString(name), uid >>> 0, gid >>> 0, flags), 'fchownat', name);
}

/** utimensat(2) of `name` in `dir`; a final symlink is followed only with `follow` (for `/proc/self/fd/N`). */
export function utimensAt(dir: number, name: string, atime: TimeSpec, mtime: TimeSpec, opts: { follow?: boolean } = {}): void {
  check(c.utimensat(dir, cString(name), [toTimespec(atime), toTimespec(mtime)], opts.follow ? 0 : AT_SYMLINK_NOFOLLOW), 'utimensat', name);
}

/** linkat(2) between directory fds; `follow` for `/proc/self/fd/N` sources (AT_SYMLINK_FOLLOW). */
export function linkAt(oldDir: number, oldName: string, newDir: number, newName: string, opts: { follow?: boolean } = {}): void {
  check(c.linkat(oldDir, cString(oldName), newDir, cString(newName), opts.follow ? AT_SYMLINK_FOLLOW : 0), 'linkat', newName);
}

const linkBuf = Buffer.alloc(4097);

/** readlinkat(2); `name` "" reads the symlink an O_PATH fd names. */
export function readlinkAt(dir: number, name: string): string {
  const n = check(c.readlinkat(dir, cString(name), linkBuf, linkBuf.length), 'readlinkat', name);
  return nameFromBytes(linkBuf, 0, n);
}

/** readdirIno() of the directory an fd names (O_PATH will do): read through a fresh fd of its own. */
export function readdirFd(fd: number, opts: { withDots?: boolean } = {}): RawDirent[] {
  return readDirFdAndClose(reopenDir(fd, O_RDONLY_DIRECTORY), opts);
}

const EACCES = 13;

/**
 * A new open file of the directory `fd` names (an O_PATH fd will do), opened with `flags`. openat(fd,
 * ".") is the cheap way, but walking "." needs search permission on the directory, which reading it
 * does not: a daemon without CAP_DAC_READ_SEARCH (a plain user's, or root's in a user namespace)
 * could not list a mode 0600 directory its caller may list (`ls` of it answered EACCES). Then the
 * magic link of the fd itself is opened, checked as an open of the directory (read permission).
 */
export function reopenDir(fd: number, flags: number): number {
  const n = Number(c.openat(fd, '.', flags, 0));
  if (n >= 0) return n;
  if (koffi.errno() !== EACCES) check(n, 'openat', '.');
  return check(c.openat(AT_FDCWD, `/proc/self/fd/${fd}`, flags, 0), 'open', `/proc/self/fd/${fd}`);
}

/** openat2's resolve flags (struct open_how.resolve). */
export const Resolve = { NO_XDEV: 0x01, NO_MAGICLINKS: 0x02, NO_SYMLINKS: 0x04, BENEATH: 0x08, IN_ROOT: 0x10 } as const;
const SYS_OPENAT2 = 437; // the same number on every architecture (a post-5.1 syscall)
const openHow = Buffer.alloc(24);
const openHowView = new DataView(openHow.buffer, openHow.byteOffset, 24);
const openHowAddress = addressOf(openHow);

/**
 * openat2(2): `path` (relative) resolved below `dir` under `resolve` — with BENEATH | NO_SYMLINKS
 * nothing in the path may leave `dir` or pass through a symlink (ELOOP, EXDEV), whatever changed
 * in the tree since the caller last looked.
 */
export function openat2(dir: number, path: string, flags: number, resolve: number, mode = 0): number {
  // Three u64 fields, each of a 32-bit value here: the high halves stay zero (Buffer.alloc).
  openHowView.setUint32(0, flags >>> 0, true);
  openHowView.setUint32(8, mode >>> 0, true);
  openHowView.setUint32(16, resolve >>> 0, true);
  return check(c.openat2(SYS_OPENAT2, dir, cString(path), openHowAddress, 24), 'openat2', path);
}

// -- what the wire transport needs around /dev/fuse --------------------------------------------------

/** ioctl(2) with a buffer the kernel reads and writes; its return value, or FsError. */
export function ioctl(fd: number, request: number, arg: Buffer, name: string): number {
  return check(c.ioctlPtr(fd, request, arg), name);
}

/**
 * read(2) that does not throw: the byte count, or −errno. For a hot loop whose every drain ends in
 * EAGAIN, where an exception would cost more than the read.
 */
export function readOrErrno(fd: number, buf: Uint8Array): number {
  const n = Number(c.read(fd, addressOf(buf), buf.length));
  return n >= 0 ? n : -koffi.errno();
}

/** write(2) of all of `buf` at the fd's position: the count written, or -errno. */
export function writeOrErrno(fd: number, buf: Uint8Array): number {
  const n = Number(c.write(fd, addressOf(buf), buf.length));
  return n >= 0 ? n : -koffi.errno();
}

/** poll(2) of one fd on the threadpool; `cb` runs on the main thread when it returns. */
export function pollAsync(fd: number, events: number, timeoutMs: number, cb: (err: Error | null) => void): void {
  c.poll.async({ fd, events, revents: 0 }, 1, timeoutMs, cb);
}

const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SCM_RIGHTS = 1;
const MSG_CMSG_CLOEXEC = 0x40000000;
const F_GETFL = 3;
const F_SETFL = 4;

const F_SETPIPE_SZ = 1031;
const F_GETPIPE_SZ = 1032;
const O_NONBLOCK = 0o4000;
const O_CREAT_EXCL = 0o100 /* O_CREAT */ | 0o200; /* O_EXCL */
const O_CLOEXEC = 0o2000000;
export const SPLICE_F_NONBLOCK = 0x02;

/**
 * A non-blocking pipe [read end, write end], close-on-exec, of `bytes` or as close to it as
 * /proc/sys/fs/pipe-max-size allows (1 MiB by default; above it F_SETPIPE_SZ fails EPERM); its
 * capacity in bytes (a page per slot).
 */
export function pipeOfSize(bytes: number): { fds: [number, number]; capacity: number } {
  const fds = new Int32Array(2);
  check(c.pipe2(fds, O_NONBLOCK | O_CLOEXEC), 'pipe2');
  let max = bytes;
  try {
    max = Number(fs.readFileSync('/proc/sys/fs/pipe-max-size', 'utf8')) || bytes;
  } catch {
    // no procfs: ask for what is wanted, keep what the kernel leaves
  }
  c.fcntl(fds[1]!, F_SETPIPE_SZ, Math.min(bytes, max));
  return { fds: [fds[0]!, fds[1]!], capacity: check(c.fcntl(fds[1]!, F_GETPIPE_SZ, 0), 'fcntl') };
}

/** splice(2)'s loff_t *off_in, and preadv2's one struct iovec { void *base; size_t len; }. */
const offsetBuf = Buffer.alloc(8);
const offsetView = new DataView(offsetBuf.buffer, offsetBuf.byteOffset, 8);
const offsetAddress = addressOf(offsetBuf);
const iovecBuf = Buffer.alloc(16);
const iovecView = new DataView(iovecBuf.buffer, iovecBuf.byteOffset, 16);
const iovecAddress = addressOf(iovecBuf);

/** Write a 64-bit value below 2^53 at `off` of `v`, little-endian, without a BigInt. */
function putU53(v: DataView, off: number, n: number): void {
  v.setUint32(off, n % 0x1_0000_0000, true);
  v.setUint32(off + 4, Math.floor(n / 0x1_0000_0000), true);
}

/** splice(2) from the file `fd` at `pos` into the pipe `pipeW`: the bytes moved, or −errno. */
export function spliceFromFile(fd: number, pos: number, pipeW: number, len: number, flags: number): number {
  putU53(offsetView, 0, pos);
  const n = Number(c.spliceFrom(fd, offsetAddress, pipeW, 0, len, flags));
  return n >= 0 ? n : -koffi.errno();
}

/** splice(2) from the pipe `pipeR` to `out` (a pipe or a device): the bytes moved, or −errno. */
export function spliceOut(pipeR: number, out: number, len: number, flags: number): number {
  const n = Number(c.spliceOut(pipeR, 0, out, 0, len, flags));
  return n >= 0 ? n : -koffi.errno();
}

/** socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC). */
export function socketpairUnix(): [number, number] {
  const sv = new Int32Array(2);
  check(c.socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 'socketpair');
  return [sv[0]!, sv[1]!];
}

/**
 * Receive one file descriptor passed with SCM_RIGHTS (blocking). undefined when the peer closed
 * without sending one (fusermount3 failed: it said why on its stderr).
 */
export function recvFd(sock: number): number | undefined {
  const data = Buffer.alloc(1);
  const control = Buffer.alloc(64);
  const msg = { name: null, namelen: 0, iov: [{ base: data, len: 1 }], iovlen: 1, control, controllen: control.length, flags: 0 };
  for (;;) {
    const n = Number(c.recvmsg(sock, msg, MSG_CMSG_CLOEXEC));
    if (n < 0) {
      const errno = koffi.errno();
      if (errno === 4 /* EINTR */) continue;
      throw new FsError(errno, 'recvmsg');
    }
    if (n === 0) return undefined;
    // struct cmsghdr { size_t cmsg_len; int cmsg_level; int cmsg_type; } then the fd.
    const len = Number(control.readBigUInt64LE(0));
    if (len < 20 || control.readInt32LE(8) !== SOL_SOCKET || control.readInt32LE(12) !== SCM_RIGHTS) return undefined;
    return control.readInt32LE(16);
  }
}

/** Set FD_CLOEXEC on `fd` (one a library opened without it, which children must not inherit). */
export function setCloexec(fd: number): void {
  const flags = check(c.fcntl(fd, 1 /* F_GETFD */, 0), 'fcntl');
  check(c.fcntl(fd, 2 /* F_SETFD */, flags | 1 /* FD_CLOEXEC */), 'fcntl');
}

const LOCK_EX = 2;
const LOCK_NB = 4;

/**
 * flock(LOCK_EX | LOCK_NB): true when this open file now holds the lock, false when another does.
 * The kernel drops it when the last fd of the open file closes, a killed holder included.
 */
export function tryLockExclusive(fd: number): boolean {
  if (c.flock(fd, LOCK_EX | LOCK_NB) === 0) return true;
  const errno = koffi.errno();
  if (errno === 11 /* EWOULDBLOCK */) return false;
  throw new FsError(errno, 'flock');
}

/**
 * fcntl(F_SETFL): the status flags F_SETFL may change (O_APPEND, O_NONBLOCK, O_DIRECT, O_NOATIME)
 * become those of `flags`; the access mode and creation flags in `flags` are ignored, and so is
 * O_ASYNC (set through F_SETFL it would arm SIGIO on the fd).
 */
export function setStatusFlags(fd: number, flags: number): void {
  check(c.fcntl(fd, F_SETFL, flags & ~0o20000 /* O_ASYNC */), 'fcntl');
}

/**
 * `open(flags)` made so that it cannot wait: a FIFO found by name where a file was expected (put in
 * a layer behind the mount) makes open(2) wait for a writer, holding the thread that asked. Opened
 * O_NONBLOCK, then given the caller's status flags back; closed if that fails. Not needed, and not
 * done, when the caller asked O_NONBLOCK itself or when O_CREAT|O_EXCL makes a new regular file.
 */
export function openWithoutWaiting(flags: number, open: (flags: number) => number): number {
  if (flags & O_NONBLOCK || (flags & O_CREAT_EXCL) === O_CREAT_EXCL) return open(flags);
  const fd = open(flags | O_NONBLOCK);
  try {
    setStatusFlags(fd, flags);
  } catch (err) {
    close(fd);
    throw err;
  }
  return fd;
}

/** Set O_NONBLOCK on `fd` (an fd received from another process comes blocking). */
export function setNonblocking(fd: number): void {
  const flags = check(c.fcntl(fd, F_GETFL, 0), 'fcntl');
  check(c.fcntl(fd, F_SETFL, flags | 0o4000 /* O_NONBLOCK */), 'fcntl');
}

const RWF_NOWAIT = 0x08;
const POSIX_FADV_WILLNEED = 3;
const POSIX_FADV_DONTNEED = 4;

/**
 * Start reading `len` bytes at `offset` into the page cache without waiting for them
 * (POSIX_FADV_WILLNEED): the read that follows finds them there, or in flight. Advice only: a
 * failure is ignored.
 */
export function readahead(fd: number, offset: number, len: number): void {
  c.posix_fadvise(fd, offset, len, POSIX_FADV_WILLNEED);
}

/** Drop the file's clean pages from the page cache (POSIX_FADV_DONTNEED). Advice only: a failure is ignored. */
export function fadviseDontNeed(fd: number): void {
  c.posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
}

/** Set once the host answers that RWF_NOWAIT reads are not supported: never asked again. */
let nowaitUnsupported = false;

/**
 * preadv2(RWF_NOWAIT): the bytes the page cache holds at `pos` without waiting for a disk, or
 * undefined where the read would block (EAGAIN), the filesystem cannot tell (EOPNOTSUPP), or it
 * failed — a queued read then does it again and reports the error as reads always have.
 */
export function preadNowait(fd: number, buf: Uint8Array, off: number, len: number, pos: number): number | undefined {
  if (nowaitUnsupported) return undefined;
  if (off < 0 || len < 0 || off + len > buf.length)
    throw new RangeError(`preadNowait: ${len} bytes at ${off} of a ${buf.length}-byte buffer`);
  putU53(iovecView, 0, addressOf(buf) + off);
  putU53(iovecView, 8, len);
  const n = Number(c.preadv2(fd, iovecAddress, 1, pos, RWF_NOWAIT));
  if (n >= 0) return n;
  const errno = koffi.errno();
  if (errno === 95 /* EOPNOTSUPP */ || errno === 22 /* EINVAL */ || errno === 38 /* ENOSYS */) nowaitUnsupported = true;
  return undefined;
}
