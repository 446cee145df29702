// Copy-up: make a lower entry exist in the upper layer before it is changed. Models
// fs/overlayfs/copy_up.c: parents first (with their mode, owner, times and xattrs), then the entry,
// built in workdir/work, its data fsync'd (unless `volatile`) and renamed into place — a crash of the
// daemon or of the machine leaves either no copy or a whole one, and the partial file in workdir is
// removed at the next mount.
//
// The race (two first-writes of one file at once): a lock-free check, then the node's lock, then a
// re-check, so the data is copied once. The data itself: copy-data.ts (small cached files in the
// request, sparse ones without their holes, the rest on the threadpool: other requests go on).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FsError, fdPath, syscalls } from '@layerfs/backing-io';
import type { HostPath } from '@layerfs/backing-io';
import { createLogger } from '@layerfs/fuse-bridge';
import type { Ovl } from './ovl-fs';
import type { OvlInode } from './ovl-inode';
import type { LayerPaths } from './layer-paths';
import type { RealRef } from './namei';
import { OvlXattrs, isPrivateXattr } from './xattr-names';
import { NEW_FILE, copyData } from './copy-data';

const log = createLogger('overlay:copy-up');

export interface CopyUpCtx {
  ovl: Ovl;
  upperRoot: string;
  /** workdir/work: the scratch directory on the upper layer's filesystem. */
  workDir: string;
  /**
   * fsync a copied-up file's data before renaming it into place, as the kernel does unless mounted
   * `volatile`: otherwise a machine crash can leave the rename durable and the data not — an empty
   * or partial file in the upper layer, hiding the intact lower one.
   */
  durable: boolean;
  /** Called after a copy-up of a file with one link: the upper inode now stands for the lower one. */
  recordOrigin(upperIno: bigint, lowerIno: bigint): void;
}

/** Mark an upper directory impure (once): it now holds an entry whose st_ino is not its own. */
export function markImpure(paths: LayerPaths, names: OvlXattrs, upperDir: string): void {
  let mark: Buffer | undefined;
  try {
    mark = paths.getxattr(upperDir, names.impure);
  } catch {
    mark = undefined; // not marked yet
  }
  if (mark?.toString() !== 'y') paths.setxattr(upperDir, names.impure, Buffer.from('y'));
}

/** Make `n` exist in the upper layer (its parents first); answers its upper real path. */
export function copyUp(ctx: CopyUpCtx, n: OvlInode): Promise<string> {
  return copyUpAs(ctx, n, 'with-data');
}

/**
 * For an open with O_TRUNC: the same, but a regular file comes up empty — its data would be thrown
 * away at once (the kernel's ovl_copy_up_flags with O_TRUNC does the same).
 */
export function copyUpTruncated(ctx: CopyUpCtx, n: OvlInode): Promise<string> {
  return copyUpAs(ctx, n, 'truncated');
}

/**
 * For a change of metadata alone (chmod, chown, utimens, xattrs) under metacopy=on: a
 * regular file comes up as the kernel's metadata-only copy (ovl_need_meta_copy_up) — sparse at its
 * size, marked overlay.metacopy, its data read from the lower file until a write or truncate brings
 * it up (copyUpMetacopyData). Anything else, or without metacopy=on, comes up whole.
 */
export function copyUpMetadata(ctx: CopyUpCtx, n: OvlInode): Promise<string> {
  return copyUpAs(ctx, n, ctx.ovl.metacopy && n.state.type === fs.constants.S_IFREG ? 'metadata' : 'with-data');
}

type CopyUpKind = 'with-data' | 'truncated' | 'metadata';

async function copyUpAs(ctx: CopyUpCtx, n: OvlInode, kind: CopyUpKind): Promise<string> {
  if (n.state.hasUpper && (n.state.lowerData === undefined || kind === 'metadata')) return ctx.ovl.upperReal(n);
  ctx.ovl.checkData(n, 'copy-up');
  // The parent chain first, before this node's lock: no copy-up holds two locks.
  if (n.parent) await copyUp(ctx, n.parent);
  const unlock = await ctx.ovl.locks.lock(n.id);
  try {
    if (!n.state.hasUpper) {
      // An unlinked file has no name to come up under (the kernel's copy-up of an unhashed dentry).
      if (n.detached) throw new FsError('ENOENT', 'copy-up', n.name);
      // Re-checked on disk too: a node made for one request and the kernel's node for the same name
      // do not share a lock, and a copy must never replace one already made (and maybe written):
      // then the node takes what the other made (whole, or a metadata-only copy).
      if (ctx.ovl.upperExists(n)) {
        ctx.ovl.refresh(n);
      } else {
        const lower = n.state.lower[0]!;
        const metadataOnly = await copyUpOne(ctx, n, kind);
        n.state.hasUpper = true;
        // A metadata-only copy reads the data the lower entry did: its file, or the data below it.
        n.state.lowerData = metadataOnly ? (n.state.lowerData ?? { layer: lower.layer, real: lower.real }) : undefined;
      }
    }
    if (n.state.lowerData !== undefined && kind !== 'metadata') {
      if (n.detached) throw new FsError('ENOENT', 'copy-up', n.name);
      await copyUpMetacopyData(ctx, n, n.state.lowerData, kind);
      n.state.lowerData = undefined;
    }
    return ctx.ovl.upperReal(n);
  } finally {
    unlock();
  }
}

let tempSeq = 0;
/**
 * A work-directory name no other copy-up uses: this process's own sequence (as the kernel's
 * ovl_tempname counter), with the pid and a random tail for leftovers of an earlier daemon; every
 * create of it is exclusive anyway. Not node:crypto: loading it was 3 ms of each mount's start.
 */
export function tempName(): string {
  return `#${process.pid.toString(16)}.${(tempSeq++).toString(16)}.${Math.floor(Math.random() * 0xffffffff).toString(16)}`;
}

/** Copy the lower entry of `n` up as `kind` says; answers whether the copy is a metadata-only one. */
async function copyUpOne(ctx: CopyUpCtx, n: OvlInode, kind: CopyUpKind): Promise<boolean> {
  const paths = ctx.ovl.paths;
  const src = n.state.lower[0];
  if (!src) throw new FsError('ENOENT', 'copy-up', n.name);
  const st = paths.lstat(src.real);
  // The lower entry is found again by its path: one swapped behind the mount for another type (a
  // directory for a symlink to somewhere else) is not what the node stands for, and must not come
  // up in its place.
  if ((Number(st.mode) & fs.constants.S_IFMT) !== n.state.type)
    throw new FsError('ESTALE', 'copy-up', src.real, 'the lower entry changed type behind the mount');
  const metadataOnly = st.isFile() && kind === 'metadata';
  const dest = ctx.ovl.upperReal(n);
  // The copy is made under a temporary name in the work directory, by that name in the work
  // directory's fd (it lives with the mount): stable across the awaits below, and no procfs walk
  // per call. Paths and fds of the layers (paths.at, parentOf) are used synchronously only.
  const work = paths.workFd;
  const tmpName = tempName();
  const tmp = paths.workPath(path.join(ctx.workDir, tmpName));
  log.debug(`${dest}: from layer ${src.layer} (${st.size} bytes)`);
  // As the kernel (ovl_do_copy_up): no origin for a file with lower hard links — each name copied up
  // becomes its own inode, and one lower number must not stand for several upper files.
  let origin: Buffer | undefined;
  if (st.isDirectory() || st.nlink === 1n) {
    const at = paths.parentOf(src.real);
    origin = ctx.ovl.originFh.encode(at.name, src.layer, at.dir);
  }
  if (origin) markImpure(paths, ctx.ovl.names, path.dirname(dest));
  /** The copy's own fd, where making it opened one: its fsync goes through it. */
  let made: number | undefined;
  try {
    if (st.isDirectory()) {
      syscalls.mkdirAt(work, tmpName, Number(st.mode) & 0o7777);
    } else if (st.isFile() && kind !== 'with-data') {
      made = syscalls.openat(work, tmpName, NEW_FILE, 0o600);
      // A metadata-only copy has its size and no data blocks: the data stays below.
      if (metadataOnly) fs.ftruncateSync(made, Number(st.size));
    } else if (st.isFile()) {
      // A metadata-only copy in a lower layer (stacked from a kernel overlay's metacopy=on upper)
      // comes up whole: its metadata from `src`, its data from the file below that holds it.
      made = await copyData(paths, (n.state.lowerData ?? src).real, { dir: work, name: tmpName, path: tmp });
    } else if (st.isSymbolicLink()) {
      fs.symlinkSync(fs.readlinkSync(paths.at(src.real), { encoding: 'buffer' }), tmp);
    } else {
      syscalls.mknodAt(work, tmpName, Number(st.mode), st.rdev);
    }
    copyMetadata(ctx.ovl, src, st, work, tmpName, tmp);
    if (origin) setOrigin(ctx, work, tmpName, origin);
    if (metadataOnly) syscalls.lsetxattr(tmpName, ctx.ovl.names.metacopy, Buffer.alloc(0), 0, { dir: work });
    if (ctx.durable && st.isFile() && kind === 'with-data') await (made !== undefined ? fsyncFd(made) : fsyncPath(tmp));
    // The atomic step: until here nothing is visible in the upper layer. The path of `dest` is
    // taken again after the awaits: a rename of a parent meanwhile moved where the copy belongs.
    const { dir, name } = paths.parentOf(ctx.ovl.upperReal(n));
    syscalls.renameAt(work, tmpName, dir, name);
  } catch (err) {
    await fs.promises.rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    throw err;
  } finally {
    if (made !== undefined) fs.closeSync(made);
  }
  // st_ino after copy-up, as the kernel's ovl_getattr: a directory keeps the merged number (its
  // node's, unchanged); a file with one link keeps the lower number; a lower hard link is a file of
  // its own now, with its own number (the other names stay the lower inode).
  if (st.isDirectory()) return false;
  const upperIno = paths.lstat(ctx.ovl.upperReal(n)).ino;
  if (st.nlink === 1n) ctx.recordOrigin(upperIno, st.ino);
  else n.ino = upperIno;
  return metadataOnly;
}

/**
 * The data of a metadata-only copy in the upper layer (the kernel's metacopy=on), brought up into
 * that same file, as ovl_copy_up_meta_inode_data does: the file keeps its inode, owner, xattrs and
 * origin. The metacopy mark goes last — until then a lookup still reads the lower data, so a daemon
 * killed mid-copy leaves a file whose partial data nobody sees. Writing the data clears
 * security.capability (and, where the daemon lacks CAP_FSETID, set-id bits), and libuv's copy sets
 * the source's mode: the mode, the capability and the times are put back.
 */
async function copyUpMetacopyData(ctx: CopyUpCtx, n: OvlInode, data: RealRef, kind: CopyUpKind): Promise<void> {
  const paths = ctx.ovl.paths;
  const real = ctx.ovl.upperReal(n);
  const st = paths.lstat(real);
  log.debug(`${real}: data from layer ${data.layer} (${st.size} bytes; it was a metadata-only copy)`);
  let caps: Buffer | undefined;
  try {
    caps = syscalls.lgetxattrIfAny(paths.at(real), CAPS);
  } catch {
    caps = undefined; // no security xattrs on this filesystem
  }
  const to = paths.open(real, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
  try {
    if (!fs.fstatSync(to).isFile()) throw new FsError('ESTALE', 'copy-up', real, 'no longer a regular file');
    if (kind === 'with-data') {
      await copyData(paths, data.real, { fd: to });
      if (BigInt(fs.fstatSync(to).size) !== st.size) fs.ftruncateSync(to, Number(st.size));
      if (ctx.durable) await new Promise<void>((res, rej) => fs.fsync(to, (err) => (err ? rej(err) : res())));
    } else {
      fs.ftruncateSync(to, 0);
    }
    fs.fchmodSync(to, Number(st.mode) & 0o7777);
    if (caps) syscalls.lsetxattr(fdPath(to), CAPS, caps, 0, { follow: true });
    syscalls.utimensAt(-100 /* AT_FDCWD */, fdPath(to), st.atimeNs, st.mtimeNs, { follow: true });
  } finally {
    fs.closeSync(to);
  }
  syscalls.lremovexattr(paths.at(ctx.ovl.upperReal(n)), ctx.ovl.names.metacopy);
}

const CAPS = 'security.capability';

function setOrigin(ctx: CopyUpCtx, dir: number, name: string, origin: Buffer): void {
  try {
    syscalls.lsetxattr(name, ctx.ovl.names.origin, origin, 0, { dir });
  } catch (err) {
    // user.* xattrs are refused on symlinks and special files (userxattr): that copy just keeps its
    // own st_ino after a remount, as under the kernel's overlay.
    log.warnOnce(
      `origin:${(err as FsError).code}`,
      `could not record a copy-up's origin (${(err as Error).message}); its st_ino will change at the next mount`,
    );
  }
}

async function fsyncPath(p: HostPath): Promise<void> {
  const h = await fs.promises.open(p, 'r');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

function fsyncFd(fd: number): Promise<void> {
  return new Promise<void>((res, rej) => fs.fsync(fd, (err) => (err ? rej(err) : res())));
}

/**
 * The lower entry's xattrs, owner, mode and times onto its copy, the entry `name` in the work
 * directory's fd `dir` (`tmp` names it by path, for the rare calls that take one).
 */
function copyMetadata(ovl: Ovl, src: RealRef, st: fs.BigIntStats, dir: number, name: string, tmp: HostPath): void {
  const paths = ovl.paths;
  for (const x of paths.listxattr(src.real)) {
    if (isPrivateXattr(x)) continue; // the layer's own overlay metadata does not travel up
    try {
      const value = paths.getxattr(src.real, x);
      if (value !== undefined) syscalls.lsetxattr(name, x, value, 0, { dir });
    } catch (err) {
      // security.* and system.* may be refused by the upper filesystem; the data must still come up.
      log.warnOnce(`xattr:${x}`, `could not copy xattr ${x} up (${(err as Error).message}); continuing without it`);
    }
  }
  // What the entry shows comes up with it: into the upper layer's override xattr where it keeps
  // owners there (the inode keeps its own mode and the daemon's owner, as under fuse-overlayfs),
  // else onto the inode (a lower layer's override included).
  const o = ovl.override;
  const shown = o.active
    ? o.shown(src.layer, paths.at(src.real), st)
    : { uid: Number(st.uid), gid: Number(st.gid), mode: Number(st.mode) & 0o7777 };
  if (o.upperName !== undefined) {
    if (!st.isSymbolicLink()) chmodAt(dir, name, tmp, Number(st.mode) & 0o7777);
    o.write(tmp, shown);
  } else {
    keepOwner(dir, name, shown);
    if (!st.isSymbolicLink()) chmodAt(dir, name, tmp, shown.mode); // after chown: chown clears setuid
  }
  syscalls.utimensAt(dir, name, st.atimeNs, st.mtimeNs);
}

/** chmod of the entry `name` in `dir` (not a symlink); by its path where the kernel lacks fchmodat2. */
function chmodAt(dir: number, name: string, p: HostPath, mode: number): void {
  if (!syscalls.fchmodAt(dir, name, mode)) fs.chmodSync(p, mode);
}

/**
 * The copy keeps the lower entry's owner where the daemon may chown. A plain user cannot (EPERM: the
 * copy stays the user's, as a `cp -p` by that user would leave it), and root in a user namespace
 * cannot give an id the namespace does not map (EINVAL: the lower entry shows as the overflow id
 * anyway); either way the data must still come up, so the copy keeps the daemon's owner, said once.
 */
function keepOwner(dir: number, name: string, st: { uid: number; gid: number }): void {
  try {
    syscalls.fchownAt(dir, name, st.uid, st.gid);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EPERM' && code !== 'EINVAL') throw err;
    log.warnOnce(
      `chown:${code}`,
      `copied-up entries keep the daemon's owner: it may not chown to ${st.uid}:${st.gid} (${code}; not root, or an id outside this user namespace)`,
    );
  }
}
