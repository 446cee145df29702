// OverlayFs: a union of read-only lower layers and one writable upper layer, in the kernel's
// on-disk format. Each operation finds the real entries (namei.ts), copies up what it is about to
// change (copy-up.ts), and acts on the upper layer, leaving whiteouts (whiteout.ts) where a lower
// entry must disappear. File I/O goes through backing-io exactly as in passthrough.
//
// Locks: InodeLocks keyed by mount-relative path; `copyup:<path>` serializes copy-ups of one path,
// `<path>` guards its cached attributes (endWrite). No operation holds two at once, except copyUp's
// recursion, which always goes from a path to its parent (one direction: no cycle).
//
// Metadata syscalls (lstat, open, mkdir, xattrs) are issued synchronously in the request thread, as
// passthrough's default metadata=sync: measured faster than a threadpool hop for µs-long calls on
// local layers. Data I/O and copy-up data go through the threadpool.
//
// st_ino, as the kernel's overlay reports it (#stIno): an entry keeps its lower inode number across
// copy-up, through the life of the mount and — by the overlay.origin xattr, in the kernel's format
// (origin.ts) — across remounts. All layers on one filesystem keep inode numbers unique; layers on
// several filesystems may collide (the kernel's xino is not done).
import type { BigIntStats } from 'node:fs';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  BackingFile,
  BackingFileCtx,
  FsError,
  InodeLocks,
  backingFileCopyRange,
  backingFileFallocate,
  backingFileLseek,
  backingFileOpen,
  backingFileReadIter,
  backingFileWriteIter,
  backingTmpfileOpen,
  TMPFILE_NAME,
  callerOwner,
  syscalls,
  thenMaybe,
} from '@layerfs/backing-io';
import {
  Attr,
  DirEntry,
  Fh,
  PathHandlers,
  HandleTable,
  OpenReply,
  RENAME_EXCHANGE,
  RENAME_NOREPLACE,
  Reply,
  RequestContext,
  SetattrTimes,
  StatFs,
  attrFromStats,
  statFsFrom,
} from '@layerfs/fuse-bridge';
import { CopyUpCtx, assertWritable, copyUp, copyUpParent, copyUpTruncated, markImpure } from './copy-up';
import { OvlEntry, OvlNamei, RealEntry, readRedirect } from './namei';
import { LayerPaths } from './layer-paths';
import { OriginFh } from './origin';
import { DirentIno, readMergedDir } from './readdir';
import { isUpperWhiteout, isWhiteout, makeWhiteout, renameLeavingWhiteout } from './whiteout';
import { OvlXattrs, USER_PREFIX, isPrivateXattr, ovlXattrs } from './xattr-names';
import { OverlayFeatures, WORK_SUBDIR } from './params';

export interface OverlayFsOptions extends OverlayFeatures {
  /** Real lower layer roots, top first. */
  lower: string[];
  upper?: string;
  work?: string;
}

interface OpenFile {
  path: string;
  backing: BackingFile;
}

const { O_RDONLY, O_TRUNC, O_CREAT, O_EXCL } = fs.constants;
const O_ACCMODE = 3; // not in Node's fs.constants
const BIG = { bigint: true } as const;

export class OverlayFs implements PathHandlers {
  readonly namei: OvlNamei;
  /** The only way real paths reach the host: resolved below their layer root, through no symlink. */
  readonly #paths: LayerPaths;
  readonly #cu: CopyUpCtx | undefined;
  readonly #names: OvlXattrs;
  readonly #locks = new InodeLocks<string>();
  readonly #files = new HandleTable<OpenFile>();
  /**
   * upper inode → the lower inode it was copied up from in this mount: st_ino stays put across
   * copy-up without reading the origin back, and where none can be decoded (no CAP_DAC_READ_SEARCH).
   */
  readonly #copiedUp = new Map<bigint, bigint>();
  readonly #originFh: OriginFh;
  readonly #statfsRoot: string;
  readonly backingRoots: readonly string[];
  /** The layers change only through this mount (overlayfs.rst: anything else is undefined). */
  readonly exclusive = true;
  /**
   * The backing-io hooks. No endWrite copy-attr: the overlay keeps no attribute cache (getattr reads
   * the real file, fstat for open files), so there is nothing to update; atime is the host's.
   */
  readonly #ctx: BackingFileCtx = {};

  constructor(opts: OverlayFsOptions) {
    const roots = [...(opts.upper ? [opts.upper] : []), ...opts.lower];
    this.#names = opts.userxattr ? ovlXattrs(USER_PREFIX) : ovlXattrs();
    const workDir = opts.upper && opts.work ? path.join(opts.work, WORK_SUBDIR) : undefined;
    if (workDir) fs.mkdirSync(workDir, { recursive: true });
    this.#paths = new LayerPaths(roots, workDir);
    this.namei = new OvlNamei({ roots, hasUpper: opts.upper !== undefined, paths: this.#paths });
    this.#originFh = new OriginFh(roots, opts.upper !== undefined);
    this.#statfsRoot = roots[0]!;
    this.backingRoots = roots;
    if (opts.upper && opts.work) {
      this.#cu = {
        namei: this.namei,
        upperRoot: opts.upper,
        workDir: workDir!,
        locks: this.#locks,
        durable: !opts.volatile,
        names: this.#names,
        origin: this.#originFh,
        // Lower hard links too, unlike the origin: the kernel's FUSE inode keeps the st_ino it first
        // saw until it is evicted, so reporting another one now would only make d_ino disagree.
        recordOrigin: (upperIno, lower) => {
          if (!lower.st.isDirectory()) this.#copiedUp.set(upperIno, lower.st.ino);
        },
      };
    }
  }

  /**
   * st_ino of a real entry, as the kernel's overlay reports it with its layers on one filesystem:
   * an entry that shows from a lower layer has its own; an upper directory merged with lower ones
   * has the topmost lower one's; an upper copy of a lower file has the lower file's (copied up in
   * this mount: remembered; before: decoded from its overlay.origin); anything else, its own.
   */
  #stIno(st: BigIntStats, isUpper: boolean, origin: () => Buffer | undefined, lowerDir?: RealEntry): bigint {
    if (!isUpper) return st.ino;
    if (st.isDirectory()) return lowerDir?.st.ino ?? st.ino;
    return this.#upperFileIno(st.ino, origin);
  }

  /** An upper non-directory's st_ino: the lower inode it was copied up from, if any, else its own. */
  #upperFileIno(upperIno: bigint, origin: () => Buffer | undefined): bigint {
    const copied = this.#copiedUp.get(upperIno);
    if (copied !== undefined) return copied;
    const fb = origin();
    return (fb && this.#originFh.inoOf(fb)) ?? upperIno;
  }

  /** `st`: a fresh lstat of e.top, where the cached one may be stale. */
  #entryIno(e: OvlEntry, st: BigIntStats = e.top.st): bigint {
    const isUpper = e.upper !== undefined && e.top === e.upper;
    return this.#stIno(
      st,
      isUpper,
      () => this.#readOrigin(e.top.real),
      e.dirs.find((d) => d !== e.upper),
    );
  }

  /** The overlay.origin of an upper entry, by path or by open fd. */
  #readOrigin(at: string | number): Buffer | undefined {
    try {
      return typeof at === 'number'
        ? syscalls.fgetxattr(at, this.#names.origin)
        : syscalls.lgetxattr(this.#paths.at(at), this.#names.origin);
    } catch {
      return undefined; // ENODATA: a pure upper entry
    }
  }

  // -- attributes ---------------------------------------------------------------------------------

  getattr(_ctx: RequestContext, p: string, fh?: Fh): Reply<Attr> {
    const open = this.#files.find(fh);
    if (open) {
      // A handle opened on the lower file follows a later copy-up here too, as reads do.
      return thenMaybe(this.#followCopyUp(open, p), (b) => {
        const st = fs.fstatSync(b.fd, BIG);
        return attrFromStats(
          st,
          this.#stIno(st, !this.#isLowerFile(b), () => this.#readOrigin(b.fd)),
        );
      });
    }
    // Attributes are always read fresh: namei caches which real entries make up a directory, not
    // their size, times or link count.
    const e = this.namei.resolve(p, 'getattr');
    const st = fs.lstatSync(this.#paths.at(e.top.real), BIG);
    const attr = attrFromStats(st, this.#entryIno(e, st));
    // As ovl_getattr: a merged directory's subdirectories are spread over layers, and counting them
    // is not worth a listing; nlink 1 tells find and fts "unknown" rather than a wrong count.
    return st.isDirectory() && e.dirs.length > 1 ? { ...attr, nlink: 1 } : attr;
  }

  async statfs(): Promise<StatFs> {
    // The root's own fd: a stable path across the await.
    return statFsFrom(await fs.promises.statfs(this.#paths.at(this.#statfsRoot), { bigint: true }));
  }

  chmod(_ctx: RequestContext, p: string, mode: number): Promise<void> {
    // chmod follows a final symlink: through an fd of the entry itself.
    return this.#changeAttr('chmod', p, (real) =>
      this.#paths.withFd(real, syscalls.O_PATH, (fd) => fs.chmodSync(`/proc/self/fd/${fd}`, mode)),
    );
  }

  chown(_ctx: RequestContext, p: string, uid: number, gid: number): Promise<void> {
    return this.#changeAttr('chown', p, (real) => fs.lchownSync(this.#paths.at(real), uid, gid));
  }

  utimens(_ctx: RequestContext, p: string, times: SetattrTimes): Promise<void> {
    return this.#changeAttr('utimens', p, (real) => syscalls.lutimens(this.#paths.at(real), times.atime, times.mtime));
  }

  /** Copy up, change, and forget cached entries (namei caches directories with their stat). */
  async #changeAttr(op: string, p: string, change: (real: string) => void): Promise<void> {
    change(await this.#copyUp(op, p));
    this.namei.changed(p);
  }

  async truncate(_ctx: RequestContext, p: string, size: number, fh?: Fh): Promise<void> {
    const open = this.#files.find(fh);
    if (open && !this.#isLowerFile(open.backing)) {
      fs.ftruncateSync(open.backing.fd, size);
      return;
    }
    const real = await this.#copyUp('truncate', p);
    this.#paths.withFd(real, fs.constants.O_WRONLY, (fd) => fs.ftruncateSync(fd, size));
  }

  async #copyUp(op: string, p: string): Promise<string> {
    assertWritable(this.#cu, op, p);
    return copyUp(this.#cu, p);
  }

  #isLowerFile(b: BackingFile): boolean {
    return !this.#cu || !b.realPath.startsWith(this.#cu.upperRoot + '/');
  }

  // -- directories --------------------------------------------------------------------------------

  readdir(_ctx: RequestContext, p: string): DirEntry[] {
    const e = this.namei.resolve(p, 'readdir');
    if (!e.top.st.isDirectory()) throw new FsError('ENOTDIR', 'readdir', p);
    const entries = readMergedDir(this.#paths, e, this.#direntIno(p, e));
    // glibc drops entries whose d_ino is 0, so ".." needs the parent's real number.
    const parent = p === '/' ? e : this.namei.resolve(path.posix.dirname(p), 'readdir');
    const dot = (name: string, d: OvlEntry): DirEntry => ({ name, ino: this.#entryIno(d), type: fs.constants.S_IFDIR });
    return [dot('.', e), dot('..', parent), ...entries];
  }

  /**
   * d_ino = st_ino for the entries of `dir`. Only entries of its upper directory can differ from
   * their real number: subdirectories when something can lie below them (the directory is merged,
   * or impure: a merged directory was moved in), files when the directory is impure (the kernel's
   * marker for "holds copied-up entries"; pure upper directories need no lookups).
   */
  #direntIno(p: string, dir: OvlEntry): DirentIno {
    const upper = dir.upper;
    if (!upper) return (_name, ino) => ino;
    let impure: boolean | undefined;
    const isImpure = () =>
      (impure ??= (() => {
        try {
          return syscalls.lgetxattr(this.#paths.at(upper.real), this.#names.impure).toString() === 'y';
        } catch {
          return false;
        }
      })());
    return (name, ino, type, from) => {
      if (from !== upper) return ino;
      if (type === fs.constants.S_IFDIR || type === 0) {
        if (dir.dirs.length === 1 && !isImpure()) return ino;
        const child = this.namei.lookup(p === '/' ? `/${name}` : `${p}/${name}`);
        return child ? this.#entryIno(child) : ino;
      }
      if (!this.#copiedUp.has(ino) && !isImpure()) return ino;
      return this.#upperFileIno(ino, () => this.#readOrigin(path.join(upper.real, name)));
    };
  }

  /** Prepare the upper layer for a new entry at `p`: parent copied up, any whiteout removed. */
  async #prepareCreate(op: string, p: string): Promise<{ real: string; overWhiteout: boolean }> {
    assertWritable(this.#cu, op, p);
    if (this.namei.lookup(p)) throw new FsError('EEXIST', op, p);
    const parentReal = await copyUpParent(this.#cu, p);
    const real = path.join(parentReal, path.posix.basename(p));
    let overWhiteout = false;
    try {
      const st = fs.lstatSync(this.#paths.at(real), BIG);
      if (isWhiteout(this.#paths.at(real), st)) {
        fs.unlinkSync(this.#paths.at(real));
        overWhiteout = true;
      }
    } catch {
      // nothing there: the usual case
    }
    this.namei.changed(p);
    return { real, overWhiteout };
  }

  async mkdir(ctx: RequestContext, p: string, mode: number): Promise<void> {
    const { real, overWhiteout } = await this.#prepareCreate('mkdir', p);
    fs.mkdirSync(this.#paths.at(real), mode);
    this.#own(real, ctx);
    // Over a whiteout the lower layers may still hold a directory of this name: the new one is
    // opaque, so none of that directory's old entries reappear.
    if (overWhiteout) syscalls.lsetxattr(this.#paths.at(real), this.#names.opaque, Buffer.from('y'));
    this.namei.changed(p);
  }

  async rmdir(_ctx: RequestContext, p: string): Promise<void> {
    assertWritable(this.#cu, 'rmdir', p);
    const e = this.namei.resolve(p, 'rmdir');
    if (!e.top.st.isDirectory()) throw new FsError('ENOTDIR', 'rmdir', p);
    if (readMergedDir(this.#paths, e).length > 0) throw new FsError('ENOTEMPTY', 'rmdir', p);
    await this.#removeEntry(e, true);
  }

  async unlink(_ctx: RequestContext, p: string): Promise<void> {
    assertWritable(this.#cu, 'unlink', p);
    const e = this.namei.resolve(p, 'unlink');
    if (e.top.st.isDirectory()) throw new FsError('EISDIR', 'unlink', p);
    await this.#removeEntry(e, false);
  }

  /** Remove `e` from the view: delete its upper entry, and whiteout the name if a lower has it. */
  async #removeEntry(e: OvlEntry, isDir: boolean): Promise<void> {
    const cu = this.#cu!;
    const parentReal = await copyUpParent(cu, e.path);
    const real = path.join(parentReal, path.posix.basename(e.path));
    if (e.upper) {
      if (isDir) {
        // Only whiteouts can be left in it (it looked empty): they go with it.
        this.#emptyDir(real);
        fs.rmdirSync(this.#paths.at(real));
      } else {
        fs.unlinkSync(this.#paths.at(real));
      }
      this.#paths.changed();
    }
    if (e.inLower) makeWhiteout(this.#paths, real, this.#names);
    if (isDir) this.namei.changedTree(e.path);
    else this.namei.changed(e.path);
  }

  // -- names --------------------------------------------------------------------------------------

  /**
   * rename. Files come up first and move within the upper layer. A directory with lower parts is
   * renamed in O(1) in the kernel's redirect_dir format: it is copied up alone (not its contents),
   * marked with overlay.redirect = the path where the lower layers hold it, and moved; its old name
   * gets a whiteout in the same rename(2) (RENAME_WHITEOUT), so no crash can leave it half-renamed.
   */
  async rename(_ctx: RequestContext, from: string, to: string, flags: number): Promise<void> {
    assertWritable(this.#cu, 'rename', from);
    if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE) || flags === (RENAME_NOREPLACE | RENAME_EXCHANGE))
      throw new FsError('EINVAL', 'rename', from);
    if (flags & RENAME_EXCHANGE) return this.#exchange(from, to);
    if (flags & RENAME_NOREPLACE && this.namei.lookup(to)) throw new FsError('EEXIST', 'rename', to);
    if (from === to) return;
    if (to.startsWith(`${from}/`)) throw new FsError('EINVAL', 'rename', to);
    const src = this.namei.resolve(from, 'rename');
    const dst = this.namei.lookup(to);
    const srcIsDir = src.top.st.isDirectory();
    if (dst?.top.st.isDirectory()) {
      if (!srcIsDir) throw new FsError('EISDIR', 'rename', to);
      if (readMergedDir(this.#paths, dst).length > 0) throw new FsError('ENOTEMPTY', 'rename', to);
    } else if (dst && srcIsDir) {
      throw new FsError('ENOTDIR', 'rename', to);
    }
    const srcReal = await copyUp(this.#cu, from);
    if (srcIsDir && src.dirs.some((d) => d.layer > 0) && readRedirect(this.#paths, srcReal) === undefined) {
      syscalls.lsetxattr(this.#paths.at(srcReal), this.#names.redirect, Buffer.from(src.lowerPath));
    }
    const dstParent = await copyUpParent(this.#cu, to);
    const dstReal = path.join(dstParent, path.posix.basename(to));
    if (path.posix.dirname(from) !== path.posix.dirname(to) && this.#showsLowerIno(src, srcReal))
      markImpure(this.#paths, this.#names, dstParent);
    if (dst?.upper?.st.isDirectory()) {
      // Empty in the merged view, so it holds only whiteouts: clear them so rename(2) may replace it.
      this.#emptyDir(dstReal);
    }
    const overWhiteout = !dst && isUpperWhiteout(this.#paths, dstReal);
    const hidesLower = overWhiteout || (dst?.top.st.isDirectory() === true && dst.dirs.some((d) => d.layer > 0));
    if (srcIsDir && hidesLower && !src.dirs.some((d) => d.layer > 0)) {
      // A directory of the upper layer alone replaces a name the lower layers hold: nothing of the old
      // lower directory may show through. (One with lower parts has a redirect: its lower layers are
      // looked up where it came from, never under its new name.)
      syscalls.lsetxattr(this.#paths.at(srcReal), this.#names.opaque, Buffer.from('y'));
    }
    if (overWhiteout && srcIsDir) {
      // rename(2) cannot put a directory over the whiteout's device node: swap the two (as
      // ovl_rename does), and the whiteout, now at the old name, stays only if that name needs one.
      syscalls.renameat2(this.#paths.at(srcReal), this.#paths.at(dstReal), RENAME_EXCHANGE);
      this.#paths.changed();
      if (!src.inLower) fs.unlinkSync(this.#paths.at(srcReal));
    } else {
      renameLeavingWhiteout(this.#paths, srcReal, dstReal, src.inLower, this.#names);
    }
    this.namei.changedTree(from);
    this.namei.changedTree(to);
  }

  /**
   * RENAME_EXCHANGE: both names are copied up and swapped in the upper layer. A directory with lower
   * parts would need a redirect on each side; those answer EXDEV, as the kernel's overlay does without
   * redirect_dir (callers fall back to other means).
   */
  async #exchange(from: string, to: string): Promise<void> {
    const a = this.namei.resolve(from, 'rename');
    const b = this.namei.resolve(to, 'rename');
    for (const e of [a, b]) {
      if (e.top.st.isDirectory() && e.dirs.some((d) => d.layer > 0)) throw new FsError('EXDEV', 'rename', from);
    }
    const aReal = await copyUp(this.#cu!, from);
    const bReal = await copyUp(this.#cu!, to);
    if (path.dirname(aReal) !== path.dirname(bReal)) {
      if (this.#showsLowerIno(a, aReal)) markImpure(this.#paths, this.#names, path.dirname(bReal));
      if (this.#showsLowerIno(b, bReal)) markImpure(this.#paths, this.#names, path.dirname(aReal));
    }
    syscalls.renameat2(this.#paths.at(aReal), this.#paths.at(bReal), RENAME_EXCHANGE);
    this.#paths.changed();
    this.namei.changedTree(from);
    this.namei.changedTree(to);
  }

  /**
   * Whether the entry `e`, copied up to `upperReal`, reports a lower st_ino: its new directory must
   * then be marked impure (as ovl_rename does), so readdir there looks the number up.
   */
  #showsLowerIno(e: OvlEntry, upperReal: string): boolean {
    if (e.top.st.isDirectory()) return e.dirs.some((d) => d !== e.upper) || readRedirect(this.#paths, upperReal) !== undefined;
    return this.#readOrigin(upperReal) !== undefined;
  }

  async link(_ctx: RequestContext, existing: string, newPath: string, fh?: Fh): Promise<void> {
    if (fh !== undefined) {
      // A file without a name: only one made in the upper layer (O_TMPFILE) can get one; a lower
      // file whose name was whited out must not be hard-linked into the upper layer.
      const { backing } = this.#files.get(fh, existing);
      if (this.#isLowerFile(backing)) throw new FsError('ENOENT', 'link', existing);
      const { real } = await this.#prepareCreate('link', newPath);
      syscalls.linkFd(backing.fd, this.#paths.at(real));
      this.namei.changed(newPath);
      return;
    }
    const e = this.namei.resolve(existing, 'link');
    if (e.top.st.isDirectory()) throw new FsError('EPERM', 'link', existing);
    const srcReal = await this.#copyUp('link', existing);
    const { real } = await this.#prepareCreate('link', newPath);
    fs.linkSync(this.#paths.at(srcReal), this.#paths.at(real));
    this.namei.changed(newPath);
    this.namei.changed(existing);
  }

  async symlink(ctx: RequestContext, target: string, p: string): Promise<void> {
    const { real } = await this.#prepareCreate('symlink', p);
    fs.symlinkSync(target, this.#paths.at(real));
    this.#own(real, ctx);
    this.namei.changed(p);
  }

  async mknod(ctx: RequestContext, p: string, mode: number, rdev: number): Promise<void> {
    const { real } = await this.#prepareCreate('mknod', p);
    syscalls.mknod(this.#paths.at(real), mode, rdev);
    this.#own(real, ctx);
    this.namei.changed(p);
  }

  readlink(_ctx: RequestContext, p: string): string {
    return fs.readlinkSync(this.#paths.at(this.namei.resolve(p, 'readlink').top.real));
  }

  // -- files --------------------------------------------------------------------------------------

  async open(ctx: RequestContext, p: string, flags: number): Promise<OpenReply> {
    const e = this.namei.resolve(p, 'open');
    const writes = (flags & O_ACCMODE) !== O_RDONLY || (flags & O_TRUNC) !== 0;
    let real = e.top.real;
    if (writes && !e.upper) {
      assertWritable(this.#cu, 'open', p);
      real = await (flags & O_TRUNC ? copyUpTruncated(this.#cu, p) : copyUp(this.#cu, p));
    }
    const backing = await backingFileOpen({
      userPath: p,
      realPath: real,
      flags,
      cred: ctx,
      createFlags: flags & O_TRUNC,
      openFile: this.#openReal,
    });
    return this.#register(p, backing);
  }

  async create(ctx: RequestContext, p: string, mode: number, flags: number): Promise<OpenReply> {
    const { real } = await this.#prepareCreate('create', p);
    const backing = await backingFileOpen({
      userPath: p,
      realPath: real,
      flags,
      cred: ctx,
      mode,
      createFlags: O_CREAT | O_EXCL,
      openFile: this.#openReal,
    });
    this.#own(real, ctx, backing.fd);
    this.namei.changed(p);
    return this.#register(p, backing);
  }

  /** As the kernel's ovl_tmpfile: in the upper directory, copied up first. */
  async tmpfile(ctx: RequestContext, dir: string, mode: number, flags: number): Promise<OpenReply> {
    assertWritable(this.#cu, 'tmpfile', dir);
    if (!this.namei.resolve(dir, 'tmpfile').top.st.isDirectory()) throw new FsError('ENOTDIR', 'tmpfile', dir);
    const upperDir = await this.#copyUp('tmpfile', dir);
    const userPath = `${dir}/${TMPFILE_NAME}`;
    const backing = await backingTmpfileOpen({ userPath, dir: upperDir, flags, cred: ctx, mode, openFile: this.#openReal });
    this.#own(backing.realPath, ctx, backing.fd);
    return this.#register(userPath, backing);
  }

  #register(p: string, backing: BackingFile): OpenReply {
    return { fh: this.#files.add({ path: p, backing }), backing };
  }

  read(_ctx: RequestContext, p: string, fh: Fh, buf: Buffer, position: number): Reply<number> {
    const f = this.#files.get(fh, p);
    return thenMaybe(this.#followCopyUp(f, p), (b) => backingFileReadIter(b, { buf }, { pos: position, flags: b.iocbFlags }, this.#ctx));
  }

  /**
   * The kernel's behaviour since 4.19 (stacked file operations): a file opened read-only before a
   * copy-up reads the upper file afterwards (ovl_real_fdget re-opens it). Only a MAP_SHARED mapping
   * made before the copy-up keeps showing the lower file.
   */
  #followCopyUp(f: OpenFile, current: string): BackingFile | Promise<BackingFile> {
    if (!this.#cu || !this.#isLowerFile(f.backing)) return f.backing;
    // `current` is the name the handle's node has now (the node, not the name it was opened by: after
    // a rename another file may have that name); a node without a name has nothing to follow.
    if (!current.startsWith('/')) return f.backing;
    const e = this.namei.lookup(current);
    if (!e?.upper || !e.upper.st.isFile()) return f.backing;
    return thenMaybe(
      backingFileOpen({ userPath: f.path, realPath: e.upper.real, flags: f.backing.flags, openFile: this.#openReal }),
      (b) => {
        const old = f.backing;
        f.backing = b;
        void old.put().catch(() => undefined);
        return b;
      },
    );
  }

  write(_ctx: RequestContext, p: string, fh: Fh, buf: Buffer, position: number): Promise<number> {
    const { backing } = this.#files.get(fh, p);
    return backingFileWriteIter(backing, { buf }, { pos: position, flags: backing.iocbFlags }, this.#ctx);
  }

  async fsync(_ctx: RequestContext, _p: string, datasync: boolean, fh?: Fh): Promise<void> {
    const f = this.#files.find(fh);
    if (!f) return;
    f.backing.get();
    try {
      await (datasync ? f.backing.io.fdatasync(f.backing.fd) : f.backing.io.fsync(f.backing.fd));
    } finally {
      await f.backing.put();
    }
  }

  release(_ctx: RequestContext, p: string, fh: Fh): Promise<void> {
    return this.#files.remove(fh, p).backing.put();
  }

  // -- ranges (wire transport only) ---------------------------------------------------------------
  // A handle that can write was copied up at open, so fallocate and a copy's destination act on the
  // upper file; reads of ranges (SEEK_DATA, a copy's source) follow a later copy-up as read does.

  fallocate(_ctx: RequestContext, p: string, fh: Fh, mode: number, offset: number, length: number): void {
    backingFileFallocate(this.#files.get(fh, p).backing, mode, offset, length);
  }

  lseek(_ctx: RequestContext, p: string, fh: Fh, offset: number, whence: number): Reply<number> {
    return thenMaybe(this.#followCopyUp(this.#files.get(fh, p), p), (b) => backingFileLseek(b, offset, whence));
  }

  copyFileRange(
    _ctx: RequestContext,
    from: { path: string; fh: Fh; offset: number },
    to: { path: string; fh: Fh; offset: number },
    length: number,
  ): Reply<number> {
    const dst = this.#files.get(to.fh, to.path).backing;
    return thenMaybe(this.#followCopyUp(this.#files.get(from.fh, from.path), from.path), (src) =>
      backingFileCopyRange(src, from.offset, dst, to.offset, length),
    );
  }

  // -- extended attributes ------------------------------------------------------------------------

  async setxattr(_ctx: RequestContext, p: string, name: string, value: Buffer, flags: number): Promise<void> {
    if (isPrivateXattr(name)) throw new FsError('EPERM', 'setxattr', p);
    await this.#changeAttr('setxattr', p, (real) => syscalls.lsetxattr(this.#paths.at(real), name, value, flags));
  }

  getxattr(_ctx: RequestContext, p: string, name: string): Buffer {
    if (isPrivateXattr(name)) throw new FsError('ENODATA', 'getxattr', p);
    return syscalls.lgetxattr(this.#paths.at(this.namei.resolve(p, 'getxattr').top.real), name);
  }

  listxattr(_ctx: RequestContext, p: string): string[] {
    return syscalls.llistxattr(this.#paths.at(this.namei.resolve(p, 'listxattr').top.real)).filter((n) => !isPrivateXattr(n));
  }

  async removexattr(_ctx: RequestContext, p: string, name: string): Promise<void> {
    if (isPrivateXattr(name)) throw new FsError('ENODATA', 'removexattr', p);
    const e = this.namei.resolve(p, 'removexattr');
    syscalls.lgetxattr(this.#paths.at(e.top.real), name); // ENODATA before any copy-up
    await this.#changeAttr('removexattr', p, (real) => syscalls.lremovexattr(this.#paths.at(real), name));
  }

  async destroy(): Promise<void> {
    await Promise.all(this.#files.values().map((f) => f.backing.put().catch(() => undefined)));
    this.#originFh.close();
    this.#paths.close();
  }

  /** open(2) of a real file for backing-io: below its layer root, never through a symlink. */
  readonly #openReal = (real: string, flags: number, mode: number): number => this.#paths.open(real, flags, mode);

  /** A new upper entry goes to the caller (see backing-io's callerOwner); `fd` when it is open. */
  #own(real: string, ctx: RequestContext, fd?: number): void {
    const owner = callerOwner(ctx, () => Number(fs.lstatSync(this.#paths.at(path.dirname(real))).mode));
    if (!owner) return;
    if (fd !== undefined) fs.fchownSync(fd, owner.uid, owner.gid);
    else fs.lchownSync(this.#paths.at(real), owner.uid, owner.gid);
  }

  /** Remove everything in the upper directory `real` (whiteouts, in a directory that looks empty). */
  #emptyDir(real: string): void {
    this.#paths.withFd(real, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY, (fd) => removeEntries(fd));
    this.#paths.changed();
  }
}

/** Unlink every entry of the directory `fd`, descending into directories without following symlinks. */
function removeEntries(fd: number): void {
  for (const e of syscalls.readdirFd(fd)) {
    if (e.type === fs.constants.S_IFDIR) {
      const sub = syscalls.openat(fd, e.name, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW | 0o2000000);
      try {
        removeEntries(sub);
      } finally {
        syscalls.close(sub);
      }
      syscalls.unlinkAt(fd, e.name, { dir: true });
    } else {
      syscalls.unlinkAt(fd, e.name);
    }
  }
}
