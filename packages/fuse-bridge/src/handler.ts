// The handler interface every layerfs filesystem implements and every transport serves.
//
// Transport-neutral by construction: requests are path-based (the wire transport keeps a node table
// that maps node ids to paths), each carries a RequestContext with the caller's credentials where the
// transport knows them, and a handler may answer with a plain value (no thread hop: the transport
// replies at once) or a Promise (awaited; the bridge adds no hop of its own). Errors are thrown as
// FsError (or any error with a Node `code`); errno values are positive everywhere except inside the
// transport's own reply code.
//
// Operations libfuse 2 cannot deliver (rename flags, fallocate, copy_file_range, lseek) are part of
// the interface too; the fuse-native transport simply never calls them.
import type { BackingFile, TimeSpec } from '@layerfs/backing-io';
import type { Attr, StatFs } from './attr';

/** Who is asking. Fields are undefined where the transport cannot tell (stock fuse-native tells nothing). */
export interface RequestContext {
  readonly uid?: number;
  readonly gid?: number;
  readonly pid?: number;
  /** The caller's umask, where the kernel sends it (create/mkdir/mknod on the wire transport). */
  readonly umask?: number;
}

/** A file handle as the filesystem hands it out. Non-zero, below 2^31. */
export type Fh = number & { readonly __brand: 'Fh' };

export type Reply<T> = T | Promise<T>;

export interface OpenReply {
  fh: Fh;
  /**
   * The backing file whose bytes this open reads and writes. A transport that can pass I/O through
   * the kernel registers it and holds a reference while the kernel uses it; others ignore it.
   */
  backing?: BackingFile;
  /**
   * Called by a transport that did pass this open through: from then until its release, reads and
   * writes on it go from the kernel to the backing file without reaching the handlers, so whatever
   * the filesystem derives from them (a cached size or mtime) can no longer be trusted.
   */
  passedThrough?(): void;
  /** Keep the page cache across opens (the file did not change behind the mount). */
  keepCache?: boolean;
  directIo?: boolean;
}

export interface DirEntry {
  name: string;
  /** d_ino: must equal the st_ino getattr reports for the same entry. */
  ino: bigint;
  /** The file type bits of st_mode (S_IFMT part); 0 when unknown. */
  type: number;
  /** Full attributes where cheap; a transport that needs them (READDIRPLUS) asks getattr otherwise. */
  attr?: Attr;
}

export interface SetattrTimes {
  atime: TimeSpec;
  mtime: TimeSpec;
}

export const RENAME_NOREPLACE = 1;
export const RENAME_EXCHANGE = 2;
export const RENAME_WHITEOUT = 4;

export interface FsHandlers {
  /**
   * Host directories where this filesystem's backing files live. The wire transport looks at their
   * filesystems to set the kernel's passthrough stacking depth.
   */
  readonly backingRoots?: readonly string[];
  /**
   * Nothing but this filesystem changes its backing store while mounted (overlayfs.rst: changes to
   * the layers of a mounted overlay are undefined). A transport that invalidates the kernel's caches
   * for every change it makes may then let the kernel cache names and attributes for long.
   */
  readonly exclusive?: boolean;
  /** Called once before the first request; the filesystem may refuse to start by throwing. */
  init?(): Reply<void>;
  destroy?(): Reply<void>;

  getattr(ctx: RequestContext, path: string, fh?: Fh): Reply<Attr>;
  access?(ctx: RequestContext, path: string, mask: number): Reply<void>;
  statfs(ctx: RequestContext, path: string): Reply<StatFs>;

  opendir?(ctx: RequestContext, path: string, flags: number): Reply<Fh>;
  readdir(ctx: RequestContext, path: string, fh?: Fh): Reply<DirEntry[]>;
  releasedir?(ctx: RequestContext, path: string, fh: Fh): Reply<void>;
  fsyncdir?(ctx: RequestContext, path: string, datasync: boolean, fh?: Fh): Reply<void>;

  open(ctx: RequestContext, path: string, flags: number): Reply<OpenReply>;
  create(ctx: RequestContext, path: string, mode: number, flags: number): Reply<OpenReply>;
  /** Fill `buf` (which the transport owns until the promise settles) from `position`. */
  read(ctx: RequestContext, path: string, fh: Fh, buf: Buffer, position: number): Reply<number>;
  /** Write `buf` (owned by the handler until the promise settles) at `position`. */
  write(ctx: RequestContext, path: string, fh: Fh, buf: Buffer, position: number): Reply<number>;
  flush?(ctx: RequestContext, path: string, fh: Fh): Reply<void>;
  release(ctx: RequestContext, path: string, fh: Fh): Reply<void>;
  fsync?(ctx: RequestContext, path: string, datasync: boolean, fh?: Fh): Reply<void>;

  truncate(ctx: RequestContext, path: string, size: number, fh?: Fh): Reply<void>;
  chmod(ctx: RequestContext, path: string, mode: number): Reply<void>;
  /** -1 leaves that id unchanged. */
  chown(ctx: RequestContext, path: string, uid: number, gid: number): Reply<void>;
  utimens(ctx: RequestContext, path: string, times: SetattrTimes): Reply<void>;

  readlink(ctx: RequestContext, path: string): Reply<string>;
  symlink(ctx: RequestContext, target: string, path: string): Reply<void>;
  mknod(ctx: RequestContext, path: string, mode: number, rdev: number): Reply<void>;
  mkdir(ctx: RequestContext, path: string, mode: number): Reply<void>;
  unlink(ctx: RequestContext, path: string): Reply<void>;
  rmdir(ctx: RequestContext, path: string): Reply<void>;
  /** `flags`: RENAME_NOREPLACE / RENAME_EXCHANGE / RENAME_WHITEOUT; 0 from fuse-native. */
  rename(ctx: RequestContext, from: string, to: string, flags: number): Reply<void>;
  /**
   * Give `existing` another name. `fh` is set when the file has no name (`existing` is then only
   * for messages): an O_TMPFILE being linked in, or a file unlinked while open, which must fail ENOENT.
   */
  link(ctx: RequestContext, existing: string, newPath: string, fh?: Fh): Reply<void>;

  setxattr?(ctx: RequestContext, path: string, name: string, value: Buffer, flags: number): Reply<void>;
  getxattr?(ctx: RequestContext, path: string, name: string): Reply<Buffer>;
  listxattr?(ctx: RequestContext, path: string): Reply<string[]>;
  removexattr?(ctx: RequestContext, path: string, name: string): Reply<void>;

  // Served only by transports that can deliver them (not fuse-native / libfuse 2).
  fallocate?(ctx: RequestContext, path: string, fh: Fh, mode: number, offset: number, length: number): Reply<void>;
  lseek?(ctx: RequestContext, path: string, fh: Fh, offset: number, whence: number): Reply<number>;
  /** O_TMPFILE: an open regular file without a name in directory `dir`, linkable later (`link` with its fh). */
  tmpfile?(ctx: RequestContext, dir: string, mode: number, flags: number): Reply<OpenReply>;
  copyFileRange?(ctx: RequestContext, from: { path: string; fh: Fh; offset: number },
    to: { path: string; fh: Fh; offset: number }, length: number, flags: number): Reply<number>;
}
