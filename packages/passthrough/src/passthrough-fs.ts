// PassthroughFs: the user-visible tree is `source`, one to one. The thinnest correct client of
// backing-io: it decides which host file backs each path and which lock guards its attributes; the
// core does the I/O, the references and the completion hook.
//
// Locks: one InodeLocks keyed by mount-relative path guards each path's cached attributes. Only
// endWrite and truncate take it; getattr waits for it only while it is held. No operation holds two.
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  BackingFile, BackingFileCtx, BackingMeta, FsError, InodeLocks, MetadataMode, backingFileCopyRange,
  backingFileFallocate, backingFileLseek, backingFileOpen, backingTmpfileOpen, TMPFILE_NAME,
  backingFileReadIter, backingFileWriteIter, backingMeta, ownAsCaller, syscalls, thenMaybe,
} from '@layerfs/backing-io';
import {
  Attr, DirEntry, Fh, FsHandlers, HandleTable, Ino, OpenReply, RENAME_EXCHANGE, RENAME_NOREPLACE, RENAME_WHITEOUT, Reply,
  RequestContext,
  SetattrTimes, StatFs, attrFromStats,
} from '@layerfs/fuse-bridge';
import { AttrCache, AttrCacheOptions } from './attr-cache';

/** What an open handle stands for. */
interface OpenFile {
  readonly path: string;
  readonly backing: BackingFile;
  /** A writable handle the transport passed through: its inode's attributes stay uncached until release. */
  writerIno?: Ino;
}

export interface PassthroughOptions {
  /** The directory to mirror. */
  source: string;
  /** How lstat/fstat/readlink are issued (see backing-io's metadata.ts). Default 'sync'. */
  metadata?: MetadataMode;
  attrCache?: AttrCacheOptions;
}

const { O_CREAT, O_EXCL, O_TRUNC, O_RDONLY } = fs.constants;
const O_ACCMODE = 0o3;

export class PassthroughFs implements FsHandlers {
  readonly source: string;
  readonly backingRoots: readonly string[];
  readonly #meta: BackingMeta;
  readonly #attrs: AttrCache;
  readonly #locks = new InodeLocks<string>();
  readonly #files = new HandleTable<OpenFile>();
  readonly #ctx: BackingFileCtx;

  constructor(opts: PassthroughOptions) {
    this.source = path.resolve(opts.source);
    this.backingRoots = [this.source];
    this.#meta = backingMeta(opts.metadata ?? 'sync');
    this.#attrs = new AttrCache(opts.attrCache);
    this.#ctx = {
      // ovl_file_end_write → ovl_copyattr, in userspace: copy the backing file's size and times into
      // the cache under the path's lock. The aio still holds its reference, so the fd is this file's.
      endWrite: (file) => this.#locks.withLock(file.userPath, async () => {
        this.#attrs.written(file.userPath, attrFromStats(await this.#meta.fstat(file.fd)));
      }),
    };
  }

  /** The host path behind a mount-relative path. The kernel never sends "..", so no escape. */
  realPath(p: string): string {
    return p === '/' ? this.source : this.source + p;
  }

  get openFileCount(): number {
    return this.#files.size;
  }

  // -- attributes ---------------------------------------------------------------------------------

  getattr(_ctx: RequestContext, p: string, fh?: Fh): Reply<Attr> {
    const open = this.#files.find(fh);
    if (open) {
      if (this.#meta.mode === 'sync') return attrFromStats(this.#meta.fstat(open.backing.fd) as fs.BigIntStats);
      return withRef(open.backing, async (fd) => attrFromStats(await this.#meta.fstat(fd)));
    }
    if (this.#locks.isLocked(p)) return this.#locks.withLock(p, () => this.#lookupAttr(p));
    return this.#lookupAttr(p);
  }

  #lookupAttr(p: string): Reply<Attr> {
    const cached = this.#attrs.get(p);
    if (cached) return cached;
    return thenMaybe(this.#meta.lstat(this.realPath(p)), (st) => {
      const attr = attrFromStats(st);
      this.#attrs.set(p, attr);
      return attr;
    });
  }

  access(_ctx: RequestContext, p: string, mask: number): Promise<void> {
    return fs.promises.access(this.realPath(p), mask);
  }

  async statfs(_ctx: RequestContext, p: string): Promise<StatFs> {
    const s = await fs.promises.statfs(this.realPath(p), { bigint: true });
    return {
      bsize: Number(s.bsize), frsize: Number(s.bsize), blocks: s.blocks, bfree: s.bfree, bavail: s.bavail,
      files: s.files, ffree: s.ffree, namemax: 255,
    };
  }

  chmod(_ctx: RequestContext, p: string, mode: number): Reply<void> {
    return thenMaybe(this.#meta.chmod(this.realPath(p), mode), () => this.#attrs.dropFile(p));
  }

  chown(_ctx: RequestContext, p: string, uid: number, gid: number): Reply<void> {
    return thenMaybe(this.#meta.lchown(this.realPath(p), uid, gid), () => this.#attrs.dropFile(p));
  }

  utimens(_ctx: RequestContext, p: string, times: SetattrTimes): void {
    syscalls.lutimens(this.realPath(p), times.atime, times.mtime);
    this.#attrs.dropFile(p);
  }

  truncate(_ctx: RequestContext, p: string, size: number, fh?: Fh): Promise<void> {
    const open = this.#files.find(fh);
    return this.#locks.withLock(p, async () => {
      if (open) await withRef(open.backing, (fd) => new Promise<void>((res, rej) => fs.ftruncate(fd, size, (e) => (e ? rej(e) : res()))));
      else await this.#meta.truncate(this.realPath(p), size);
      this.#attrs.dropFile(p);
    });
  }

  // -- directories --------------------------------------------------------------------------------

  // No opendir/releasedir: readdir is path-based and keeps no state, and without them libfuse
  // answers OPENDIR/RELEASEDIR itself, which saves two round trips into JavaScript per listing.

  readdir(_ctx: RequestContext, p: string): DirEntry[] {
    return syscalls.readdirIno(this.realPath(p), { withDots: true });
  }

  async fsyncdir(_ctx: RequestContext, p: string): Promise<void> {
    const fd = await fs.promises.open(this.realPath(p), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    try {
      await fd.sync();
    } finally {
      await fd.close();
    }
  }

  mkdir(ctx: RequestContext, p: string, mode: number): Reply<void> {
    return thenMaybe(this.#meta.mkdir(this.realPath(p), mode), () => ownAsCaller(this.realPath(p), ctx));
  }

  rmdir(_ctx: RequestContext, p: string): Reply<void> {
    return thenMaybe(this.#meta.rmdir(this.realPath(p)), () => this.#attrs.drop(p));
  }

  // -- names --------------------------------------------------------------------------------------

  unlink(_ctx: RequestContext, p: string): Reply<void> {
    // An open handle keeps working: its BackingFile holds the host fd, and the host keeps an
    // unlinked inode alive for as long as an fd refers to it. Other hard-link names of the inode
    // changed nlink too, and we do not know them by path: drop the whole cache.
    return thenMaybe(this.#meta.unlink(this.realPath(p)), () => this.#attrs.clear());
  }

  rename(_ctx: RequestContext, from: string, to: string, flags: number): Reply<void> {
    // RENAME_WHITEOUT too: the host makes the whiteout (an overlay stacked on this mount asks for it).
    if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT)) throw new FsError('EINVAL', 'rename', from);
    const done = flags === 0
      ? this.#meta.rename(this.realPath(from), this.realPath(to))
      : syscalls.renameat2(this.realPath(from), this.realPath(to), flags);
    return thenMaybe(done, () => this.#attrs.clear());
  }

  link(_ctx: RequestContext, existing: string, newPath: string, fh?: Fh): Reply<void> {
    if (fh !== undefined) {
      syscalls.linkFd(this.#files.get(fh, existing).backing.fd, this.realPath(newPath));
      this.#attrs.drop(newPath);
      return;
    }
    // Every name of the inode now has one more link.
    return thenMaybe(this.#meta.link(this.realPath(existing), this.realPath(newPath)), () => this.#attrs.clear());
  }

  symlink(ctx: RequestContext, target: string, p: string): Reply<void> {
    return thenMaybe(this.#meta.symlink(target, this.realPath(p)), () => ownAsCaller(this.realPath(p), ctx));
  }

  readlink(_ctx: RequestContext, p: string): Reply<string> {
    return this.#meta.readlink(this.realPath(p));
  }

  mknod(ctx: RequestContext, p: string, mode: number, rdev: number): void {
    syscalls.mknod(this.realPath(p), mode, rdev);
    ownAsCaller(this.realPath(p), ctx);
  }

  // -- files --------------------------------------------------------------------------------------

  open(ctx: RequestContext, p: string, flags: number): Reply<OpenReply> {
    const backing = backingFileOpen({
      userPath: p, realPath: this.realPath(p), flags, cred: ctx, createFlags: flags & O_TRUNC, openFile: this.#meta.open,
    });
    return thenMaybe(backing, (b) => {
      if (flags & O_TRUNC) this.#attrs.dropFile(p);
      return this.#register(p, b, flags);
    });
  }

  create(ctx: RequestContext, p: string, mode: number, flags: number): Reply<OpenReply> {
    const backing = backingFileOpen({
      userPath: p, realPath: this.realPath(p), flags, cred: ctx, mode, openFile: this.#meta.open,
      createFlags: O_CREAT | (flags & (O_EXCL | O_TRUNC)),
    });
    return thenMaybe(backing, (b) => {
      this.#attrs.drop(p);
      ownAsCaller(b.realPath, ctx, { fd: b.fd });
      return this.#register(p, b, flags);
    });
  }

  tmpfile(ctx: RequestContext, dir: string, mode: number, flags: number): Reply<OpenReply> {
    const userPath = `${dir}/${TMPFILE_NAME}`;
    const backing = backingTmpfileOpen({ userPath, dir: this.realPath(dir), flags, cred: ctx, mode, openFile: this.#meta.open });
    return thenMaybe(backing, (b) => {
      ownAsCaller(b.realPath, ctx, { fd: b.fd });
      return this.#register(userPath, b, flags);
    });
  }

  #register(p: string, backing: BackingFile, flags: number): Reply<OpenReply> {
    const open: OpenFile = { path: p, backing };
    if ((flags & O_ACCMODE) === O_RDONLY) return { fh: this.#files.add(open), backing };
    // Writes through a passed-through handle never reach endWrite: see attr-cache.ts.
    return thenMaybe(this.#meta.fstat(backing.fd), (st) => ({
      fh: this.#files.add(open),
      backing,
      passedThrough: () => {
        open.writerIno = st.ino as Ino;
        this.#attrs.openedForWrite(open.writerIno);
      },
    }));
  }

  read(_ctx: RequestContext, p: string, fh: Fh, buf: Buffer, position: number): Promise<number> {
    const { backing } = this.#files.get(fh, p);
    return backingFileReadIter(backing, { buf }, { pos: position, flags: backing.iocbFlags }, this.#ctx);
  }

  write(_ctx: RequestContext, p: string, fh: Fh, buf: Buffer, position: number): Promise<number> {
    const { backing } = this.#files.get(fh, p);
    return backingFileWriteIter(backing, { buf }, { pos: position, flags: backing.iocbFlags }, this.#ctx);
  }

  // No flush: nothing is buffered in the daemon (every write reached the host before it was
  // answered), and without a flush handler the kernel stops sending FLUSH after the first ENOSYS,
  // which saves a round trip on every close(2).

  fsync(_ctx: RequestContext, p: string, datasync: boolean, fh?: Fh): Promise<void> {
    const open = this.#files.find(fh);
    if (!open) return this.fsyncdir(_ctx, p);
    return withRef(open.backing, (fd) => (datasync ? open.backing.io.fdatasync(fd) : open.backing.io.fsync(fd)));
  }

  release(_ctx: RequestContext, p: string, fh: Fh): Promise<void> {
    // Drops the opener's reference; in-flight I/O (if any) keeps the fd until it completes.
    const open = this.#files.remove(fh, p);
    if (open.writerIno !== undefined) this.#attrs.closedForWrite(open.writerIno, p);
    return open.backing.put();
  }

  // -- ranges (wire transport only: libfuse 2 cannot deliver these) ------------------------------

  fallocate(_ctx: RequestContext, p: string, fh: Fh, mode: number, offset: number, length: number): void {
    backingFileFallocate(this.#files.get(fh, p).backing, mode, offset, length);
    this.#attrs.dropFile(p);
  }

  lseek(_ctx: RequestContext, p: string, fh: Fh, offset: number, whence: number): number {
    return backingFileLseek(this.#files.get(fh, p).backing, offset, whence);
  }

  copyFileRange(_ctx: RequestContext, from: { path: string; fh: Fh; offset: number },
    to: { path: string; fh: Fh; offset: number }, length: number): number {
    const n = backingFileCopyRange(this.#files.get(from.fh, from.path).backing, from.offset,
      this.#files.get(to.fh, to.path).backing, to.offset, length);
    this.#attrs.dropFile(to.path);
    return n;
  }

  // -- extended attributes ------------------------------------------------------------------------

  setxattr(_ctx: RequestContext, p: string, name: string, value: Buffer, flags: number): void {
    syscalls.lsetxattr(this.realPath(p), name, value, flags);
    this.#attrs.dropFile(p);
  }

  getxattr(_ctx: RequestContext, p: string, name: string): Buffer {
    return syscalls.lgetxattr(this.realPath(p), name);
  }

  listxattr(_ctx: RequestContext, p: string): string[] {
    return syscalls.llistxattr(this.realPath(p));
  }

  removexattr(_ctx: RequestContext, p: string, name: string): void {
    syscalls.lremovexattr(this.realPath(p), name);
    this.#attrs.dropFile(p);
  }

  /** Close every handle still open (after unmount the kernel sends no more releases). */
  async destroy(): Promise<void> {
    await Promise.all(this.#files.values().map((f) => f.backing.put().catch(() => undefined)));
  }
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
