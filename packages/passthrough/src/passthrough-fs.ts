// PassthroughFs: the user-visible tree is `source`, one to one. The thinnest correct client of
// backing-io: it decides which host file backs each node; the core does the I/O and the references.
//
// Identity (inode-table.ts): a node per host inode, reached by its O_PATH fd. Every host access is
// relative to a node's fd — a name is one component looked up in its parent's fd with O_NOFOLLOW —
// or goes through `/proc/self/fd/N`, which names the file the fd holds and nothing else. No full host
// path is ever built, so no rename or symlink made in the source while mounted can make the daemon
// act outside it, and a path of PATH_MAX bytes inside the mount is as good as a short one.
//
// No attribute cache: statx on a node's fd costs about a microsecond, and a cache would have to be
// told of every change made behind the mount or by a passed-through write (it never could be).
//
// Metadata syscalls are issued synchronously in the request thread (measured faster than a
// threadpool hop for µs-long calls on a local source); data I/O, fsync and statfs go asynchronous.
import * as fs from 'node:fs';
import {
  BackingFile,
  FsError,
  fdPath,
  backingFileCopyRange,
  backingFileFsync,
  backingFileFallocate,
  backingFileLseek,
  backingFileOpen,
  backingFileReadIter,
  backingFileWriteIter,
  callerOwner,
  finallyMaybe,
  nameByteLength,
  nodeIoOps,
  syscalls,
  type StatxResult,
  type TimeSpec,
} from '@layerfs/backing-io';
import {
  Attr,
  CreateReply,
  DirEntry,
  Entry,
  Fh,
  FileRange,
  HandleTable,
  NodeHandlers,
  NodeId,
  OpenReply,
  RENAME_EXCHANGE,
  RENAME_NOREPLACE,
  RENAME_WHITEOUT,
  RequestContext,
  SetattrTimes,
  StatFs,
  statFsFrom,
} from '@layerfs/fuse-bridge';
import { InodeTable, PtInode, openatWithoutWaiting } from './inode-table';

/** What an open handle stands for. */
interface OpenFile {
  readonly node: PtInode;
  readonly backing: BackingFile;
}

export interface PassthroughOptions {
  /** The directory to mirror. */
  source: string;
  /**
   * O_PATH fds the node table keeps at most (default: a third of the fd limit, at most 8192): the
   * rest of the fd limit is for open files and the kernel's backing files.
   */
  fdBudget?: number;
}

const { O_CREAT, O_EXCL, O_TRUNC, O_NOFOLLOW } = fs.constants;
const O_CLOEXEC = 0o2000000;
const O_DIRECTORY = 0o200000;

/** statx's birth time where a node is found for a file: it tells a file from a later one given its number (InodeTable.found). */
const BTIME = { btime: true } as const;

export class PassthroughFs implements NodeHandlers {
  readonly source: string;
  readonly backingRoots: readonly string[];
  readonly #nodes: InodeTable;
  readonly #files = new HandleTable<OpenFile>();

  constructor(opts: PassthroughOptions) {
    this.source = opts.source;
    this.backingRoots = [this.source];
    this.#nodes = new InodeTable(this.source, { fdBudget: opts.fdBudget ?? defaultFdBudget() });
  }

  get openFileCount(): number {
    return this.#files.size;
  }

  /** Nodes the kernel (or the fuse-native path cache) holds, and how many O_PATH fds they keep. */
  get nodeStats(): { nodes: number; fds: number } {
    return { nodes: this.#nodes.size, fds: this.#nodes.openFds };
  }

  /** `node` as a path inside the mount, by its last known name (for policies and messages; never resolved). */
  pathOf(node: NodeId): string {
    return this.#nodes.get(node).describe();
  }

  // -- nodes ----------------------------------------------------------------------------------------

  /** `name` in `parent` as the node it is now, counting one lookup. */
  #lookup(parent: PtInode, name: string): Entry {
    checkName(name);
    const st = syscalls.statxAt(this.#nodes.fd(parent), name, BTIME);
    return entryOf(this.#nodes.found(parent, name, st), st);
  }

  lookup(_ctx: RequestContext, parent: NodeId, name: string): Entry | undefined {
    const p = this.#nodes.get(parent);
    checkName(name);
    const st = syscalls.statxAtIfAny(this.#nodes.fd(p), name, BTIME);
    return st && entryOf(this.#nodes.found(p, name, st), st);
  }

  forget(node: NodeId, nlookup: number): void {
    this.#nodes.forget(node, nlookup);
  }

  #stat(n: PtInode): StatxResult {
    return this.#nodes.stat(n);
  }

  /**
   * A symlink's own name in its parent, for the calls that cannot act on an O_PATH fd of a symlink
   * (xattrs, times): checked to be the node's file still, so at worst another entry of the same
   * directory is refused, never a file elsewhere.
   */
  #symlinkAt(n: PtInode): { dir: number; name: string } {
    if (!n.parent || n.name === '') throw new FsError('ESTALE', 'symlink', n.describe());
    const dir = this.#nodes.fd(n.parent);
    const st = syscalls.statxAt(dir, n.name);
    if (st.ino !== n.ino || st.dev !== n.dev) throw new FsError('ESTALE', 'symlink', n.describe(), 'renamed behind the mount');
    return { dir, name: n.name };
  }

  // -- attributes -----------------------------------------------------------------------------------

  getattr(_ctx: RequestContext, node: NodeId, fh?: Fh): Attr {
    const open = this.#files.find(fh);
    if (open) return attrOf(syscalls.statxAt(open.backing.fd, ''));
    return attrOf(this.#stat(this.#nodes.get(node)));
  }

  access(_ctx: RequestContext, node: NodeId, mask: number): void {
    fs.accessSync(fdPath(this.#nodes.fd(this.#nodes.get(node))), mask);
  }

  statfs(_ctx: RequestContext, node: NodeId): StatFs {
    return statFsFrom(fs.statfsSync(fdPath(this.#nodes.fd(this.#nodes.get(node))), { bigint: true }));
  }

  chmod(_ctx: RequestContext, node: NodeId, mode: number): void {
    const n = this.#nodes.get(node);
    // The node's own file, through its O_PATH fd (fchmodat2 AT_EMPTY_PATH; before Linux 6.6 the
    // magic link, which reaches the same file). A symlink's mode cannot change: EOPNOTSUPP, as lchmod.
    if (n.isSymlink) throw new FsError('EOPNOTSUPP', 'chmod', n.describe());
    const fd = this.#nodes.fd(n);
    if (!syscalls.fchmodAt(fd, '', mode)) fs.chmodSync(fdPath(fd), mode);
  }

  chown(_ctx: RequestContext, node: NodeId, uid: number, gid: number): void {
    syscalls.fchownAt(this.#nodes.fd(this.#nodes.get(node)), '', uid, gid);
  }

  utimens(_ctx: RequestContext, node: NodeId, times: SetattrTimes): void {
    const n = this.#nodes.get(node);
    if (n.isSymlink) {
      const { dir, name } = this.#symlinkAt(n);
      syscalls.utimensAt(dir, name, times.atime, times.mtime);
      return;
    }
    utimensFollow(fdPath(this.#nodes.fd(n)), times.atime, times.mtime);
  }

  truncate(_ctx: RequestContext, node: NodeId, size: number, fh?: Fh): void | Promise<void> {
    const open = this.#files.find(fh);
    if (open) return withRef(open.backing, (fd) => new Promise<void>((res, rej) => fs.ftruncate(fd, size, (e) => (e ? rej(e) : res()))));
    fs.truncateSync(fdPath(this.#nodes.fd(this.#nodes.get(node))), size);
  }

  // -- directories ----------------------------------------------------------------------------------

  // No opendir/releasedir: readdir is by node and keeps no state, and without them libfuse answers
  // OPENDIR/RELEASEDIR itself, which saves two round trips into JavaScript per listing.

  readdir(_ctx: RequestContext, node: NodeId): DirEntry[] {
    return syscalls.readdirFd(this.#nodes.fd(this.#nodes.get(node)), { withDots: true });
  }

  fsyncdir(_ctx: RequestContext, node: NodeId): Promise<void> | void {
    const fd = syscalls.reopenDir(this.#nodes.fd(this.#nodes.get(node)), O_DIRECTORY | O_CLOEXEC);
    return finallyMaybe(
      () => nodeIoOps.fsync(fd),
      () => syscalls.close(fd),
    );
  }

  // -- names ----------------------------------------------------------------------------------------

  /** After `make` created `name` in `parent`: its node, handed to the caller. */
  #made(ctx: RequestContext, parent: PtInode, name: string, make: (dirFd: number) => void): Entry {
    checkName(name);
    const dir = this.#nodes.fd(parent);
    make(dir);
    const owner = callerOwner(ctx, () => this.#stat(parent).mode);
    if (owner) {
      // fchownat on the O_PATH fd of what is there now: the new entry, or (if something replaced it
      // behind the mount in between) that entry itself — never a symlink's target.
      const e = this.#lookup(parent, name);
      syscalls.fchownAt(this.#nodes.fd(this.#nodes.get(e.node)), '', owner.uid, owner.gid);
      return { ...e, attr: attrOf(this.#stat(this.#nodes.get(e.node))) };
    }
    return this.#lookup(parent, name);
  }

  mkdir(ctx: RequestContext, parent: NodeId, name: string, mode: number): Entry {
    return this.#made(ctx, this.#nodes.get(parent), name, (dir) => syscalls.mkdirAt(dir, name, mode));
  }

  mknod(ctx: RequestContext, parent: NodeId, name: string, mode: number, rdev: number): Entry {
    return this.#made(ctx, this.#nodes.get(parent), name, (dir) => syscalls.mknodAt(dir, name, mode, rdev));
  }

  symlink(ctx: RequestContext, parent: NodeId, name: string, target: string): Entry {
    return this.#made(ctx, this.#nodes.get(parent), name, (dir) => syscalls.symlinkAt(target, dir, name));
  }

  unlink(_ctx: RequestContext, parent: NodeId, name: string): void {
    // An open handle keeps working: its BackingFile holds the host fd, and the host keeps an
    // unlinked inode alive for as long as an fd refers to it.
    const dir = this.#nodes.fd(this.#nodes.get(parent));
    const going = this.#pinKnown(dir, name);
    syscalls.unlinkAt(dir, name);
    if (going?.last) this.#nodes.unhash(going.n);
  }

  /**
   * A file about to lose `name` may be known by that name only (its node opens its fd at first use,
   * by its last known name): give it its fd now. Its other names (a hard link) keep working, and so
   * does the kernel's node: a caller that looked the name up before it went still opens or stats the
   * node after (`open(O_CREAT)` racing an unlink, a reopen through /proc/self/fd of an O_PATH fd),
   * which answered ENOENT when the node had only the name to go by. `last`: the name is its last
   * (a directory's only one), after which its node is unhashed (InodeTable.unhash).
   */
  #pinKnown(dir: number, name: string): { n: PtInode; last: boolean } | undefined {
    let st: StatxResult;
    try {
      st = syscalls.statxAt(dir, name);
    } catch {
      return undefined; // nothing there: the operation itself says so
    }
    const n = this.#nodes.find(st);
    if (!n) return undefined;
    const isDir = (st.mode & fs.constants.S_IFMT) === fs.constants.S_IFDIR;
    const last = isDir || st.nlink <= 1;
    // A node losing its last name is reached through its own fd from then on, open files or not.
    if (n.fd < 0 && (n.openFd < 0 || last)) this.#nodes.fd(n);
    // The name going is its last, and the node's fd then holds the blocks until FORGET closes it.
    if (st.nlink === 1 && (st.mode & fs.constants.S_IFMT) === fs.constants.S_IFREG && st.blocks > 0n) n.freesAtClose = true;
    return { n, last };
  }

  rmdir(_ctx: RequestContext, parent: NodeId, name: string): void {
    const dir = this.#nodes.fd(this.#nodes.get(parent));
    const going = this.#pinKnown(dir, name);
    syscalls.unlinkAt(dir, name, { dir: true });
    if (going) this.#nodes.unhash(going.n);
  }

  rename(_ctx: RequestContext, parent: NodeId, name: string, newParent: NodeId, newName: string, flags: number): void {
    // RENAME_WHITEOUT too: the host makes the whiteout (an overlay stacked on this mount asks for it).
    if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT)) throw new FsError('EINVAL', 'rename', name);
    checkName(newName);
    const from = this.#nodes.get(parent);
    const to = this.#nodes.get(newParent);
    const fromDir = this.#nodes.fd(from);
    const toDir = this.#nodes.fd(to);
    const moving = this.#known(fromDir, name);
    const other = flags & RENAME_EXCHANGE ? this.#known(toDir, newName) : undefined;
    const replaced = flags & RENAME_EXCHANGE ? undefined : this.#pinKnown(toDir, newName);
    syscalls.renameAt(fromDir, name, toDir, newName, flags);
    // A name renamed onto itself (a hard link of the same file) replaces nothing.
    if (replaced?.last && replaced.n !== moving) this.#nodes.unhash(replaced.n);
    // The names nodes are re-opened by follow the rename.
    if (moving) this.#nodes.moved(moving, to, newName);
    if (other) this.#nodes.moved(other, from, name);
  }

  /** The node already known for `name` in directory `dir`, if any. */
  #known(dir: number, name: string): PtInode | undefined {
    try {
      return this.#nodes.find(syscalls.statxAt(dir, name));
    } catch {
      return undefined; // nothing there: the rename itself says so
    }
  }

  link(_ctx: RequestContext, node: NodeId, newParent: NodeId, newName: string): Entry {
    checkName(newName);
    const n = this.#nodes.get(node);
    const to = this.#nodes.get(newParent);
    // Through the magic link: the file the fd holds, also one without a name (an O_TMPFILE opened
    // without O_EXCL; a file unlinked while open fails ENOENT, as in the kernel). No CAP_DAC_READ_SEARCH needed.
    syscalls.linkAt(-100 /* AT_FDCWD */, fdPath(this.#nodes.fd(n)), this.#nodes.fd(to), newName, { follow: true });
    return this.#lookup(to, newName);
  }

  readlink(_ctx: RequestContext, node: NodeId): string {
    return syscalls.readlinkAt(this.#nodes.fd(this.#nodes.get(node)), '');
  }

  // -- files ----------------------------------------------------------------------------------------

  open(ctx: RequestContext, node: NodeId, flags: number): OpenReply {
    const n = this.#nodes.get(node);
    const where = n.describe();
    const backing = backingFileOpen({
      userPath: where,
      realPath: this.source + where,
      flags,
      cred: ctx,
      createFlags: flags & O_TRUNC,
      openFile: (_p, f, m) => this.#nodes.openFile(n, f, m),
    }) as BackingFile;
    return this.#register(n, backing);
  }

  create(ctx: RequestContext, parent: NodeId, name: string, mode: number, flags: number): CreateReply {
    checkName(name);
    const p = this.#nodes.get(parent);
    const dir = this.#nodes.fd(p);
    const where = `${p.describe()}/${name}`;
    const backing = backingFileOpen({
      userPath: where,
      realPath: this.source + where,
      flags,
      cred: ctx,
      mode,
      createFlags: O_CREAT | (flags & (O_EXCL | O_TRUNC)),
      // O_NOFOLLOW: O_CREAT without O_EXCL would follow a dangling symlink put there behind the
      // mount; it would open a FIFO put there too, hence openatWithoutWaiting.
      openFile: (_p, f, m) => openatWithoutWaiting(dir, name, f | O_NOFOLLOW | O_CLOEXEC, m),
    }) as BackingFile;
    try {
      const owner = callerOwner(ctx, () => this.#stat(p).mode);
      if (owner) fs.fchownSync(backing.fd, owner.uid, owner.gid);
      const st = syscalls.statxAt(backing.fd, '', BTIME);
      const n = this.#nodes.found(p, name, st);
      return { entry: entryOf(n, st), open: this.#register(n, backing) };
    } catch (err) {
      void backing.put()?.catch(() => undefined);
      throw err;
    }
  }

  tmpfile(ctx: RequestContext, parent: NodeId, mode: number, flags: number): CreateReply {
    const p = this.#nodes.get(parent);
    const dir = this.#nodes.fd(p);
    const backing = backingFileOpen({
      userPath: `${p.describe()}/(tmpfile)`,
      realPath: `${this.source}${p.describe()}/(tmpfile)`,
      flags,
      cred: ctx,
      mode,
      openFile: (_p, f, m) => syscalls.openat(dir, '.', (f & ~O_CREAT) | syscalls.O_TMPFILE | O_CLOEXEC, m),
    }) as BackingFile;
    try {
      const owner = callerOwner(ctx, () => this.#stat(p).mode);
      if (owner) fs.fchownSync(backing.fd, owner.uid, owner.gid);
      const st = syscalls.statxAt(backing.fd, '');
      const n = this.#nodes.anonymous(p, st, syscalls.openat(-100, fdPath(backing.fd), syscalls.O_PATH | O_CLOEXEC));
      return { entry: entryOf(n, st), open: this.#register(n, backing) };
    } catch (err) {
      void backing.put()?.catch(() => undefined);
      throw err;
    }
  }

  #register(node: PtInode, backing: BackingFile): OpenReply {
    this.#nodes.opened(node, backing.fd);
    return { fh: this.#files.add({ node, backing }), backing };
  }

  read(_ctx: RequestContext, _node: NodeId, fh: Fh, buf: Buffer, position: number): number | Promise<number> {
    const { backing } = this.#files.get(fh, 'read');
    return backingFileReadIter(backing, { buf }, { pos: position, flags: backing.iocbFlags }, {});
  }

  readFd(_ctx: RequestContext, _node: NodeId, fh: Fh): number | undefined {
    const { backing } = this.#files.get(fh, 'read');
    return backing.flags & fs.constants.O_DIRECT ? undefined : backing.fd;
  }

  write(_ctx: RequestContext, _node: NodeId, fh: Fh, buf: Buffer, position: number): number | Promise<number> {
    const { backing } = this.#files.get(fh, 'write');
    return backingFileWriteIter(backing, { buf }, { pos: position, flags: backing.iocbFlags }, {});
  }

  // No flush: nothing is buffered in the daemon (every write reached the host before it was
  // answered), and without a flush handler the kernel stops sending FLUSH after the first ENOSYS,
  // which saves a round trip on every close(2).

  fsync(ctx: RequestContext, node: NodeId, datasync: boolean, fh?: Fh): Promise<void> | void {
    const open = this.#files.find(fh);
    if (!open) return this.fsyncdir(ctx, node);
    return backingFileFsync(open.backing, datasync);
  }

  release(_ctx: RequestContext, _node: NodeId, fh: Fh): Promise<void> | undefined {
    // Drops the opener's reference; in-flight I/O (if any) keeps the fd until it completes.
    const file = this.#files.remove(fh, 'release');
    this.#nodes.closed(file.node, file.backing.fd);
    return file.backing.put();
  }

  // -- ranges (wire transport only: libfuse 2 cannot deliver these) ------------------------------

  fallocate(_ctx: RequestContext, _node: NodeId, fh: Fh, mode: number, offset: number, length: number): void {
    backingFileFallocate(this.#files.get(fh, 'fallocate').backing, mode, offset, length);
  }

  lseek(_ctx: RequestContext, _node: NodeId, fh: Fh, offset: number, whence: number): number {
    return backingFileLseek(this.#files.get(fh, 'lseek').backing, offset, whence);
  }

  copyFileRange(_ctx: RequestContext, from: FileRange, to: FileRange, length: number): number {
    return backingFileCopyRange(
      this.#files.get(from.fh, 'copy_file_range').backing,
      from.offset,
      this.#files.get(to.fh, 'copy_file_range').backing,
      to.offset,
      length,
    );
  }

  // -- extended attributes --------------------------------------------------------------------------
  // Through `/proc/self/fd/N`, followed (it names the file the fd holds). A symlink's fd cannot be
  // followed to the symlink itself, so a symlink's xattrs go by its checked name (#symlinkAt).

  #xattrPath(n: PtInode): syscalls.XattrAt & { path: string } {
    // A real fd where the node has one — an open file of it (the kernel asks for security.capability
    // at a file's first write, while it is open), or a directory's readable fd (its default ACL is
    // asked at every create in it) — spares the walk through /proc.
    if (n.openFd >= 0) return { path: n.describe(), fd: n.openFd };
    if (!n.isSymlink) {
      const fd = this.#nodes.fd(n);
      return n.fdReadable ? { path: n.describe(), fd } : { path: fdPath(fd), follow: true };
    }
    const { dir, name } = this.#symlinkAt(n);
    return { path: `${fdPath(dir)}/${name}`, follow: false };
  }

  setxattr(_ctx: RequestContext, node: NodeId, name: string, value: Buffer, flags: number): void {
    const at = this.#xattrPath(this.#nodes.get(node));
    syscalls.lsetxattr(at.path, name, value, flags, at);
  }

  getxattr(_ctx: RequestContext, node: NodeId, name: string): Buffer | undefined {
    const at = this.#xattrPath(this.#nodes.get(node));
    return syscalls.lgetxattrIfAny(at.path, name, at);
  }

  listxattr(_ctx: RequestContext, node: NodeId): string[] {
    const at = this.#xattrPath(this.#nodes.get(node));
    return syscalls.llistxattr(at.path, at);
  }

  removexattr(_ctx: RequestContext, node: NodeId, name: string): void {
    const at = this.#xattrPath(this.#nodes.get(node));
    syscalls.lremovexattr(at.path, name, at);
  }

  /** Close every handle still open (after unmount the kernel sends no more releases), then the node fds. */
  async destroy(): Promise<void> {
    // The node fds close before the open files' closes are waited for: the source's filesystem may
    // be unmounted right after ours.
    const files = Promise.all(this.#files.values().map((f) => f.backing.put()?.catch(() => undefined)));
    this.#nodes.closeAll();
    await files;
  }
}

function attrOf(st: StatxResult): Attr {
  return st as unknown as Attr; // a statx answer is an Attr (st_ino unbranded, and a dev FUSE ignores)
}

function entryOf(n: PtInode, st: StatxResult): Entry {
  return { node: n.id, generation: 0, attr: attrOf(st) };
}

/** A name the kernel would never send (".", "..", one with a slash) must not walk anywhere. */
function checkName(name: string): void {
  if (name === '' || name === '.' || name === '..' || name.includes('/')) throw new FsError('EINVAL', 'lookup', name);
  if (nameByteLength(name) > 255) throw new FsError('ENAMETOOLONG', 'lookup', name);
}

/** utimensat(2) on a path whose final link is followed (a `/proc/self/fd/N`). */
function utimensFollow(path: string, atime: TimeSpec, mtime: TimeSpec): void {
  syscalls.utimensAt(-100 /* AT_FDCWD */, path, atime, mtime, { follow: true });
}

/** A third of the soft fd limit, at most 8192. */
function defaultFdBudget(): number {
  try {
    const line = fs
      .readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = Number(line?.split(/\s+/)[3]);
    if (Number.isFinite(soft) && soft > 0) return Math.min(8192, Math.floor(soft / 3));
  } catch {
    // not Linux: the default below
  }
  return 1024;
}

/** Use the file's fd under a reference of our own, so a racing release cannot close it under us. */
async function withRef<T>(file: BackingFile, fn: (fd: number) => Promise<T>): Promise<T> {
  file.get();
  try {
    return await fn(file.fd);
  } finally {
    await file.put();
  }
}
