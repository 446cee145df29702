// From FUSE opcodes to the path-based handler interface. Each method decodes its arguments before
// anything else (the request buffer is reused once a handler goes asynchronous; only WRITE keeps it,
// and the session hands WRITE its own buffer), calls the filesystem, and encodes the reply. A method
// answers a Buffer, null for "no reply" (FORGET, INTERRUPT), or a Promise of either.
import { fstatSync, type BigIntStats } from 'node:fs';
import { FsError, errnoOf, thenMaybe } from '@layerfs/backing-io';
import type {
  Attr, CacheMode, DirEntry, Fh, FsHandlers, OpenReply, Reply, RequestContext,
} from '@layerfs/fuse-bridge';
import { RENAME_EXCHANGE } from '@layerfs/fuse-bridge';
import {
  FSYNC_FDATASYNC, GETATTR_FH, OPEN_KILL_SUIDGID, OUT_HEADER_SIZE, OpenOut, Opcode, SetattrValid, WRITE_KILL_SUIDGID,
} from './abi';
import {
  EntryParams, Request, attrReply, createReply, dataReply, decode, direntSize, direntplusSize, emptyReply,
  entryReply, negativeEntryReply, openReply, putDirent, putDirentplus, replyBuffer, sizeReply, statfsReply,
  u64Reply,
} from './codec';
import { modeAfterKill } from './killpriv';
import { Node, NodeTable } from './node-table';
import { PassthroughModes } from './passthrough-modes';

export type OpResult = Buffer | null | Promise<Buffer | null>;

/** `call()`, with `onError` for its failure whether it throws or rejects (thenMaybe's counterpart). */
function catchMaybe<T, U>(call: () => T | Promise<T>, onError: (err: unknown) => U): T | U | Promise<T | U> {
  let v: T | Promise<T>;
  try {
    v = call();
  } catch (err) {
    return onError(err);
  }
  return v instanceof Promise ? v.catch(onError) : v;
}

export interface OpsOptions {
  attrTimeout: number;
  entryTimeout: number;
  negativeTimeout: number;
  cache: CacheMode;
  /**
   * Let the kernel keep directory listings across opens (FOPEN_CACHE_DIR): only for a filesystem
   * that changes only through us, since the kernel drops a cached listing only when a change
   * through the mount (or a new mtime it happens to see) tells it to.
   */
  cacheDirs: boolean;
  /**
   * FUSE_DONT_MASK was granted: modes of new entries come with the caller's umask still to apply
   * (#createMode), so a directory's default ACL can decide instead, as on a local filesystem.
   */
  dontMask: boolean;
}

/** A directory the kernel opened: the listing is taken at offset 0 and served from here after. */
interface OpenDir {
  path: string;
  node: Node;
  fh?: Fh;
  entries?: DirEntry[];
}

const S_IFMT = 0o170000;
const EOPNOTSUPP = 95;
/** The SETATTR bits that change something (FH, LOCKOWNER and CTIME only qualify the request). */
const CHANGES = SetattrValid.MODE | SetattrValid.UID | SetattrValid.GID | SetattrValid.SIZE | SetattrValid.ATIME
  | SetattrValid.MTIME | SetattrValid.KILL_SUIDGID;
const O_ACCMODE = 0o3;
const O_RDONLY = 0;

export class WireOps {
  readonly #dirs = new Map<number, OpenDir>();
  #nextDir = 1;

  constructor(
    readonly fs: FsHandlers,
    readonly nodes: NodeTable,
    readonly modes: PassthroughModes,
    readonly opts: OpsOptions,
    /** Sends FUSE_NOTIFY_INVAL_INODE (attributes only) for a node, before the current reply. */
    readonly invalInode: (nodeid: number) => void,
  ) {}

  /**
   * The file behind `node` changed its attributes (link count, mode, owner, times): every other name
   * the kernel holds for it (a hard link is one kernel inode per name) must not keep serving cached
   * attributes for attr_timeout.
   */
  #changed(node: Node | undefined, self = false): void {
    if (!node || this.opts.attrTimeout === 0) return;
    for (const other of this.nodes.aliases(node)) this.invalInode(other.id);
    if (self) this.invalInode(node.id);
  }

  /**
   * Drop the set-id bits an unprivileged modification of `node` drops (HANDLE_KILLPRIV_V2 leaves
   * that to us; see killpriv.ts). A file without a name keeps its bits: nobody can exec it again.
   */
  #killSuidgid(ctx: RequestContext, node: Node, fh?: number): Reply<void> {
    if (node.detached) return;
    return thenMaybe(this.#getattr(ctx, node, fh), (attr) => {
      const mode = modeAfterKill(attr.mode, attr.gid, ctx.gid ?? 0);
      if (mode === undefined) return;
      return thenMaybe(this.fs.chmod(ctx, node.path(), mode), () => this.#changed(node, true));
    });
  }

  /** Where the kernel cannot flag it (fallocate, copy_file_range): an unprivileged caller is one without uid 0. */
  #killIfUnprivileged(ctx: RequestContext, node: Node, fh: number): Reply<void> {
    return ctx.uid === 0 || ctx.uid === undefined ? undefined : this.#killSuidgid(ctx, node, fh);
  }

  get openDirCount(): number {
    return this.#dirs.size;
  }

  // -- names and attributes -------------------------------------------------------------------------

  #entry(parent: Node, name: string, attr: Attr): EntryParams {
    const node = this.nodes.lookup(parent, name);
    this.nodes.setIno(node, attr.ino);
    return { nodeid: node.id, generation: node.generation, entryTimeout: this.opts.entryTimeout, attrTimeout: this.opts.attrTimeout, attr };
  }

  /** Attributes of a node: through one of its open handles once its name is gone (fstat after unlink). */
  #getattr(ctx: RequestContext, node: Node, fh?: number): Reply<Attr> {
    const pinned = node.superseded ? this.modes.backingOf(node.id) : undefined;
    if (pinned) {
      // The kernel reads this node's passed-through backing file (the lower file a reader opened
      // before the copy-up): fstat on that fd shows the data it reads.
      return thenMaybe(this.#getattrOfName(ctx, node, fh), (attr) => withDataOf(attr, fstatSync(pinned.fd, { bigint: true })));
    }
    return this.#getattrOfName(ctx, node, fh);
  }

  #getattrOfName(ctx: RequestContext, node: Node, fh?: number): Reply<Attr> {
    if (node.detached) {
      const open = fh ?? node.openFhs.values().next().value;
      if (open !== undefined) return this.fs.getattr(ctx, this.#ioPath(node), open as Fh);
    }
    return this.fs.getattr(ctx, node.path(), fh as Fh | undefined);
  }

  /** Reply with a new entry for `name` after a create-like operation succeeded. */
  #entryAfter(req: Request, ctx: RequestContext, parent: Node, name: string, done: Reply<void>): OpResult {
    return thenMaybe(done, () => thenMaybe(this.fs.getattr(ctx, parent.childPath(name)),
      (attr) => entryReply(req.unique, this.#entry(parent, name, attr))));
  }

  lookup(req: Request, ctx: RequestContext, parent: Node): OpResult {
    const name = decode.name(req.body);
    let attr;
    try {
      attr = this.fs.getattr(ctx, parent.childPath(name));
    } catch (err) {
      return this.#negative(req, err);
    }
    if (attr instanceof Promise) {
      return attr.then((a) => entryReply(req.unique, this.#entry(parent, name, a)), (err) => this.#negative(req, err));
    }
    return entryReply(req.unique, this.#entry(parent, name, attr));
  }

  #negative(req: Request, err: unknown): Buffer {
    if ((err as { code?: string }).code === 'ENOENT' && this.opts.negativeTimeout > 0) return negativeEntryReply(req.unique, this.opts.negativeTimeout);
    throw err;
  }

  forget(req: Request): null {
    this.nodes.forget(req.nodeid, decode.forget(req.body));
    return null;
  }

  batchForget(req: Request): null {
    for (const f of decode.batchForget(req.body)) this.nodes.forget(f.nodeid, f.nlookup);
    return null;
  }

  getattr(req: Request, ctx: RequestContext, node: Node): OpResult {
    const a = decode.getattr(req.body);
    const fh = a.flags & GETATTR_FH && node.openFhs.has(a.fh) ? a.fh : undefined;
    return thenMaybe(this.#getattr(ctx, node, fh), (attr) => attrReply(req.unique, attr, this.opts.attrTimeout));
  }

  async setattr(req: Request, ctx: RequestContext, node: Node): Promise<Buffer> {
    const s = decode.setattr(req.body);
    const fh = s.valid & SetattrValid.FH ? (s.fh as Fh) : undefined;
    // ftruncate of an unlinked file comes with its handle, and the handlers act on the handle; any
    // other change to a nameless file fails ENOENT from path().
    const p = node.detached && fh !== undefined && !(s.valid & ~(SetattrValid.SIZE | SetattrValid.FH | SetattrValid.LOCKOWNER))
      ? this.#ioPath(node) : node.path();
    // libfuse's order: mode, owner, size, times.
    if (s.valid & SetattrValid.MODE) await this.fs.chmod(ctx, p, s.mode & 0o7777);
    if (s.valid & (SetattrValid.UID | SetattrValid.GID)) {
      await this.fs.chown(ctx, p, s.valid & SetattrValid.UID ? s.uid : -1, s.valid & SetattrValid.GID ? s.gid : -1);
    }
    if (!(s.valid & CHANGES)) {
      // chown(f, -1, -1): nothing to change but the ctime, which Linux updates; the kernel sends it
      // as a SETATTR that names no attribute (FATTR_CTIME only comes with the writeback cache).
      await this.fs.chown(ctx, p, -1, -1);
    }
    if (s.valid & SetattrValid.SIZE) await this.fs.truncate(ctx, p, s.size, fh);
    if (s.valid & SetattrValid.KILL_SUIDGID) await this.#killSuidgid(ctx, node, fh);
    if (s.valid & (SetattrValid.ATIME | SetattrValid.MTIME)) {
      const time = (set: number, now: number, sec: bigint, nsec: number) => {
        if (!(s.valid & set)) return 'omit' as const;
        if (s.valid & now) return 'now' as const;
        return sec * 1_000_000_000n + BigInt(nsec);
      };
      await this.fs.utimens(ctx, p, {
        atime: time(SetattrValid.ATIME, SetattrValid.ATIME_NOW, s.atime, s.atimensec),
        mtime: time(SetattrValid.MTIME, SetattrValid.MTIME_NOW, s.mtime, s.mtimensec),
      });
    }
    this.#changed(node);
    return attrReply(req.unique, await this.#getattr(ctx, node, fh), this.opts.attrTimeout);
  }

  access(req: Request, ctx: RequestContext, node: Node): OpResult {
    if (!this.fs.access) throw new FsError('ENOSYS', 'access');
    return thenMaybe(this.fs.access(ctx, node.path(), decode.access(req.body).mask), () => emptyReply(req.unique));
  }

  statfs(req: Request, ctx: RequestContext, node: Node): OpResult {
    return thenMaybe(this.fs.statfs(ctx, node.path()), (s) => statfsReply(req.unique, s));
  }

  readlink(req: Request, ctx: RequestContext, node: Node): OpResult {
    return thenMaybe(this.fs.readlink(ctx, node.path()), (target) => dataReply(req.unique, Buffer.from(target)));
  }

  // -- creating and removing names ----------------------------------------------------------------

  symlink(req: Request, ctx: RequestContext, parent: Node): OpResult {
    const { name, target } = decode.symlink(req.body);
    return this.#entryAfter(req, ctx, parent, name, this.fs.symlink(ctx, target, parent.childPath(name)));
  }

  mknod(req: Request, ctx: RequestContext, parent: Node): OpResult {
    const a = decode.mknod(req.body);
    const c = { ...ctx, umask: a.umask };
    return thenMaybe(this.#createMode(c, parent, a.mode, a.umask), (mode) =>
      this.#entryAfter(req, c, parent, a.name, this.fs.mknod(c, parent.childPath(a.name), mode, a.rdev)));
  }

  mkdir(req: Request, ctx: RequestContext, parent: Node): OpResult {
    const a = decode.mkdir(req.body);
    const c = { ...ctx, umask: a.umask };
    return thenMaybe(this.#createMode(c, parent, a.mode, a.umask), (mode) =>
      this.#entryAfter(req, c, parent, a.name, this.fs.mkdir(c, parent.childPath(a.name), mode & 0o7777)));
  }

  /**
   * The mode a new entry in `parent` is made with. The kernel leaves the umask to us (DONT_MASK)
   * because with POSIX ACLs it must not always apply: a directory with a default ACL hands that ACL
   * down and the umask is ignored (the source filesystem applies it: our own umask is 0); without
   * one the caller's umask applies. The daemon must decide — the kernel cannot see the backing
   * directory's ACL when the request leaves.
   */
  #createMode(ctx: RequestContext, parent: Node, mode: number, umask: number): number | Promise<number> {
    if (!this.opts.dontMask) return mode;
    const masked = mode & ~umask;
    const getxattr = this.fs.getxattr?.bind(this.fs);
    if (!getxattr || masked === mode) return masked;
    // ENODATA (no default ACL) or any other failure: the umask applies.
    return catchMaybe(() => thenMaybe(getxattr(ctx, parent.path(), 'system.posix_acl_default'), () => mode), () => masked);
  }

  /**
   * O_TMPFILE: an open file without a name in `parent`, on a node of its own. The entry says nlink 1
   * (what a fresh file has); the kernel's d_tmpfile drops it to 0, and a later linkat(AT_EMPTY_PATH)
   * arrives as a LINK of this node (unless it was opened O_EXCL).
   */
  tmpfile(req: Request, ctx: RequestContext, parent: Node): OpResult {
    if (!this.fs.tmpfile) throw new FsError('ENOSYS', 'tmpfile');
    const tmpfile = this.fs.tmpfile.bind(this.fs);
    const a = decode.create(req.body);
    const c = { ...ctx, umask: a.umask };
    return thenMaybe(thenMaybe(this.#createMode(c, parent, a.mode, a.umask), (mode) => tmpfile(c, parent.path(), mode, a.flags)), (r) => thenMaybe(this.fs.getattr(c, '(tmpfile)', r.fh), (attr) => {
      const node = this.nodes.anonymous();
      this.nodes.setIno(node, attr.ino);
      const entry: EntryParams = { nodeid: node.id, generation: node.generation, entryTimeout: 0, attrTimeout: this.opts.attrTimeout, attr: { ...attr, nlink: 1 } };
      return this.#opened(c, node, r, true, (o) => createReply(req.unique, entry, o), a.flags);
    }));
  }

  link(req: Request, ctx: RequestContext, parent: Node): OpResult {
    const a = decode.link(req.body);
    const old = this.nodes.get(a.oldnodeid);
    // A file without a name (O_TMPFILE, or unlinked while open) is linked through one of its open
    // handles; the filesystem decides which of those may get a name again (the host kernel lets only
    // an O_TMPFILE opened without O_EXCL).
    const fh = old.detached ? old.openFhs.values().next().value : undefined;
    const linked = old.detached
      ? (fh === undefined ? Promise.reject(new FsError('ENOENT', 'link', old.name)) : this.fs.link(ctx, this.#ioPath(old), parent.childPath(a.name), fh as Fh))
      : this.fs.link(ctx, old.path(), parent.childPath(a.name));
    return thenMaybe(this.#entryAfter(req, ctx, parent, a.name, linked), (reply) => {
      // The old name too: after LINK the kernel bumps its nlink but keeps its cached ctime (a FUSE
      // inode without the writeback cache never updates times locally), so stat showed the old one.
      this.#changed(old, true);
      return reply;
    });
  }

  unlink(req: Request, ctx: RequestContext, parent: Node): OpResult {
    const name = decode.name(req.body);
    const gone = parent.children.get(name);
    return thenMaybe(this.fs.unlink(ctx, parent.childPath(name)), () => {
      this.#changed(gone);
      this.nodes.unlinked(parent, name);
      return emptyReply(req.unique);
    });
  }

  rmdir(req: Request, ctx: RequestContext, parent: Node): OpResult {
    const name = decode.name(req.body);
    return thenMaybe(this.fs.rmdir(ctx, parent.childPath(name)), () => {
      this.nodes.unlinked(parent, name);
      return emptyReply(req.unique);
    });
  }

  rename(req: Request, ctx: RequestContext, parent: Node): OpResult {
    const a = req.opcode === Opcode.RENAME2 ? decode.rename2(req.body) : decode.rename(req.body);
    const to = this.nodes.get(a.newdir);
    const replaced = to.children.get(a.to);
    return thenMaybe(this.fs.rename(ctx, parent.childPath(a.from), to.childPath(a.to), a.flags), () => {
      this.#changed(replaced);
      this.nodes.renamed(parent, a.from, to, a.to, (a.flags & RENAME_EXCHANGE) !== 0);
      return emptyReply(req.unique);
    });
  }

  // -- files ----------------------------------------------------------------------------------------

  open(req: Request, ctx: RequestContext, node: Node): OpResult {
    const { flags, openFlags } = decode.open(req.body);
    return thenMaybe(this.fs.open(ctx, node.path(), flags), (r) => {
      // The kill comes before the I/O-mode decision: a file that still has set-id bits is not passed through.
      const killed = openFlags & OPEN_KILL_SUIDGID ? this.#killSuidgid(ctx, node, r.fh) : undefined;
      return thenMaybe(killed, () => this.#opened(ctx, node, r, false, (o) => openReply(req.unique, o), flags));
    });
  }

  create(req: Request, ctx: RequestContext, parent: Node): OpResult {
    const a = decode.create(req.body);
    const c = { ...ctx, umask: a.umask };
    const p = parent.childPath(a.name);
    const made = () => thenMaybe(thenMaybe(this.#createMode(c, parent, a.mode, a.umask), (mode) => this.fs.create(c, p, mode, a.flags)), (r) => thenMaybe(this.fs.getattr(c, p, r.fh), (attr) => {
      const entry = this.#entry(parent, a.name, attr);
      return this.#opened(c, this.nodes.get(entry.nodeid), r, true, (o) => createReply(req.unique, entry, o), a.flags);
    }));
    if (!(a.openFlags & OPEN_KILL_SUIDGID)) return made();
    // O_TRUNC by an unprivileged caller on a name the kernel had not looked up: it may truncate an
    // existing set-id file, whose bits go first. A file this call makes keeps the mode asked for.
    return thenMaybe(this.#existingMode(c, p), (mode) => thenMaybe(mode === undefined ? undefined : this.fs.chmod(c, p, mode), made));
  }

  /** The mode an existing file at `p` has after an unprivileged modification, if that drops bits. */
  #existingMode(ctx: RequestContext, p: string): Reply<number | undefined> {
    const dropped = (attr: Attr) => modeAfterKill(attr.mode, attr.gid, ctx.gid ?? 0);
    let attr;
    try {
      attr = this.fs.getattr(ctx, p);
    } catch {
      return undefined;
    }
    return attr instanceof Promise ? attr.then(dropped, () => undefined) : dropped(attr);
  }

  /**
   * The I/O mode decision for a fresh open, then its reply; see passthrough-modes.ts. `counted`: the
   * reply carries an entry whose lookup we already counted (CREATE), to be taken back on ESTALE.
   */
  #opened(ctx: RequestContext, node: Node, r: OpenReply, counted: boolean,
    encode: (o: { fh: number; openFlags: number; backingId: number }) => Buffer, flags = 0): OpResult {
    // A writer of a file the kernel knows by other names too is served by the daemon: a passed-through
    // write would leave those names' cached size and mtime stale, and we would never know.
    const shared = (flags & O_ACCMODE) !== O_RDONLY && this.nodes.aliases(node).length > 0;
    const d = this.modes.open(node.id, shared ? undefined : r.backing);
    if ('stale' in d) {
      this.nodes.supersede(node);
      if (counted) this.nodes.forget(node.id, 1);
      return thenMaybe(this.fs.release(ctx, node.path(), r.fh), () => {
        throw new FsError('ESTALE', 'open', node.name, 'the name now refers to another file; the kernel retries the open');
      });
    }
    node.openFhs.add(r.fh);
    if (d.passthrough) {
      r.passedThrough?.();
      return encode({ fh: r.fh, openFlags: OpenOut.PASSTHROUGH, backingId: d.backingId });
    }
    // Served by the daemon. cache=auto keeps the page cache across opens too: INIT negotiated
    // AUTO_INVAL_DATA, so the kernel drops it when it sees the file's mtime or size change.
    let openFlags = 0;
    if (r.directIo || this.opts.cache === 'none') openFlags |= OpenOut.DIRECT_IO;
    else openFlags |= OpenOut.KEEP_CACHE;
    return encode({ fh: r.fh, openFlags, backingId: 0 });
  }

  read(req: Request, ctx: RequestContext, node: Node): OpResult {
    const a = decode.read(req.body);
    const out = replyBuffer(req.unique, a.size);
    const data = out.subarray(OUT_HEADER_SIZE);
    return thenMaybe(this.fs.read(ctx, this.#ioPath(node), a.fh as Fh, data, a.offset), (n) => {
      out.writeUInt32LE(OUT_HEADER_SIZE + n, 0);
      return out.subarray(0, OUT_HEADER_SIZE + n);
    });
  }

  write(req: Request, ctx: RequestContext, node: Node): OpResult {
    const a = decode.write(req.body);
    const written = this.fs.write(ctx, this.#ioPath(node), a.fh as Fh, a.data, a.offset);
    return thenMaybe(written, (n) => {
      this.#changed(node); // its other hard-link names: size and mtime
      if (!(a.writeFlags & WRITE_KILL_SUIDGID)) return sizeReply(req.unique, n);
      return thenMaybe(this.#killSuidgid(ctx, node, a.fh), () => sizeReply(req.unique, n));
    });
  }

  /** Handlers use the path of an I/O on an open handle only in messages; an unlinked file has none. */
  #ioPath(node: Node): string {
    return node.detached ? `(deleted) ${node.name}` : node.path();
  }

  flush(req: Request, ctx: RequestContext, node: Node): OpResult {
    if (!this.fs.flush) throw new FsError('ENOSYS', 'flush');
    return thenMaybe(this.fs.flush(ctx, this.#ioPath(node), decode.flush(req.body).fh as Fh), () => emptyReply(req.unique));
  }

  fsync(req: Request, ctx: RequestContext, node: Node): OpResult {
    if (!this.fs.fsync) throw new FsError('ENOSYS', 'fsync');
    const a = decode.fsync(req.body);
    return thenMaybe(this.fs.fsync(ctx, this.#ioPath(node), (a.fsyncFlags & FSYNC_FDATASYNC) !== 0, a.fh as Fh), () => emptyReply(req.unique));
  }

  release(req: Request, ctx: RequestContext, node: Node): OpResult {
    const { fh } = decode.release(req.body);
    node.openFhs.delete(fh);
    return thenMaybe(this.fs.release(ctx, this.#ioPath(node), fh as Fh), () => thenMaybe(this.modes.release(node.id), () => emptyReply(req.unique)));
  }

  fallocate(req: Request, ctx: RequestContext, node: Node): OpResult {
    if (!this.fs.fallocate) throw new FsError('EOPNOTSUPP', 'fallocate');
    const a = decode.fallocate(req.body);
    return thenMaybe(this.fs.fallocate(ctx, this.#ioPath(node), a.fh as Fh, a.mode, a.offset, a.length),
      () => thenMaybe(this.#killIfUnprivileged(ctx, node, a.fh), () => emptyReply(req.unique)));
  }

  lseek(req: Request, ctx: RequestContext, node: Node): OpResult {
    if (!this.fs.lseek) throw new FsError('ENOSYS', 'lseek');
    const a = decode.lseek(req.body);
    return thenMaybe(this.fs.lseek(ctx, this.#ioPath(node), a.fh as Fh, a.offset, a.whence), (off) => u64Reply(req.unique, off));
  }

  copyFileRange(req: Request, ctx: RequestContext, node: Node): OpResult {
    if (!this.fs.copyFileRange) throw new FsError('ENOSYS', 'copy_file_range');
    const a = decode.copyFileRange(req.body);
    const out = this.nodes.get(a.nodeidOut);
    return thenMaybe(this.fs.copyFileRange(ctx,
      { path: this.#ioPath(node), fh: a.fhIn as Fh, offset: a.offIn },
      { path: this.#ioPath(out), fh: a.fhOut as Fh, offset: a.offOut }, a.len, a.flags),
      (n) => thenMaybe(this.#killIfUnprivileged(ctx, out, a.fhOut), () => sizeReply(req.unique, n)));
  }

  // -- directories ----------------------------------------------------------------------------------

  opendir(req: Request, ctx: RequestContext, node: Node): OpResult {
    const p = node.path();
    const flags = decode.open(req.body).flags;
    return thenMaybe(this.fs.opendir ? this.fs.opendir(ctx, p, flags) : undefined, (fh) => {
      const id = this.#nextDir++;
      this.#dirs.set(id, { path: p, node, fh });
      const openFlags = this.opts.cacheDirs ? OpenOut.CACHE_DIR | OpenOut.KEEP_CACHE : 0;
      return openReply(req.unique, { fh: id, openFlags, backingId: 0 });
    });
  }

  #dir(fh: number): OpenDir {
    const d = this.#dirs.get(fh);
    if (!d) throw new FsError('EBADF', 'readdir');
    return d;
  }

  #listing(ctx: RequestContext, d: OpenDir, offset: number): DirEntry[] | Promise<DirEntry[]> {
    // A listing is taken when the kernel starts at 0 (opendir, rewinddir) and served from here
    // after, so entries added or removed during a listing neither repeat nor vanish.
    if (offset === 0 || !d.entries) {
      return thenMaybe(this.fs.readdir(ctx, d.path, d.fh), (entries) => (d.entries = entries));
    }
    return d.entries;
  }

  readdir(req: Request, ctx: RequestContext): OpResult {
    const a = decode.read(req.body);
    const d = this.#dir(a.fh);
    return thenMaybe(this.#listing(ctx, d, a.offset), (entries) => {
      const out = replyBuffer(req.unique, a.size);
      let off = OUT_HEADER_SIZE;
      for (let i = a.offset; i < entries.length; i++) {
        const e = entries[i];
        const name = Buffer.from(e.name);
        if (off - OUT_HEADER_SIZE + direntSize(name.length) > a.size) break;
        off += putDirent(out, off, e.ino, i + 1, (e.type & S_IFMT) >> 12, name);
      }
      out.writeUInt32LE(off, 0);
      return out.subarray(0, off);
    });
  }

  /**
   * READDIRPLUS: each entry with full attributes (the same Attr every other reply carries; an entry
   * whose attributes cannot be had goes out as a plain name, nodeid 0). Every entry sent with a node
   * counts as a lookup, so nodes are taken only for entries that fit.
   */
  readdirplus(req: Request, ctx: RequestContext): OpResult {
    const a = decode.read(req.body);
    const d = this.#dir(a.fh);
    return thenMaybe(this.#listing(ctx, d, a.offset), (entries) => {
      const picked: { e: DirEntry; name: Buffer; i: number }[] = [];
      let size = 0;
      for (let i = a.offset; i < entries.length; i++) {
        const name = Buffer.from(entries[i].name);
        if (size + direntplusSize(name.length) > a.size) break;
        size += direntplusSize(name.length);
        picked.push({ e: entries[i], name, i });
      }
      const attrs = picked.map(({ e }) => (e.name === '.' || e.name === '..' ? null : e.attr ?? this.#childAttr(ctx, d, e.name)));
      const encode = (resolved: (Attr | null)[]) => {
        const out = replyBuffer(req.unique, size);
        let off = OUT_HEADER_SIZE;
        picked.forEach(({ e, name, i }, k) => {
          const attr = resolved[k];
          const entry = attr && !d.node.detached ? this.#entry(d.node, e.name, attr) : null;
          off += putDirentplus(out, off, entry, attr?.ino ?? e.ino, i + 1, ((attr?.mode ?? e.type) & S_IFMT) >> 12, name);
        });
        return out.subarray(0, off);
      };
      return attrs.some((x) => x instanceof Promise)
        ? Promise.all(attrs).then(encode)
        : encode(attrs as (Attr | null)[]);
    });
  }

  #childAttr(ctx: RequestContext, d: OpenDir, name: string): Attr | null | Promise<Attr | null> {
    try {
      const a = this.fs.getattr(ctx, d.node.childPath(name));
      return a instanceof Promise ? a.catch(() => null) : a;
    } catch {
      return null; // gone since the listing was taken
    }
  }

  releasedir(req: Request, ctx: RequestContext): OpResult {
    const { fh } = decode.release(req.body);
    const d = this.#dirs.get(fh);
    this.#dirs.delete(fh);
    if (!d || d.fh === undefined || !this.fs.releasedir) return emptyReply(req.unique);
    return thenMaybe(this.fs.releasedir(ctx, d.path, d.fh), () => emptyReply(req.unique));
  }

  fsyncdir(req: Request, ctx: RequestContext, node: Node): OpResult {
    if (!this.fs.fsyncdir) throw new FsError('ENOSYS', 'fsyncdir');
    const a = decode.fsync(req.body);
    const d = this.#dirs.get(a.fh);
    return thenMaybe(this.fs.fsyncdir(ctx, node.path(), (a.fsyncFlags & FSYNC_FDATASYNC) !== 0, d?.fh), () => emptyReply(req.unique));
  }

  // -- extended attributes --------------------------------------------------------------------------

  setxattr(req: Request, ctx: RequestContext, node: Node): OpResult {
    if (!this.fs.setxattr) throw new FsError('EOPNOTSUPP', 'setxattr');
    const a = decode.setxattr(req.body);
    return thenMaybe(this.fs.setxattr(ctx, node.path(), a.name, a.value, a.flags), () => {
      this.#changed(node);
      return emptyReply(req.unique);
    });
  }

  getxattr(req: Request, ctx: RequestContext, node: Node): OpResult {
    if (!this.fs.getxattr) throw new FsError('EOPNOTSUPP', 'getxattr');
    const a = decode.getxattr(req.body);
    if (a.name.startsWith('system.posix_acl_')) {
      // With POSIX_ACL the kernel asks this for its permission checks, and takes any error but
      // ENODATA as one: a source filesystem without ACLs must answer "no ACL", not EOPNOTSUPP.
      const getxattr = this.fs.getxattr.bind(this.fs);
      const noAcl = (err: unknown): never => { throw errnoOf(err) === EOPNOTSUPP ? new FsError('ENODATA', 'getxattr', a.name) : err; };
      return thenMaybe(catchMaybe(() => getxattr(ctx, node.path(), a.name), noAcl), (v) => sized(req.unique, a.size, v));
    }
    return thenMaybe(this.fs.getxattr(ctx, node.path(), a.name), (value) => sized(req.unique, a.size, value));
  }

  listxattr(req: Request, ctx: RequestContext, node: Node): OpResult {
    if (!this.fs.listxattr) throw new FsError('EOPNOTSUPP', 'listxattr');
    const a = decode.listxattr(req.body);
    return thenMaybe(this.fs.listxattr(ctx, node.path()), (names) => sized(req.unique, a.size, Buffer.from(names.map((n) => `${n}\0`).join(''))));
  }

  removexattr(req: Request, ctx: RequestContext, node: Node): OpResult {
    if (!this.fs.removexattr) throw new FsError('EOPNOTSUPP', 'removexattr');
    return thenMaybe(this.fs.removexattr(ctx, node.path(), decode.name(req.body)), () => {
      this.#changed(node);
      return emptyReply(req.unique);
    });
  }

  /** Close every directory handle still open (after unmount the kernel sends no releases). */
  closeAll(): void {
    this.#dirs.clear();
  }
}

/** getxattr/listxattr: a size query (size 0) gets the length; a short buffer ERANGE. */
function sized(unique: bigint, size: number, value: Buffer): Buffer {
  if (size === 0) return sizeReply(unique, value.length);
  if (value.length > size) throw new FsError('ERANGE', 'getxattr');
  return dataReply(unique, value);
}

/** `attr` with the size, blocks and times of the file the kernel actually reads. */
function withDataOf(attr: Attr, st: BigIntStats): Attr {
  return { ...attr, size: st.size, blocks: st.blocks, atimeNs: st.atimeNs, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs };
}
