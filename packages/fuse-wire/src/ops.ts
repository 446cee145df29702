// From FUSE opcodes to the node-based handler interface (the kernel's nodeid is the filesystem's NodeId). Each method decodes its arguments before
// anything else (the request buffer is reused once a handler goes asynchronous; only WRITE keeps it,
// and the session hands WRITE its own buffer), calls the filesystem, and encodes the reply. A method
// answers a reply (a Uint8Array), null for "no reply" (FORGET, INTERRUPT), or a Promise of either.
import { constants, fstatSync, type BigIntStats } from 'node:fs';
import { FsError, O_ACCMODE, errnoOf, isErrno, nameListBytes, nameToBytes, syscalls, thenMaybe } from '@layerfs/backing-io';
import type { Attr, CacheMode, DirEntry, Entry, Fh, NodeHandlers, NodeId, OpenReply, Reply, RequestContext } from '@layerfs/fuse-bridge';
import { FSYNC_FDATASYNC, GETATTR_FH, OPEN_KILL_SUIDGID, OUT_HEADER_SIZE, OpenOut, Opcode, SetattrValid, WRITE_KILL_SUIDGID } from './abi';
import {
  EntryParams,
  Request,
  attrReply,
  createReply,
  dataReply,
  DirentWriter,
  decode,
  direntSize,
  direntplusSize,
  emptyReply,
  entryReply,
  errorReply,
  negativeEntryReply,
  openReply,
  replyHeader,
  setReplyLength,
  sizeReply,
  statfsReply,
  u64Reply,
} from './codec';
import { modeAfterKill } from './killpriv';
import { KernelNodes } from './kernel-nodes';
import { PassthroughModes } from './passthrough-modes';
import type { BufferPool } from './buffer-pool';
import type { SpliceReads } from './splice-read';

export type OpResult = Uint8Array | null | Promise<Uint8Array | null>;

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
  /**
   * FUSE_WRITEBACK_CACHE was granted: the kernel gathers writes in its page cache, owns size and
   * mtime, and may read any page of a file open for writing (to fill a partial page), so opens go
   * to the filesystem read-write and without O_APPEND (the kernel places appends itself).
   */
  writeback: boolean;
}

/** A directory the kernel opened: the listing is taken at offset 0 and served from here after. */
interface OpenDir {
  node: NodeId;
  fh?: Fh;
  entries?: DirEntry[];
}

const S_IFMT = 0o170000;
const EOPNOTSUPP = 95;
const ENODATA = 61;
const ENOENT = 2;
/** The SETATTR bits that change something (FH, LOCKOWNER and CTIME only qualify the request). */
const CHANGES =
  SetattrValid.MODE |
  SetattrValid.UID |
  SetattrValid.GID |
  SetattrValid.SIZE |
  SetattrValid.ATIME |
  SetattrValid.MTIME |
  SetattrValid.KILL_SUIDGID;
const O_RDONLY = 0;
const O_WRONLY = 1;
const O_RDWR = 2;
/** What a daemon-served open asks the host to read ahead: the kernel's largest FUSE read (max_pages). */
const READAHEAD_AT_OPEN = 128 * 1024;
const O_APPEND = 0o2000;
const O_DIRECT = constants.O_DIRECT;
const O_TRUNC = constants.O_TRUNC;

export class WireOps {
  readonly #dirs = new Map<number, OpenDir>();
  #nextDir = 1;

  constructor(
    readonly fs: NodeHandlers,
    readonly nodes: KernelNodes,
    readonly modes: PassthroughModes,
    readonly opts: OpsOptions,
    /** Sends FUSE_NOTIFY_INVAL_INODE (attributes only) for a node, before the current reply. */
    readonly invalInode: (nodeid: number) => void,
    /** Where READ replies come from; the session gives each back once written. */
    readonly readReplies: BufferPool,
    /** READs answered by splice straight from the filesystem's fd (readFd), where it offers one. */
    readonly spliceReads: SpliceReads | undefined,
  ) {}

  /**
   * The file behind `node` changed its attributes (link count, mode, owner, times): every other name
   * the kernel holds for it (a hard link is one kernel inode per name) must not keep serving cached
   * attributes for attr_timeout.
   */
  #changed(node: NodeId | undefined, self = false): void {
    if (node === undefined || this.opts.attrTimeout === 0) return;
    for (const other of this.nodes.aliases(node)) this.invalInode(other);
    if (self) this.invalInode(node);
  }

  /**
   * Drop the set-id bits an unprivileged modification of `node` drops (HANDLE_KILLPRIV_V2 leaves
   * that to us; see killpriv.ts). A file without a name keeps its bits: nobody can exec it again.
   */
  #killSuidgid(ctx: RequestContext, node: NodeId, fh?: number): Reply<void> {
    return thenMaybe(this.#getattr(ctx, node, fh), (attr) => {
      const mode = attr.nlink === 0 ? undefined : modeAfterKill(attr.mode, attr.gid, ctx.gid ?? 0);
      if (mode === undefined) return;
      return thenMaybe(this.fs.chmod(ctx, node, mode), () => this.#changed(node, true));
    });
  }

  /** Where the kernel cannot flag it (fallocate, copy_file_range): an unprivileged caller is one without uid 0. */
  #killIfUnprivileged(ctx: RequestContext, node: NodeId, fh: number): Reply<void> {
    return ctx.uid === 0 || ctx.uid === undefined ? undefined : this.#killSuidgid(ctx, node, fh);
  }

  get openDirCount(): number {
    return this.#dirs.size;
  }

  // -- names and attributes -------------------------------------------------------------------------

  /** An entry the filesystem answered, as the kernel gets it: its lookup is counted here too. */
  #entry(e: Entry): EntryParams {
    this.nodes.entered(e.node, e.attr.ino);
    return {
      nodeid: e.node,
      generation: e.generation,
      entryTimeout: this.opts.entryTimeout,
      attrTimeout: this.opts.attrTimeout,
      attr: e.attr,
    };
  }

  /** Attributes of a node; `fh` an open handle of it (fstat). */
  #getattr(ctx: RequestContext, node: NodeId, fh?: number): Reply<Attr> {
    const pinned = this.nodes.get(node)?.superseded ? this.modes.backingOf(node) : undefined;
    if (pinned) {
      // The kernel reads this node's passed-through backing file (the lower file a reader opened
      // before the copy-up): fstat on that fd shows the data it reads.
      return thenMaybe(this.fs.getattr(ctx, node, fh as Fh | undefined), (attr) =>
        withDataOf(attr, fstatSync(pinned.fd, { bigint: true })),
      );
    }
    return this.fs.getattr(ctx, node, fh as Fh | undefined);
  }

  lookup(req: Request, ctx: RequestContext, parent: NodeId): OpResult {
    const name = decode.name(req.body);
    let e;
    try {
      e = this.fs.lookup(ctx, parent, name);
    } catch (err) {
      return this.#negative(req, err);
    }
    if (e instanceof Promise) {
      return e.then(
        (x) => (x ? entryReply(req.unique, this.#entry(x)) : this.#none(req)),
        (err) => this.#negative(req, err),
      );
    }
    return e ? entryReply(req.unique, this.#entry(e)) : this.#none(req);
  }

  /** No such name: a negative entry the kernel keeps for negative_timeout, or ENOENT without one. */
  #none(req: Request): Uint8Array {
    return this.opts.negativeTimeout > 0 ? negativeEntryReply(req.unique, this.opts.negativeTimeout) : errorReply(req.unique, ENOENT);
  }

  #negative(req: Request, err: unknown): Uint8Array {
    if ((err as { code?: string }).code === 'ENOENT') return this.#none(req);
    throw err;
  }

  forget(req: Request): null {
    this.#forget(req.nodeid as NodeId, decode.forget(req.body));
    return null;
  }

  batchForget(req: Request): null {
    for (const f of decode.batchForget(req.body)) this.#forget(f.nodeid as NodeId, f.nlookup);
    return null;
  }

  #forget(node: NodeId, count: number): void {
    this.nodes.forget(node, count);
    this.fs.forget(node, count);
  }

  getattr(req: Request, ctx: RequestContext, node: NodeId): OpResult {
    const a = decode.getattr(req.body);
    const fh = a.flags & GETATTR_FH ? a.fh : undefined;
    return thenMaybe(this.#getattr(ctx, node, fh), (attr) => {
      this.nodes.seen(node, attr.ino);
      return attrReply(req.unique, attr, this.opts.attrTimeout);
    });
  }

  async setattr(req: Request, ctx: RequestContext, node: NodeId): Promise<Uint8Array> {
    const s = decode.setattr(req.body);
    const fh = s.valid & SetattrValid.FH ? (s.fh as Fh) : undefined;
    // libfuse's order: mode, owner, size, times.
    if (s.valid & SetattrValid.MODE) await this.fs.chmod(ctx, node, s.mode & 0o7777);
    if (s.valid & (SetattrValid.UID | SetattrValid.GID)) {
      await this.fs.chown(ctx, node, s.valid & SetattrValid.UID ? s.uid : -1, s.valid & SetattrValid.GID ? s.gid : -1);
    }
    if (!(s.valid & CHANGES)) {
      // chown(f, -1, -1): nothing to change but the ctime, which Linux updates; the kernel sends it
      // as a SETATTR that names no attribute (FATTR_CTIME only comes with the writeback cache).
      await this.fs.chown(ctx, node, -1, -1);
    }
    if (s.valid & SetattrValid.SIZE) await this.fs.truncate(ctx, node, s.size, fh);
    if (s.valid & SetattrValid.KILL_SUIDGID) await this.#killSuidgid(ctx, node, fh);
    if (s.valid & (SetattrValid.ATIME | SetattrValid.MTIME)) {
      const time = (set: number, now: number, sec: bigint, nsec: number) => {
        if (!(s.valid & set)) return 'omit' as const;
        if (s.valid & now) return 'now' as const;
        return sec * 1_000_000_000n + BigInt(nsec);
      };
      await this.fs.utimens(ctx, node, {
        atime: time(SetattrValid.ATIME, SetattrValid.ATIME_NOW, s.atime, s.atimensec),
        mtime: time(SetattrValid.MTIME, SetattrValid.MTIME_NOW, s.mtime, s.mtimensec),
      });
    }
    this.#changed(node);
    return attrReply(req.unique, await this.#getattr(ctx, node, fh), this.opts.attrTimeout);
  }

  access(req: Request, ctx: RequestContext, node: NodeId): OpResult {
    if (!this.fs.access) throw new FsError('ENOSYS', 'access');
    return thenMaybe(this.fs.access(ctx, node, decode.access(req.body).mask), () => emptyReply(req.unique));
  }

  statfs(req: Request, ctx: RequestContext, node: NodeId): OpResult {
    return thenMaybe(this.fs.statfs(ctx, node), (s) => statfsReply(req.unique, s));
  }

  readlink(req: Request, ctx: RequestContext, node: NodeId): OpResult {
    return thenMaybe(this.fs.readlink(ctx, node), (target) => dataReply(req.unique, nameToBytes(target)));
  }

  // -- creating and removing names ----------------------------------------------------------------

  symlink(req: Request, ctx: RequestContext, parent: NodeId): OpResult {
    const { name, target } = decode.symlink(req.body);
    return thenMaybe(this.fs.symlink(ctx, parent, name, target), (e) => entryReply(req.unique, this.#entry(e)));
  }

  mknod(req: Request, ctx: RequestContext, parent: NodeId): OpResult {
    const a = decode.mknod(req.body);
    const c = { ...ctx, umask: a.umask };
    return thenMaybe(this.#createMode(c, parent, a.mode, a.umask), (mode) =>
      thenMaybe(this.fs.mknod(c, parent, a.name, mode, a.rdev), (e) => entryReply(req.unique, this.#entry(e))),
    );
  }

  mkdir(req: Request, ctx: RequestContext, parent: NodeId): OpResult {
    const a = decode.mkdir(req.body);
    const c = { ...ctx, umask: a.umask };
    return thenMaybe(this.#createMode(c, parent, a.mode, a.umask), (mode) =>
      thenMaybe(this.fs.mkdir(c, parent, a.name, mode & 0o7777), (e) => entryReply(req.unique, this.#entry(e))),
    );
  }

  /**
   * The mode a new entry in `parent` is made with. The kernel leaves the umask to us (DONT_MASK)
   * because with POSIX ACLs it must not always apply: a directory with a default ACL hands that ACL
   * down and the umask is ignored (the source filesystem applies it: our own umask is 0); without
   * one the caller's umask applies. The daemon must decide — the kernel cannot see the backing
   * directory's ACL when the request leaves.
   */
  #createMode(ctx: RequestContext, parent: NodeId, mode: number, umask: number): number | Promise<number> {
    if (!this.opts.dontMask) return mode;
    const masked = mode & ~umask;
    const getxattr = this.fs.getxattr?.bind(this.fs);
    if (!getxattr || masked === mode) return masked;
    // ENODATA (no default ACL) or any other failure: the umask applies.
    return catchMaybe(
      () => thenMaybe(getxattr(ctx, parent, 'system.posix_acl_default'), (acl) => (acl === undefined ? masked : mode)),
      () => masked,
    );
  }

  /**
   * O_TMPFILE: an open file without a name in `parent`, on a node of its own. The entry says nlink 1
   * (what a fresh file has); the kernel's d_tmpfile drops it to 0, and a later linkat(AT_EMPTY_PATH)
   * arrives as a LINK of this node (unless it was opened O_EXCL).
   */
  tmpfile(req: Request, ctx: RequestContext, parent: NodeId): OpResult {
    if (!this.fs.tmpfile) throw new FsError('ENOSYS', 'tmpfile');
    const tmpfile = this.fs.tmpfile.bind(this.fs);
    const a = decode.create(req.body);
    const c = { ...ctx, umask: a.umask };
    return thenMaybe(
      thenMaybe(this.#createMode(c, parent, a.mode, a.umask), (mode) => tmpfile(c, parent, mode, a.flags)),
      ({ entry: e, open }) => {
        const entry = { ...this.#entry(e), entryTimeout: 0, attr: { ...e.attr, nlink: 1 } };
        return this.#opened(c, e.node, open, true, (o) => createReply(req.unique, entry, o), a.flags);
      },
    );
  }

  link(req: Request, ctx: RequestContext, parent: NodeId): OpResult {
    const a = decode.link(req.body);
    const old = a.oldnodeid as NodeId;
    return thenMaybe(this.fs.link(ctx, old, parent, a.name), (e) => {
      const reply = entryReply(req.unique, this.#entry(e));
      // The old node too, where it is another node: after LINK the kernel bumps its nlink but keeps
      // its cached ctime (a FUSE inode without the writeback cache never updates times locally).
      this.#changed(old, true);
      return reply;
    });
  }

  unlink(req: Request, ctx: RequestContext, parent: NodeId): OpResult {
    const name = decode.name(req.body);
    // Which node loses a name is the filesystem's to know; its other names learn the new nlink from
    // the filesystem's next answer about them. A filesystem with a node per name shows that as aliases.
    return thenMaybe(this.#peek(ctx, parent, name), (gone) =>
      thenMaybe(this.fs.unlink(ctx, parent, name), () => {
        this.#changed(gone);
        return emptyReply(req.unique);
      }),
    );
  }

  rmdir(req: Request, ctx: RequestContext, parent: NodeId): OpResult {
    const name = decode.name(req.body);
    return thenMaybe(this.fs.rmdir(ctx, parent, name), () => emptyReply(req.unique));
  }

  rename(req: Request, ctx: RequestContext, parent: NodeId): OpResult {
    const a = req.opcode === Opcode.RENAME2 ? decode.rename2(req.body) : decode.rename(req.body);
    const to = a.newdir as NodeId;
    return thenMaybe(this.#peek(ctx, to, a.to), (replaced) =>
      thenMaybe(this.fs.rename(ctx, parent, a.from, to, a.to, a.flags), () => {
        this.#changed(replaced);
        return emptyReply(req.unique);
      }),
    );
  }

  /**
   * The node a name stands for, where other nodes may show the same file (only then does it matter):
   * looked up and given back at once. Undefined where nothing is there.
   */
  #peek(ctx: RequestContext, parent: NodeId, name: string): Reply<NodeId | undefined> {
    if (!this.nodes.hasAliases || this.opts.attrTimeout === 0) return undefined;
    return catchMaybe(
      () =>
        thenMaybe(this.fs.lookup(ctx, parent, name), (e) => {
          if (!e) return undefined;
          this.fs.forget(e.node, 1);
          return e.node;
        }),
      () => undefined,
    );
  }

  // -- files ----------------------------------------------------------------------------------------

  /**
   * Under the writeback cache, an open for writing asks the filesystem for read-write and no
   * O_APPEND (see OpsOptions.writeback); a file the daemon may not read is opened as asked, and
   * a partial-page write to it then fails as the kernel's read of that page does (as libfuse's
   * passthrough_hp).
   */
  #withWriteback<T>(flags: number, open: (flags: number) => Reply<T>): Reply<T> {
    const wide = this.#writebackFlags(flags);
    if (wide === flags) return open(flags);
    const asAsked = (err: unknown): Reply<T> => {
      if (!isErrno(err, 'EACCES')) throw err;
      return open(flags & ~O_APPEND);
    };
    try {
      const r = open(wide);
      return r instanceof Promise ? r.catch(asAsked) : r;
    } catch (err) {
      return asAsked(err);
    }
  }

  /** The flags a writing open goes to the filesystem with under the writeback cache. */
  #writebackFlags(flags: number): number {
    if (!this.opts.writeback || (flags & O_ACCMODE) === O_RDONLY) return flags;
    return ((flags & ~O_ACCMODE) | O_RDWR) & ~O_APPEND;
  }

  open(req: Request, ctx: RequestContext, node: NodeId): OpResult {
    const { flags, openFlags } = decode.open(req.body);
    return thenMaybe(
      this.#withWriteback(flags, (f) => this.fs.open(ctx, node, f)),
      (r) => {
        // The kill comes before the I/O-mode decision: a file that still has set-id bits is not passed through.
        const killed = openFlags & OPEN_KILL_SUIDGID ? this.#killSuidgid(ctx, node, r.fh) : undefined;
        return thenMaybe(killed, () => this.#opened(ctx, node, r, false, (o) => openReply(req.unique, o), flags));
      },
    );
  }

  create(req: Request, ctx: RequestContext, parent: NodeId): OpResult {
    const a = decode.create(req.body);
    const c = { ...ctx, umask: a.umask };
    const made = () =>
      thenMaybe(
        thenMaybe(this.#createMode(c, parent, a.mode, a.umask), (mode) =>
          // A new file is the caller's: read-write is always allowed to its creator.
          this.fs.create(c, parent, a.name, mode, this.#writebackFlags(a.flags)),
        ),
        ({ entry: e, open }) => {
          const entry = this.#entry(e);
          return this.#opened(c, e.node, open, true, (o) => createReply(req.unique, entry, o), a.flags);
        },
      );
    if (!(a.openFlags & OPEN_KILL_SUIDGID)) return made();
    // O_TRUNC by an unprivileged caller on a name the kernel had not looked up: it may truncate an
    // existing set-id file, whose bits go first. A file this call makes keeps the mode asked for.
    return thenMaybe(this.#killExisting(c, parent, a.name), made);
  }

  /** Drop the set-id bits of an existing `name` in `parent` as an unprivileged modification does. */
  #killExisting(ctx: RequestContext, parent: NodeId, name: string): Reply<void> {
    let found;
    try {
      found = this.fs.lookup(ctx, parent, name);
    } catch {
      return; // nothing there yet: the create makes it
    }
    const kill = (e: Entry | undefined) => {
      if (!e) return; // nothing there yet: the create makes it
      const mode = modeAfterKill(e.attr.mode, e.attr.gid, ctx.gid ?? 0);
      const done = () => this.fs.forget(e.node, 1);
      if (mode === undefined) return done();
      return thenMaybe(
        catchMaybe(
          () => this.fs.chmod(ctx, e.node, mode),
          (err) => {
            done();
            throw err;
          },
        ),
        done,
      );
    };
    return found instanceof Promise ? found.then(kill, () => undefined) : kill(found);
  }

  /**
   * The I/O mode decision for a fresh open, then its reply; see passthrough-modes.ts. `counted`: the
   * reply carries an entry whose lookup we already counted (CREATE), to be taken back on ESTALE.
   */
  #opened(
    ctx: RequestContext,
    node: NodeId,
    r: OpenReply,
    counted: boolean,
    encode: (o: { fh: number; openFlags: number; backingId: number }) => Uint8Array,
    flags = 0,
  ): OpResult {
    // A writer of a file the kernel knows by other names too is served by the daemon: a passed-through
    // write would leave those names' cached size and mtime stale, and we would never know.
    const shared = (flags & O_ACCMODE) !== O_RDONLY && this.nodes.aliases(node).length > 0;
    if (r.attrChanged) this.invalInode(node);
    const readOnly = (flags & (O_ACCMODE | O_TRUNC)) === O_RDONLY;
    const d = this.modes.open(node, shared ? undefined : r.backing, readOnly);
    if ('stale' in d) {
      if (!this.fs.supersede) {
        return thenMaybe(this.fs.release(ctx, node, r.fh), () => {
          throw new FsError(
            'EIO',
            'open',
            `node ${node}`,
            'the filesystem answered another backing file for a node the kernel passes through',
          );
        });
      }
      this.fs.supersede(node);
      this.nodes.supersede(node);
      if (counted) this.#forget(node, 1);
      return thenMaybe(this.fs.release(ctx, node, r.fh), () => {
        throw new FsError('ESTALE', 'open', `node ${node}`, 'the name now refers to another file; the kernel retries the open');
      });
    }
    if (d.passthrough) {
      r.passedThrough?.();
      return encode({ fh: r.fh, openFlags: OpenOut.PASSTHROUGH, backingId: d.backingId });
    }
    // Served by the daemon. cache=auto keeps the page cache across opens too: INIT negotiated
    // AUTO_INVAL_DATA, so the kernel drops it when it sees the file's mtime or size change.
    let openFlags = 0;
    if (r.directIo || this.opts.cache === 'none') openFlags |= OpenOut.DIRECT_IO;
    else openFlags |= OpenOut.KEEP_CACHE;
    // The READ that follows an open for reading comes a round trip later: have the host start
    // reading its first window now, so that READ finds it in the page cache (answered at once)
    // rather than waiting for the disk on the threadpool.
    // (Not for O_DIRECT: its reads bypass the page cache.)
    const b = r.backing;
    if ((flags & O_ACCMODE) !== O_WRONLY && b && !(b.flags & O_DIRECT)) syscalls.readahead(b.fd, 0, READAHEAD_AT_OPEN);
    return encode({ fh: r.fh, openFlags, backingId: 0 });
  }

  read(req: Request, ctx: RequestContext, node: NodeId): OpResult {
    const a = decode.read(req.body);
    if (this.spliceReads?.fits(a.size) && this.fs.readFd) {
      const fd = this.fs.readFd(ctx, node, a.fh as Fh);
      if (fd !== undefined && this.spliceReads.reply(req.unique, fd, a.offset, a.size)) return null;
    }
    const out = replyHeader(this.readReplies.take(OUT_HEADER_SIZE + a.size), req.unique, a.size);
    const data = out.subarray(OUT_HEADER_SIZE, OUT_HEADER_SIZE + a.size);
    return thenMaybe(this.fs.read(ctx, node, a.fh as Fh, data, a.offset), (n) => {
      setReplyLength(out, OUT_HEADER_SIZE + n);
      return out.subarray(0, OUT_HEADER_SIZE + n);
    });
  }

  write(req: Request, ctx: RequestContext, node: NodeId): OpResult {
    const a = decode.write(req.body);
    const written = this.fs.write(ctx, node, a.fh as Fh, a.data, a.offset);
    return thenMaybe(written, (n) => {
      this.#changed(node); // its other hard-link names: size and mtime
      if (!(a.writeFlags & WRITE_KILL_SUIDGID)) return sizeReply(req.unique, n);
      return thenMaybe(this.#killSuidgid(ctx, node, a.fh), () => sizeReply(req.unique, n));
    });
  }

  flush(req: Request, ctx: RequestContext, node: NodeId): OpResult {
    if (!this.fs.flush) throw new FsError('ENOSYS', 'flush');
    return thenMaybe(this.fs.flush(ctx, node, decode.flush(req.body).fh as Fh), () => emptyReply(req.unique));
  }

  fsync(req: Request, ctx: RequestContext, node: NodeId): OpResult {
    if (!this.fs.fsync) throw new FsError('ENOSYS', 'fsync');
    const a = decode.fsync(req.body);
    return thenMaybe(this.fs.fsync(ctx, node, (a.fsyncFlags & FSYNC_FDATASYNC) !== 0, a.fh as Fh), () => emptyReply(req.unique));
  }

  release(req: Request, ctx: RequestContext, node: NodeId): OpResult {
    const { fh, flags } = decode.release(req.body);
    // Writes passed through one node never reach the others the kernel holds for the same file (an
    // O_TMPFILE linked in while open, a hard link made while its writer was open): their size and
    // mtime are stale, and a served read stops at that size. Once the writer closes, they are
    // fetched again.
    if ((flags & O_ACCMODE) !== O_RDONLY && this.modes.isPassthrough(node))
      for (const other of this.nodes.aliases(node)) this.invalInode(other);
    return thenMaybe(this.fs.release(ctx, node, fh as Fh), () => thenMaybe(this.modes.release(node), () => emptyReply(req.unique)));
  }

  fallocate(req: Request, ctx: RequestContext, node: NodeId): OpResult {
    if (!this.fs.fallocate) throw new FsError('EOPNOTSUPP', 'fallocate');
    const a = decode.fallocate(req.body);
    return thenMaybe(this.fs.fallocate(ctx, node, a.fh as Fh, a.mode, a.offset, a.length), () =>
      thenMaybe(this.#killIfUnprivileged(ctx, node, a.fh), () => emptyReply(req.unique)),
    );
  }

  lseek(req: Request, ctx: RequestContext, node: NodeId): OpResult {
    // Under the writeback cache the kernel holds data and size the backing file has not seen yet
    // (it does not flush before an LSEEK): a written region over a backing hole, or past the backing
    // EOF, would be answered as a hole or ENXIO, and cp would skip data it must copy. ENOSYS makes
    // the kernel answer from its own size for the rest of the mount, every byte as data, as for a
    // filesystem without SEEK_DATA.
    if (!this.fs.lseek || this.opts.writeback) throw new FsError('ENOSYS', 'lseek');
    const a = decode.lseek(req.body);
    return thenMaybe(this.fs.lseek(ctx, node, a.fh as Fh, a.offset, a.whence), (off) => u64Reply(req.unique, off));
  }

  copyFileRange(req: Request, ctx: RequestContext, node: NodeId): OpResult {
    if (!this.fs.copyFileRange) throw new FsError('ENOSYS', 'copy_file_range');
    const a = decode.copyFileRange(req.body);
    const out = a.nodeidOut as NodeId;
    return thenMaybe(
      this.fs.copyFileRange(
        ctx,
        { node, fh: a.fhIn as Fh, offset: a.offIn },
        { node: out, fh: a.fhOut as Fh, offset: a.offOut },
        a.len,
        a.flags,
      ),
      (n) => thenMaybe(this.#killIfUnprivileged(ctx, out, a.fhOut), () => sizeReply(req.unique, n)),
    );
  }

  // -- directories ----------------------------------------------------------------------------------

  opendir(req: Request, ctx: RequestContext, node: NodeId): OpResult {
    const flags = decode.open(req.body).flags;
    return thenMaybe(this.fs.opendir ? this.fs.opendir(ctx, node, flags) : undefined, (fh) => {
      const id = this.#nextDir++;
      this.#dirs.set(id, { node, fh });
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
      return thenMaybe(this.fs.readdir(ctx, d.node, d.fh), (entries) => (d.entries = entries));
    }
    return d.entries;
  }

  readdir(req: Request, ctx: RequestContext): OpResult {
    const a = decode.read(req.body);
    const d = this.#dir(a.fh);
    return thenMaybe(this.#listing(ctx, d, a.offset), (entries) => {
      const out = new DirentWriter(req.unique, a.size);
      for (let i = a.offset; i < entries.length; i++) {
        const e = entries[i];
        const name = nameToBytes(e.name);
        if (out.off - OUT_HEADER_SIZE + direntSize(name.length) > a.size) break;
        out.dirent(e.ino, i + 1, (e.type & S_IFMT) >> 12, name);
      }
      return out.finish();
    });
  }

  /**
   * READDIRPLUS: each entry with full attributes, looked up through the filesystem (an entry that
   * cannot be looked up goes out as a plain name, nodeid 0). Every entry sent with a node counts as a
   * lookup, so only entries that fit are looked up.
   */
  readdirplus(req: Request, ctx: RequestContext): OpResult {
    const a = decode.read(req.body);
    const d = this.#dir(a.fh);
    return thenMaybe(this.#listing(ctx, d, a.offset), (entries) => {
      const picked: { e: DirEntry; name: Buffer; i: number }[] = [];
      let size = 0;
      for (let i = a.offset; i < entries.length; i++) {
        const name = nameToBytes(entries[i].name);
        if (size + direntplusSize(name.length) > a.size) break;
        size += direntplusSize(name.length);
        picked.push({ e: entries[i], name, i });
      }
      const found = picked.map(({ e }) => (e.name === '.' || e.name === '..' ? null : this.#childEntry(ctx, d.node, e.name)));
      const encode = (resolved: (Entry | null)[]) => {
        const out = new DirentWriter(req.unique, size);
        picked.forEach(({ e, name, i }, k) => {
          const child = resolved[k];
          const entry = child ? this.#entry(child) : null;
          out.direntplus(entry, child?.attr.ino ?? e.ino, i + 1, ((child?.attr.mode ?? e.type) & S_IFMT) >> 12, name);
        });
        return out.finish();
      };
      return found.some((x) => x instanceof Promise) ? Promise.all(found).then(encode) : encode(found as (Entry | null)[]);
    });
  }

  #childEntry(ctx: RequestContext, dir: NodeId, name: string): Entry | null | Promise<Entry | null> {
    try {
      const e = this.fs.lookup(ctx, dir, name);
      return e instanceof Promise
        ? e.then(
            (x) => x ?? null,
            () => null,
          )
        : (e ?? null);
    } catch {
      return null; // gone since the listing was taken
    }
  }

  releasedir(req: Request, ctx: RequestContext): OpResult {
    const { fh } = decode.release(req.body);
    const d = this.#dirs.get(fh);
    this.#dirs.delete(fh);
    if (!d || d.fh === undefined || !this.fs.releasedir) return emptyReply(req.unique);
    return thenMaybe(this.fs.releasedir(ctx, d.node, d.fh), () => emptyReply(req.unique));
  }

  fsyncdir(req: Request, ctx: RequestContext, node: NodeId): OpResult {
    if (!this.fs.fsyncdir) throw new FsError('ENOSYS', 'fsyncdir');
    const a = decode.fsync(req.body);
    const d = this.#dirs.get(a.fh);
    return thenMaybe(this.fs.fsyncdir(ctx, node, (a.fsyncFlags & FSYNC_FDATASYNC) !== 0, d?.fh), () => emptyReply(req.unique));
  }

  // -- extended attributes --------------------------------------------------------------------------

  setxattr(req: Request, ctx: RequestContext, node: NodeId): OpResult {
    if (!this.fs.setxattr) throw new FsError('EOPNOTSUPP', 'setxattr');
    const a = decode.setxattr(req.body);
    return thenMaybe(this.fs.setxattr(ctx, node, a.name, a.value, a.flags), () => {
      this.#changed(node);
      return emptyReply(req.unique);
    });
  }

  getxattr(req: Request, ctx: RequestContext, node: NodeId): OpResult {
    if (!this.fs.getxattr) throw new FsError('EOPNOTSUPP', 'getxattr');
    const a = decode.getxattr(req.body);
    if (a.name.startsWith('system.posix_acl_')) {
      // With POSIX_ACL the kernel asks this for its permission checks, and takes any error but
      // ENODATA as one: a source filesystem without ACLs must answer "no ACL", not EOPNOTSUPP.
      const getxattr = this.fs.getxattr.bind(this.fs);
      const noAcl = (err: unknown): never => {
        throw errnoOf(err) === EOPNOTSUPP ? new FsError('ENODATA', 'getxattr', a.name) : err;
      };
      return thenMaybe(
        catchMaybe(() => getxattr(ctx, node, a.name), noAcl),
        (v) => sized(req.unique, a.size, v),
      );
    }
    return thenMaybe(this.fs.getxattr(ctx, node, a.name), (value) => sized(req.unique, a.size, value));
  }

  listxattr(req: Request, ctx: RequestContext, node: NodeId): OpResult {
    if (!this.fs.listxattr) throw new FsError('EOPNOTSUPP', 'listxattr');
    const a = decode.listxattr(req.body);
    return thenMaybe(this.fs.listxattr(ctx, node), (names) => sized(req.unique, a.size, nameListBytes(names)));
  }

  removexattr(req: Request, ctx: RequestContext, node: NodeId): OpResult {
    if (!this.fs.removexattr) throw new FsError('EOPNOTSUPP', 'removexattr');
    return thenMaybe(this.fs.removexattr(ctx, node, decode.name(req.body)), () => {
      this.#changed(node);
      return emptyReply(req.unique);
    });
  }

  /** Close every directory handle still open (after unmount the kernel sends no releases). */
  closeAll(): void {
    this.#dirs.clear();
  }
}

/**
 * getxattr/listxattr: a size query (size 0) gets the length; a short buffer ERANGE. No value (an
 * absent xattr) is ENODATA, answered as a reply rather than thrown (see NodeHandlers.getxattr).
 */
function sized(unique: bigint, size: number, value: Buffer | undefined): Uint8Array {
  if (value === undefined) return errorReply(unique, ENODATA);
  if (size === 0) return sizeReply(unique, value.length);
  if (value.length > size) throw new FsError('ERANGE', 'getxattr');
  return dataReply(unique, value);
}

/** `attr` with the size, blocks and times of the file the kernel actually reads. */
function withDataOf(attr: Attr, st: BigIntStats): Attr {
  return { ...attr, size: st.size, blocks: st.blocks, atimeNs: st.atimeNs, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs };
}
