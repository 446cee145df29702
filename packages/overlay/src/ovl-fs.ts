// The overlay's shared state — the kernel's struct ovl_fs — and the few steps every operation file
// (inode.ts, dir.ts, file.ts, xattr.ts) takes from a node to its real entries.
//
// Locks: InodeLocks keyed by node. A copy-up holds its node's lock while it copies (two first writes
// of one file copy it once); it copies the parent chain up first, before taking its own lock, so no
// operation ever holds two locks at once and there is no order to keep.
//
// Metadata syscalls (lstat, open, mkdir, xattrs) are issued synchronously in the request thread, as
// in passthrough: measured faster than a threadpool hop for µs-long calls on local layers. Data I/O
// and copy-up data go through the threadpool.
//
// st_ino, as the kernel's overlay reports it (foundIno): an entry keeps its lower inode number across
// copy-up, through the life of the mount and — by the overlay.origin xattr, in the kernel's format
// (origin.ts) — across remounts. All layers on one filesystem keep inode numbers unique; layers on
// several filesystems may collide (the kernel's xino is not done).
import type { BigIntStats } from 'node:fs';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BackingFileCtx, FsError, InodeLocks, callerOwner, syscalls } from '@layerfs/backing-io';
import { Attr, HandleTable, RequestContext, attrFromStats } from '@layerfs/fuse-bridge';
import type { CopyUpCtx } from './copy-up';
import { LayerPaths } from './layer-paths';
import { OvlDir, OvlEntry, OvlNamei, RealRef } from './namei';
import { OriginFh } from './origin';
import { OvlFile, OvlInode, OvlInodeTable, OvlState } from './ovl-inode';
import { isWhiteout } from './whiteout';
import { OverlayFeatures, RedirectMode, WORK_SUBDIR, metacopyFollows, redirectMode } from './params';
import { OvlXattrs, USER_PREFIX, ovlXattrs } from './xattr-names';
import { StatOverride } from './override-stat';

export interface OverlayFsOptions extends OverlayFeatures {
  /** Real lower layer roots, top first. */
  lower: string[];
  /** Real data-only layer roots, top first (reached only by metadata-only files' absolute redirects). */
  data?: string[];
  upper?: string;
  work?: string;
}

const S_IFMT = fs.constants.S_IFMT;
const ref = (r: RealRef): RealRef => (r.absent ? { layer: r.layer, real: r.real, absent: true } : { layer: r.layer, real: r.real });

export class Ovl {
  readonly roots: readonly string[];
  readonly upperRoot: string | undefined;
  /** The only way real paths reach the host: resolved below their layer root, through no symlink. */
  readonly paths: LayerPaths;
  readonly namei: OvlNamei;
  readonly names: OvlXattrs;
  readonly originFh: OriginFh;
  readonly inodes: OvlInodeTable;
  readonly files = new HandleTable<OvlFile>();
  /** Keyed by node id (0: a node made for one request, which the kernel does not hold). */
  readonly locks = new InodeLocks<number>();
  /** Set when there is an upper layer and a work directory: the mount can change things. */
  readonly cu: CopyUpCtx | undefined;
  /**
   * upper inode → the lower inode it was copied up from in this mount (files with one link): d_ino
   * agrees with st_ino without reading the origin back, also where none can be decoded (no
   * CAP_DAC_READ_SEARCH) or none could be written.
   */
  readonly copiedUp = new Map<bigint, bigint>();
  #lastMiss: { parent: OvlInode; name: string; changes: number } | undefined;
  /**
   * The backing-io hooks. No endWrite copy-attr: the overlay keeps no attribute cache (getattr reads
   * the real file, fstat for open files), so there is nothing to update; atime is the host's.
   */
  readonly io: BackingFileCtx = {};
  /** fsync=0 or volatile: fsync requests return at once. */
  readonly noFsync: boolean;
  /** redirect_dir as settled against userxattr: whether renames write redirects, lookups follow them. */
  readonly redirects: RedirectMode;
  /**
   * metacopy=on: metadata-only copies are followed, and a change of a lower regular file's metadata
   * alone copies up only its metadata, as the kernel's (copy-up.ts copyUpMetadata).
   */
  readonly metacopy: boolean;
  /** noxattrs: no extended attributes through the mount (the layers' own are still copied up). */
  readonly noXattrs: boolean;
  /** Owners and modes kept in xattrs (fuse-overlayfs's xattr_permissions, containers/storage's force_mask). */
  readonly override: StatOverride;

  constructor(opts: OverlayFsOptions) {
    this.roots = [...(opts.upper ? [opts.upper] : []), ...opts.lower];
    // The kernel's volatile omits every sync to the upper layer (overlayfs.rst), fsync(2) included.
    this.noFsync = opts.noFsync === true || opts.volatile === true;
    this.upperRoot = opts.upper;
    this.names = opts.userxattr ? ovlXattrs(USER_PREFIX) : ovlXattrs();
    this.redirects = redirectMode(opts.redirectDir, opts.userxattr === true);
    this.noXattrs = opts.noXattrs === true;
    this.metacopy = metacopyFollows(opts.metacopy, opts.redirectDir, opts.userxattr === true);
    const workDir = opts.upper && opts.work ? path.join(opts.work, WORK_SUBDIR) : undefined;
    if (workDir) fs.mkdirSync(workDir, { recursive: true });
    const dataRoots = opts.data ?? [];
    this.paths = new LayerPaths([...this.roots, ...dataRoots], workDir);
    this.override = new StatOverride(
      (i) => this.paths.at(this.roots[i]!),
      this.roots.length,
      opts.upper !== undefined,
      opts.xattrPermissions ?? 0,
    );
    this.namei = new OvlNamei({
      roots: [...this.roots],
      dataRoots: [...dataRoots],
      hasUpper: opts.upper !== undefined,
      paths: this.paths,
      redirect: { xattr: this.names.redirect, follow: this.redirects.follow },
      metacopy: { xattr: this.names.metacopy, follow: this.metacopy },
    });
    this.originFh = new OriginFh(this.roots, opts.upper !== undefined, opts.uuidOff === true);
    const root = this.found(this.namei.root());
    this.inodes = new OvlInodeTable(root.state, root.ino);
    if (opts.upper && workDir) {
      this.cu = {
        ovl: this,
        upperRoot: opts.upper,
        workDir,
        durable: !opts.volatile,
        recordOrigin: (upperIno, lowerIno) => this.copiedUp.set(upperIno, lowerIno),
      };
    }
  }

  // -- from a node to its real entries ------------------------------------------------------------

  /** The node's entry in the upper layer (which it may not have yet): the upper root plus its path. */
  upperReal(n: OvlInode): string {
    const p = n.path();
    return p === '/' ? this.upperRoot! : this.upperRoot! + p;
  }

  /** The real entry that shows for the node. */
  topReal(n: OvlInode): string {
    if (n.state.hasUpper) return this.upperReal(n);
    const top = n.state.lower[0];
    if (!top) throw new FsError('ENOENT', 'lookup', n.name);
    return top.real;
  }

  /** The real file whose data `n` shows: a metadata-only copy's lower data file, else topReal. */
  dataReal(n: OvlInode): string {
    this.checkData(n, 'open');
    return n.state.lowerData?.real ?? this.topReal(n);
  }

  /**
   * ENOENT for a metadata-only file whose data no data-only layer holds as a regular file: its open
   * and every copy-up of it (data or not) fail so, as the kernel's lazy lookup of the data does.
   */
  checkData(n: OvlInode, syscall: string): void {
    if (n.state.lowerData?.absent) throw new FsError('ENOENT', syscall, n.name, 'no data-only layer holds its data as a regular file');
  }

  /** The real directories merged into directory `n`, top first, for lookupChild and readdir. */
  dirOf(n: OvlInode): OvlDir {
    const s = n.state;
    const dirs = s.hasUpper ? [{ layer: 0, real: this.upperReal(n) } as RealRef].concat(s.lower) : s.lower;
    return { path: n.path(), dirs, lowerPath: s.lowerPath };
  }

  /** Whether the upper layer already holds `n` (copied up through another node for the same name). */
  upperExists(n: OvlInode): boolean {
    const real = this.upperReal(n);
    try {
      const st = this.paths.lstat(real);
      return !isWhiteout(this.paths, real, st);
    } catch {
      return false;
    }
  }

  lstat(n: OvlInode): BigIntStats {
    return this.paths.lstat(this.topReal(n));
  }

  /** getattr's answer for `n` from a fresh stat of its real entry (`fd`: an open fd of that entry). */
  attrOf(n: OvlInode, st: BigIntStats, fd?: number): Attr {
    let attr = attrFromStats(st, n.ino);
    if (this.override.active) {
      const layer = n.state.hasUpper ? 0 : n.state.lower[0]?.layer;
      const at = fd ?? (n.detached ? undefined : this.paths.at(this.topReal(n)));
      if (layer !== undefined && at !== undefined) attr = this.override.apply(attr, layer, at);
    }
    // As ovl_getattr: a merged directory's subdirectories are spread over layers, and counting them
    // is not worth a listing; nlink 1 tells find and fts "unknown" rather than a wrong count.
    const merged = n.state.lower.length + (n.state.hasUpper ? 1 : 0) > 1;
    if (st.isDirectory() && merged) return { ...attr, nlink: 1 };
    // As ovl_getattr: a metadata-only copy occupies what its data file does; where no data-only
    // layer holds the data, what the kernel guesses before its lazy lookup of it: the size rounded
    // up to whole blocks.
    const data = n.state.lowerData;
    if (data?.absent) {
      const bs = BigInt(attr.blksize || 4096);
      return { ...attr, blocks: (((attr.size + bs - 1n) / bs) * bs) / 512n };
    }
    if (data) return { ...attr, blocks: this.paths.lstatIfAny(data.real)?.blocks ?? attr.blocks };
    return attr;
  }

  // -- lookup -------------------------------------------------------------------------------------

  /** ovl_lookup of `name` in directory `parent`, without making a node. */
  lookupEntry(parent: OvlInode, name: string): OvlEntry | null {
    if (!parent.isDir) throw new FsError('ENOTDIR', 'lookup', parent.name);
    return this.namei.lookupChild(this.dirOf(parent), name);
  }

  /** A node's view of what a lookup found, and the st_ino it will report. */
  found(e: OvlEntry): { state: OvlState; ino: bigint } {
    const type = Number(e.top.st.mode) & S_IFMT;
    const isDir = e.top.st.isDirectory();
    const lower = isDir ? e.dirs.filter((d) => d !== e.upper).map(ref) : e.top !== e.upper ? [ref(e.top)] : [];
    const state: OvlState = {
      type,
      hasUpper: e.upper !== undefined,
      lower,
      inLower: e.inLower,
      lowerData: e.data && ref(e.data),
      lowerPath: e.lowerPath,
      lowerXattrNames: undefined,
    };
    return { state, ino: this.foundIno(e) };
  }

  /**
   * st_ino of an entry, as the kernel's overlay reports it with its layers on one filesystem: one
   * that shows from a lower layer has its own; an upper directory merged with lower ones has the
   * topmost lower one's; an upper copy of a lower file has the lower file's (copied up in this mount:
   * remembered; before: decoded from its overlay.origin); anything else, its own.
   */
  foundIno(e: OvlEntry): bigint {
    if (e.upper === undefined || e.top !== e.upper) return e.top.st.ino;
    if (e.top.st.isDirectory()) return e.dirs.find((d) => d !== e.upper)?.st.ino ?? e.top.st.ino;
    return this.upperFileIno(e.top.st.ino, () => this.readOrigin(e.top.real));
  }

  /** An upper non-directory's st_ino: the lower inode it was copied up from, if any, else its own. */
  upperFileIno(upperIno: bigint, origin: () => Buffer | undefined): bigint {
    const copied = this.copiedUp.get(upperIno);
    if (copied !== undefined) return copied;
    const fb = origin();
    return (fb && this.originFh.inoOf(fb)) ?? upperIno;
  }

  /** The overlay.origin of an upper entry, by real path or by open fd. */
  readOrigin(at: string | number): Buffer | undefined {
    // Absent is the usual answer (every file made in the upper layer): by value, no exception made
    // on a lookup's path.
    try {
      return typeof at === 'number'
        ? syscalls.lgetxattrIfAny('', this.names.origin, { fd: at })
        : this.paths.getxattr(at, this.names.origin);
    } catch {
      return undefined; // ENODATA: a pure upper entry
    }
  }

  /**
   * The node for `name` in `parent` without counting a lookup: the kernel's, when it has one (the
   * usual case: it looks a name up before it changes it), else one made for this request only.
   */
  peek(parent: OvlInode, name: string, op: string): OvlInode {
    const known = this.inodes.child(parent, name);
    if (known) return known;
    const e = this.lookupEntry(parent, name);
    if (!e) throw new FsError('ENOENT', op, parent.childPath(name));
    const { state, ino } = this.found(e);
    return new OvlInode(0, parent, name, state, ino);
  }

  /** Whether `name` shows in `parent`. */
  exists(parent: OvlInode, name: string): boolean {
    if (this.inodes.child(parent, name) !== undefined) return true;
    const miss = this.#lastMiss;
    if (miss !== undefined && miss.parent === parent && miss.name === name && miss.changes === this.inodes.changes) return false;
    return this.lookupEntry(parent, name) !== null;
  }

  /**
   * A LOOKUP found nothing for `name`: remembered (the last one only) until the next change through
   * this mount, so the CREATE or MKDIR the kernel sends next for it does not look through every
   * layer again. The layers change only through the mount (the kernel caches negative entries on
   * the same assumption, for negative_timeout). What exists() guards against is a visible lower
   * entry, and none can appear without a change through the mount; a name made in the upper layer
   * meanwhile is refused by the exclusive create there in any case.
   */
  missed(parent: OvlInode, name: string): void {
    this.#lastMiss = { parent, name, changes: this.inodes.changes };
  }

  /** Look `name` up again after this mount changed it (a rename, a create), keeping a known node's st_ino. */
  refresh(n: OvlInode): void {
    if (n.detached || !n.parent) return;
    const e = this.lookupEntry(n.parent, n.name);
    if (!e) return;
    const { state } = this.found(e);
    // A non-directory copied up in this mount keeps the lower entry it came from (its st_ino's source).
    if (!n.isDir && state.lower.length === 0) state.lower = n.state.lower;
    n.state = state;
  }

  // -- ownership ----------------------------------------------------------------------------------

  /** A new upper entry goes to the caller (see backing-io's callerOwner); `fd` when it is open. */
  own(real: string, ctx: RequestContext, fd?: number): void {
    if (this.override.upperName !== undefined) {
      const uid = ctx.uid ?? process.geteuid!();
      const gid = ctx.gid ?? process.getegid!();
      this.override.own(fd ?? this.paths.at(real), this.paths.at(path.dirname(real)), uid, gid);
      return;
    }
    const owner = callerOwner(ctx, () => Number(this.paths.lstat(path.dirname(real)).mode));
    if (!owner) return;
    if (fd !== undefined) fs.fchownSync(fd, owner.uid, owner.gid);
    else {
      const { dir, name } = this.paths.parentOf(real);
      syscalls.fchownAt(dir, name, owner.uid, owner.gid);
    }
  }

  close(): void {
    this.originFh.close();
    this.paths.close();
  }
}

export function assertWritable(ovl: Ovl, op: string, at: string): CopyUpCtx {
  if (!ovl.cu) throw new FsError('EROFS', op, at);
  return ovl.cu;
}
