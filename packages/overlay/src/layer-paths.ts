// Reaching the layers' files safely. The overlay still names real entries by host path (namei's
// RealEntry.real: a layer root + the entry's path in that layer); this is the only way those paths
// reach the host kernel. Every path is resolved below its layer's root fd with openat2(RESOLVE_BENEATH
// | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS): a directory of a layer swapped for a symlink (or a
// `..` trick) behind the mount fails ELOOP/EXDEV instead of taking the daemon outside its layers, and
// a path's length on the host is its length inside the layer — never the root's plus the path's; a
// path longer than openat2 takes (PATH_MAX from the caller's cwd is longer from the layer's root) is
// reached from its parent's fd, one component at a time past the limit, as the kernel walks it.
//
// at(real) answers `/proc/self/fd/<parent fd>/<name>`: the parent resolved safely, the last component
// left to the syscall, which must not follow it (lstat, l*xattr, unlink, mkdir, rename, mknod, …).
// What follows a final symlink (open, chmod, truncate, opendir) goes through open(real), which adds
// O_NOFOLLOW. Parent fds are kept in a small LRU (a directory resolved once serves the requests that
// follow, as a dentry does), and those of a directory dropped when a rename or removal through the
// mount changes what its path names; an fd may be closed by the next at(), so an at() path must be used
// synchronously, never across an await. Paths in the work directory are the exception — its root
// fd lives as long as the mount, so workPath() names are stable across awaits. A directory moved
// behind the mount keeps its cached fd (the directory itself, wherever it went, as a kernel dentry
// would): the layers are the mount's while it is up (overlayfs.rst), and an fd never leads through
// a symlink.
import * as fs from 'node:fs';
import type { BigIntStats } from 'node:fs';
import { FsError, hostPath, syscalls } from '@layerfs/backing-io';
import type { HostPath } from '@layerfs/backing-io';

const O_PATH_DIR = syscalls.O_PATH | fs.constants.O_DIRECTORY | 0o2000000; /* O_CLOEXEC */
const SAFE = syscalls.Resolve.BENEATH | syscalls.Resolve.NO_SYMLINKS | syscalls.Resolve.NO_MAGICLINKS;
const { O_CREAT } = fs.constants;
/** Directory fds kept: the directories a burst of requests works in (a listing, a build's tree). */
/**
 * The real path of entry `name` in real directory `dir`, where `name` is one component (never "",
 * ".", ".." nor holding a "/": lookupChild refuses those). path.join would normalize what needs no
 * normalizing, and on a fresh daemon, whose code runs interpreted for thousands of requests, it
 * was a tenth of every lookup.
 */
export function joinName(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

/** The directory part of real path `real` (path.dirname's answer for the absolute, normal paths we keep). */
export function dirOfReal(real: string): string {
  const slash = real.lastIndexOf('/');
  return slash <= 0 ? '/' : real.slice(0, slash);
}

/** The last component of real path `real`. */
export function nameOfReal(real: string): string {
  return real.slice(real.lastIndexOf('/') + 1);
}

const DIR_FDS = 256;
/**
 * The longest path openat2 takes (PATH_MAX with its NUL). A path inside the mount may be that long
 * relative to the caller's cwd, and longer from its layer's root ("ld/" + 4 095 bytes, pjdfstest's
 * `*\/03.t` run in a lower directory): past it, a path is reached from its parent's fd.
 */
const MAX_REL = 4095;

/** Longer than openat2 takes, in bytes (a name's UTF-8 may be three times its length in JS). */
function tooLong(rel: string): boolean {
  return rel.length > MAX_REL || (rel.length > MAX_REL / 3 && Buffer.byteLength(rel) > MAX_REL);
}
/**
 * The open flags openat2 takes: unlike openat it refuses unknown bits (EINVAL), and the kernel's
 * FUSE open flags may carry internal ones (__FMODE_EXEC, FMODE_NONOTIFY).
 */
const OPENAT2_FLAGS =
  0o3 |
  0o100 |
  0o200 |
  0o400 |
  0o1000 |
  0o2000 |
  0o4000 |
  0o10000 |
  0o20000 |
  0o40000 |
  0o100000 |
  0o200000 |
  0o400000 |
  0o1000000 |
  0o2000000 |
  0o4000000 |
  0o10000000 |
  syscalls.O_TMPFILE;

interface Root {
  root: string;
  /** root + "/", made once: every host call tests a path against each root. */
  prefix: string;
  fd: number;
}

export class LayerPaths {
  /** Longest root first, so a root inside another (workdir/work in workdir) matches first. */
  readonly #roots: Root[];
  readonly #work: Root | undefined;
  /**
   * Parent directory real path → its O_PATH fd and when it was last used (dirGone() drops what a
   * change made untrue). A hit only stamps the entry: moving it to the end of the Map on every use
   * (a delete and a set, ~10 per copy-up) made V8 regrow the Map's table over and over.
   */
  readonly #dirs = new Map<string, { fd: number; used: number }>();
  #clock = 0;

  constructor(roots: readonly string[], workDir?: string) {
    this.#roots = [...new Set(roots)].map((root) => ({ root, prefix: `${root}/`, fd: fs.openSync(root, O_PATH_DIR) }));
    if (workDir) {
      this.#work = { root: workDir, prefix: `${workDir}/`, fd: fs.openSync(workDir, O_PATH_DIR) };
      this.#roots.push(this.#work);
    }
    this.#roots.sort((a, b) => b.root.length - a.root.length);
  }

  #rootOf(real: string): Root {
    for (const r of this.#roots) {
      if (real === r.root || real.startsWith(r.prefix)) return r;
    }
    throw new FsError('EXDEV', 'layer', real, 'not inside any layer');
  }

  /** A path for `real` whose directories were resolved below its layer root without symlinks. */
  at(real: string): HostPath {
    const { dir, name } = this.parentOf(real);
    // "/.": the root directory itself, also for calls that do not follow a final symlink (the bare
    // magic link would be that symlink). A name's bytes that are not UTF-8 make the path a Buffer.
    return hostPath(`/proc/self/fd/${dir}/${name === '' ? '.' : name}`);
  }

  /**
   * lstat(2) of `real` itself, as fs.lstatSync(at(real), { bigint: true }) answers it, but by statx on
   * the parent's fd: the /proc/self/fd path costs a procfs walk, about half of each lstat (lookups and
   * getattrs make one each).
   */
  lstat(real: string): BigIntStats {
    const { dir, name } = this.parentOf(real);
    return syscalls.lstatAt(dir, name);
  }

  /** lstat(), or undefined when nothing has that name (ENOENT). */
  lstatIfAny(real: string): BigIntStats | undefined {
    const { dir, name } = this.parentOf(real);
    return syscalls.lstatAtIfAny(dir, name);
  }

  /**
   * xattr `name` of `real` itself (never followed), undefined where it has none: by its name in the
   * parent's fd (getxattrat), which spares the procfs walk of at()'s path — a lookup asks one to three
   * (origin, metacopy, a directory's marks) and the kernel one before nearly every write.
   */
  getxattr(real: string, name: string): Buffer | undefined {
    const [p, at] = this.#xattrTarget(real);
    return syscalls.lgetxattrIfAny(p, name, at);
  }

  /** Where the xattr calls reach `real`: its name in the parent's fd, or a layer root by at()'s path. */
  #xattrTarget(real: string): [HostPath, syscalls.XattrAt] {
    const { dir, name } = this.parentOf(real);
    return name === '' ? [this.at(real), {}] : [name, { dir }];
  }

  // The calls that make, remove and move names: each on the name in its parent's fd, as lstat()
  // does — at()'s path would cost a procfs walk per path (two for a rename or a link).

  unlink(real: string): void {
    const { dir, name } = this.parentOf(real);
    syscalls.unlinkAt(dir, name);
  }

  rmdir(real: string): void {
    const { dir, name } = this.parentOf(real);
    syscalls.unlinkAt(dir, name, { dir: true });
  }

  mkdir(real: string, mode: number): void {
    const { dir, name } = this.parentOf(real);
    syscalls.mkdirAt(dir, name, mode);
  }

  symlink(target: string, real: string): void {
    const { dir, name } = this.parentOf(real);
    syscalls.symlinkAt(target, dir, name);
  }

  mknod(real: string, mode: number, rdev: number | bigint): void {
    const { dir, name } = this.parentOf(real);
    syscalls.mknodAt(dir, name, mode, rdev);
  }

  /** A hard link `to` of the entry `from` (never followed). */
  link(from: string, to: string): void {
    const a = this.parentOf(from);
    const b = this.parentOf(to);
    syscalls.linkAt(a.dir, a.name, b.dir, b.name);
  }

  /** renameat2(2) of `from` to `to` with `flags` (RENAME_EXCHANGE, RENAME_WHITEOUT, …). */
  rename(from: string, to: string, flags = 0): void {
    const a = this.parentOf(from);
    const b = this.parentOf(to);
    syscalls.renameAt(a.dir, a.name, b.dir, b.name, flags);
  }

  readlink(real: string): string {
    const { dir, name } = this.parentOf(real);
    return syscalls.readlinkAt(dir, name);
  }

  /** Set xattr `name` of `real` itself, as getxattr() reaches it (setxattrat). */
  setxattr(real: string, name: string, value: Uint8Array, flags = 0): void {
    const [p, at] = this.#xattrTarget(real);
    syscalls.lsetxattr(p, name, value, flags, at);
  }

  /** Remove xattr `name` of `real` itself, as getxattr() reaches it (removexattrat). */
  removexattr(real: string, name: string): void {
    const [p, at] = this.#xattrTarget(real);
    syscalls.lremovexattr(p, name, at);
  }

  /** The xattr names of `real` itself, as getxattr() reaches it. */
  listxattr(real: string): string[] {
    const [p, at] = this.#xattrTarget(real);
    return syscalls.llistxattr(p, at);
  }

  /**
   * The resolved parent fd of `real` and its last component ("" for a layer root: the root fd
   * itself), for the *at() syscalls: one call on the name where at()'s path costs a procfs walk
   * first. The fd is at()'s and lives as long: use it synchronously.
   */
  parentOf(real: string): { dir: number; name: string } {
    const r = this.#rootOf(real);
    if (real === r.root) return { dir: r.fd, name: '' };
    const slash = real.lastIndexOf('/');
    return { dir: this.#dirFd(r, real.slice(0, slash)), name: real.slice(slash + 1) };
  }

  #dirFd(r: Root, dir: string): number {
    if (dir === r.root) return r.fd;
    const hit = this.#dirs.get(dir);
    if (hit !== undefined) {
      hit.used = ++this.#clock;
      return hit.fd;
    }
    let fd: number;
    const rel = dir.slice(r.root.length + 1);
    if (!tooLong(rel)) {
      fd = syscalls.openat2(r.fd, rel, O_PATH_DIR, SAFE);
    } else {
      // Below the parent's fd, itself cached (or reached the same way): the parent is the most
      // recently used entry, so the eviction below cannot close it before it is used.
      const slash = dir.lastIndexOf('/');
      fd = syscalls.openat2(this.#dirFd(r, dir.slice(0, slash)), dir.slice(slash + 1), O_PATH_DIR, SAFE);
    }
    this.#dirs.set(dir, { fd, used: ++this.#clock });
    if (this.#dirs.size > DIR_FDS) this.#evict();
    return fd;
  }

  /**
   * Close the least recently used quarter of the cached fds: one sort per DIR_FDS / 4 misses. The
   * entries a request is using were stamped last, so they stay.
   */
  #evict(): void {
    const byUse = [...this.#dirs].sort((a, b) => a[1].used - b[1].used);
    for (const [dir, e] of byUse.slice(0, DIR_FDS / 4)) {
      this.#dirs.delete(dir);
      fs.closeSync(e.fd);
    }
  }

  /** open(2) of `real` itself, never through a symlink (the final component included): the caller owns the fd. */
  open(real: string, flags: number, mode = 0): number {
    const r = this.#rootOf(real);
    let dirFd = r.fd;
    let rel = real === r.root ? '.' : real.slice(r.root.length + 1);
    if (tooLong(rel)) {
      const slash = real.lastIndexOf('/');
      dirFd = this.#dirFd(r, real.slice(0, slash));
      rel = real.slice(slash + 1);
    }
    // A mode only with O_CREAT or O_TMPFILE (openat2 refuses one otherwise).
    const makes = (flags & O_CREAT) !== 0 || (flags & syscalls.O_TMPFILE) === syscalls.O_TMPFILE;
    return syscalls.openat2(dirFd, rel, (flags & OPENAT2_FLAGS) | fs.constants.O_NOFOLLOW | 0o2000000, SAFE, makes ? mode & 0o7777 : 0); // a create's mode may carry S_IFREG, which openat2 refuses
  }

  /** Run `fn` with an fd of `real` opened as open() does, closed after (also when `fn` throws). */
  withFd<T>(real: string, flags: number, fn: (fd: number) => T): T {
    const fd = this.open(real, flags);
    try {
      return fn(fd);
    } finally {
      syscalls.closeOrThrow(fd);
    }
  }

  /**
   * The work directory's fd, which lives as long as the mount: copy-up makes its temporary entries
   * by name in it with the *at() calls, stable across awaits, no procfs walk.
   */
  get workFd(): number {
    if (!this.#work) throw new FsError('EROFS', 'workdir', undefined, 'no work directory');
    return this.#work.fd;
  }

  /** A name in the work directory, stable across awaits (the work root's fd lives with the mount). */
  workPath(real: string): HostPath {
    if (!this.#work || !real.startsWith(this.#work.prefix) || real.indexOf('/', this.#work.root.length + 1) >= 0) {
      throw new FsError('EXDEV', 'workdir', real, 'not a name in the work directory');
    }
    return hostPath(`/proc/self/fd/${this.#work.fd}/${real.slice(this.#work.root.length + 1)}`);
  }

  /**
   * The directory at `real` was removed, renamed, replaced or swapped through the mount: the fds
   * cached for it and for every path below it may now stand for another directory (or none). Only a
   * directory's move or removal changes what a directory path names — a file's unlink or rename
   * leaves every cached fd true, so those keep the cache (a database's journal, created and deleted
   * in one directory each transaction, had cost two directory opens and closes per cycle).
   */
  dirGone(real: string): void {
    const below = real + '/';
    for (const [dir, e] of this.#dirs) {
      if (dir !== real && !dir.startsWith(below)) continue;
      this.#dirs.delete(dir);
      fs.closeSync(e.fd);
    }
  }

  close(): void {
    for (const e of this.#dirs.values()) fs.closeSync(e.fd);
    this.#dirs.clear();
    for (const r of this.#roots) fs.closeSync(r.fd);
  }
}
