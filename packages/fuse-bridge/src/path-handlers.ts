// The path-based handler interface the first layerfs filesystems were written against (libfuse's
// high-level style). Transports no longer serve it: servePathHandlers() (path-adapter.ts) turns it
// into NodeHandlers by keeping a node per name. It stays only while the overlay moves to nodes; a
// path is resolved again on every request, so it cannot give the guarantees NodeHandlers gives
// (an open file keeps its file across renames, nothing behind the mount redirects a request).
import type { Attr, StatFs } from './attr';
import type { DirEntry, Fh, OpenReply, Reply, RequestContext, SetattrTimes } from './handler';

export interface PathHandlers {
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
  copyFileRange?(
    ctx: RequestContext,
    from: { path: string; fh: Fh; offset: number },
    to: { path: string; fh: Fh; offset: number },
    length: number,
    flags: number,
  ): Reply<number>;
}
