// The handler interface every layerfs filesystem implements and every transport serves.
//
// Node-based, the shape of libfuse's lowlevel API and of the kernel's inode operations: `lookup`
// (and every operation that makes a name) answers an Entry naming a node the filesystem owns, with
// one lookup counted on it; every other request names its node (and its file handle); `forget`
// gives counts back, and at zero the filesystem may let the node go. A node is the file, never a
// path: an open handle, an open directory or a cached node keeps meaning the same file across
// renames, and nothing is ever resolved twice.
//
// Transport-neutral by construction: each request carries a RequestContext with the caller's
// credentials where the transport knows them, and a handler may answer with a plain value (no thread
// hop: the transport replies at once) or a Promise (awaited; the bridge adds no hop of its own).
// Errors are thrown as FsError (or any error with a Node `code`); errno values are positive everywhere
// except inside the transport's own reply code.
//
// Operations libfuse 2 cannot deliver (rename flags, fallocate, copy_file_range, lseek, tmpfile) are
// part of the interface too; the fuse-native transport simply never calls them.
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

/**
 * A node as the filesystem hands it out: the kernel's nodeid. Non-zero, below 2^53; ROOT_NODE is the
 * mount's root and is never forgotten. Reused only with a new generation (Entry.generation).
 */
export type NodeId = number & { readonly __brand: 'NodeId' };
export const ROOT_NODE = 1 as NodeId;

export type Reply<T> = T | Promise<T>;

/** What a lookup (or a create-like operation) found: one lookup of `node` is now counted. */
export interface Entry {
  node: NodeId;
  /** (node, generation) never repeats within a mount; 0 while ids are never reused. */
  generation: number;
  attr: Attr;
}

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
  /**
   * The open changed the node's attributes (the overlay's copy-up of a lower hard link makes it a
   * file of its own: another st_ino, nlink 1): a transport drops what the kernel caches for it.
   */
  attrChanged?: boolean;
  directIo?: boolean;
}

/** CREATE and TMPFILE: the new node and its open, in one answer (one lookup counted on the node). */
export interface CreateReply {
  entry: Entry;
  open: OpenReply;
}

export interface DirEntry {
  name: string;
  /** d_ino: must equal the st_ino getattr reports for the same entry. */
  ino: bigint;
  /** The file type bits of st_mode (S_IFMT part); 0 when unknown. */
  type: number;
  /** Full attributes where cheap; a transport that needs them (READDIRPLUS) looks the name up otherwise. */
  attr?: Attr;
}

export interface SetattrTimes {
  atime: TimeSpec;
  mtime: TimeSpec;
}

/** One end of a copy_file_range. */
export interface FileRange {
  node: NodeId;
  fh: Fh;
  offset: number;
}

export const RENAME_NOREPLACE = 1;
export const RENAME_EXCHANGE = 2;
export const RENAME_WHITEOUT = 4;

export interface NodeHandlers {
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

  /**
   * `name` in directory `parent`, counting one lookup of the answer; `undefined` (or an ENOENT
   * error) where there is none. Answering absence by value is the fast way: programs probe for
   * names that are not there all the time (a compiler's include path, a database's journal), and a
   * throw through the handlers costs more than the request.
   */
  lookup(ctx: RequestContext, parent: NodeId, name: string): Reply<Entry | undefined>;
  /** The kernel (or the fuse-native path cache) dropped `nlookup` lookups of `node`. Never fails. */
  forget(node: NodeId, nlookup: number): void;
  /**
   * The transport cannot serve opens of `node` any more (its kernel I/O mode is pinned to a file the
   * node no longer stands for): let the node's name answer a fresh node at the next lookup, while
   * this one lives on for the opens and lookups it still has. Optional: a filesystem whose node is
   * always one file never needs it.
   */
  supersede?(node: NodeId): void;

  /** `fh`, when given, is an open handle of `node` (fstat): answer for the file it has open. */
  getattr(ctx: RequestContext, node: NodeId, fh?: Fh): Reply<Attr>;
  access?(ctx: RequestContext, node: NodeId, mask: number): Reply<void>;
  statfs(ctx: RequestContext, node: NodeId): Reply<StatFs>;

  opendir?(ctx: RequestContext, node: NodeId, flags: number): Reply<Fh>;
  readdir(ctx: RequestContext, node: NodeId, fh?: Fh): Reply<DirEntry[]>;
  releasedir?(ctx: RequestContext, node: NodeId, fh: Fh): Reply<void>;
  fsyncdir?(ctx: RequestContext, node: NodeId, datasync: boolean, fh?: Fh): Reply<void>;

  open(ctx: RequestContext, node: NodeId, flags: number): Reply<OpenReply>;
  create(ctx: RequestContext, parent: NodeId, name: string, mode: number, flags: number): Reply<CreateReply>;
  /** Fill `buf` (which the transport owns until the promise settles) from `position`. */
  read(ctx: RequestContext, node: NodeId, fh: Fh, buf: Buffer, position: number): Reply<number>;
  /**
   * The host fd whose bytes read() of `fh` would return unchanged, or undefined. A transport that can
   * (the wire transport, for READs of 32 KiB and more whose bytes the host's page cache holds) then
   * splices them from that fd to the kernel without copying them through the daemon, and read() is
   * not called. Answered synchronously; the fd is used before any other request runs. A wrapper
   * that overrides read() hides it (wrapHandlers), so a policy that looks at the bytes sees them all.
   */
  readFd?(ctx: RequestContext, node: NodeId, fh: Fh): number | undefined;
  /** Write `buf` (owned by the handler until the promise settles) at `position`. */
  write(ctx: RequestContext, node: NodeId, fh: Fh, buf: Buffer, position: number): Reply<number>;
  flush?(ctx: RequestContext, node: NodeId, fh: Fh): Reply<void>;
  release(ctx: RequestContext, node: NodeId, fh: Fh): Reply<void>;
  fsync?(ctx: RequestContext, node: NodeId, datasync: boolean, fh?: Fh): Reply<void>;

  truncate(ctx: RequestContext, node: NodeId, size: number, fh?: Fh): Reply<void>;
  chmod(ctx: RequestContext, node: NodeId, mode: number): Reply<void>;
  /** -1 leaves that id unchanged. */
  chown(ctx: RequestContext, node: NodeId, uid: number, gid: number): Reply<void>;
  utimens(ctx: RequestContext, node: NodeId, times: SetattrTimes): Reply<void>;

  readlink(ctx: RequestContext, node: NodeId): Reply<string>;
  symlink(ctx: RequestContext, parent: NodeId, name: string, target: string): Reply<Entry>;
  mknod(ctx: RequestContext, parent: NodeId, name: string, mode: number, rdev: number): Reply<Entry>;
  mkdir(ctx: RequestContext, parent: NodeId, name: string, mode: number): Reply<Entry>;
  unlink(ctx: RequestContext, parent: NodeId, name: string): Reply<void>;
  rmdir(ctx: RequestContext, parent: NodeId, name: string): Reply<void>;
  /** `flags`: RENAME_NOREPLACE / RENAME_EXCHANGE / RENAME_WHITEOUT; 0 from fuse-native. */
  rename(ctx: RequestContext, parent: NodeId, name: string, newParent: NodeId, newName: string, flags: number): Reply<void>;
  /**
   * Give `node` the name `newName` in `newParent`. A node without a name (an O_TMPFILE) is linked in;
   * one that was unlinked while open fails ENOENT, as in the kernel.
   */
  link(ctx: RequestContext, node: NodeId, newParent: NodeId, newName: string): Reply<Entry>;

  setxattr?(ctx: RequestContext, node: NodeId, name: string, value: Buffer, flags: number): Reply<void>;
  /**
   * The value of xattr `name`; `undefined` (or an ENODATA error) where the node has none. Answering
   * absence by value is the fast way: the kernel asks before every write (security.capability) and
   * every create (a default ACL), and a throw through the handlers costs more than the request.
   */
  getxattr?(ctx: RequestContext, node: NodeId, name: string): Reply<Buffer | undefined>;
  listxattr?(ctx: RequestContext, node: NodeId): Reply<string[]>;
  removexattr?(ctx: RequestContext, node: NodeId, name: string): Reply<void>;

  // Served only by transports that can deliver them (not fuse-native / libfuse 2).
  fallocate?(ctx: RequestContext, node: NodeId, fh: Fh, mode: number, offset: number, length: number): Reply<void>;
  lseek?(ctx: RequestContext, node: NodeId, fh: Fh, offset: number, whence: number): Reply<number>;
  /** O_TMPFILE: an open regular file without a name in directory `parent`, linkable later by `link`. */
  tmpfile?(ctx: RequestContext, parent: NodeId, mode: number, flags: number): Reply<CreateReply>;
  copyFileRange?(ctx: RequestContext, from: FileRange, to: FileRange, length: number, flags: number): Reply<number>;
}
