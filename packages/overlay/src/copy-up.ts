// Copy-up: make a lower entry exist in the upper layer before it is changed. Models
// fs/overlayfs/copy_up.c: parents first (with their mode, owner, times and xattrs), then the entry,
// built in workdir/work, its data fsync'd (unless `volatile`) and renamed into place — a crash of the
// daemon or of the machine leaves either no copy or a whole one, and the partial file in workdir is
// removed at the next mount.
//
// The race (two first-writes of one file at once): a lock-free check, then the node's lock, then a
// re-check, so the data is copied once. Large files are copied by libuv's copyFile (FICLONE reflink
// where the filesystem has it, else copy_file_range) on the threadpool: other requests go on.
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
  try {
    if (syscalls.lgetxattr(paths.at(upperDir), names.impure).toString() === 'y') return;
  } catch {
    // not marked yet
  }
  syscalls.lsetxattr(paths.at(upperDir), names.impure, Buffer.from('y'));
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

type CopyUpKind = 'with-data' | 'truncated';

async function copyUpAs(ctx: CopyUpCtx, n: OvlInode, kind: CopyUpKind): Promise<string> {
  if (n.state.hasUpper && n.state.lowerData === undefined) return ctx.ovl.upperReal(n);
  // The parent chain first, before this node's lock: no copy-up holds two locks.
  if (n.parent) await copyUp(ctx, n.parent);
  const unlock = await ctx.ovl.locks.lock(n.id);
  try {
    if (!n.state.hasUpper) {
      // An unlinked file has no name to come up under (the kernel's copy-up of an unhashed dentry).
      if (n.detached) throw new FsError('ENOENT', 'copy-up', n.name);
      // Re-checked on disk too: a node made for one request and the kernel's node for the same name
      // do not share a lock, and a copy must never replace one already made (and maybe written).
      if (!ctx.ovl.upperExists(n)) await copyUpOne(ctx, n, kind);
      n.state.hasUpper = true;
      n.state.lowerData = undefined;
    } else if (n.state.lowerData !== undefined) {
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

async function copyUpOne(ctx: CopyUpCtx, n: OvlInode, kind: CopyUpKind): Promise<void> {
  const paths = ctx.ovl.paths;
  const src = n.state.lower[0];
  if (!src) throw new FsError('ENOENT', 'copy-up', n.name);
  const st = paths.lstat(src.real);
  const dest = ctx.ovl.upperReal(n);
  // The temporary name is in the work directory, whose fd lives with the mount: `tmp` stays valid
  // across the awaits below. Paths of the layers (paths.at) are used synchronously only.
  const tmp = paths.workPath(path.join(ctx.workDir, tempName()));
  log.debug(`${dest}: from layer ${src.layer} (${st.size} bytes)`);
  // As the kernel (ovl_do_copy_up): no origin for a file with lower hard links — each name copied up
  // becomes its own inode, and one lower number must not stand for several upper files.
  const origin = st.isDirectory() || st.nlink === 1n ? ctx.ovl.originFh.encode(paths.at(src.real), src.layer) : undefined;
  if (origin) markImpure(paths, ctx.ovl.names, path.dirname(dest));
  try {
    if (st.isDirectory()) {
      await fs.promises.mkdir(tmp, Number(st.mode) & 0o7777);
    } else if (st.isFile() && kind === 'truncated') {
      await fs.promises.writeFile(tmp, '', { flag: 'wx' });
    } else if (st.isFile()) {
      // FICLONE: reflink when the filesystem can, else libuv's copy_file_range/sendfile. EXCL (the
      // name is fresh anyway) also spares the ftruncate(0) libuv does otherwise, after which ext4's
      // auto_da_alloc flushes the whole file at close: 0.4 s of a 1 GiB copy-up's 0.8.
      // A metadata-only copy in a lower layer (stacked from a kernel overlay's metacopy=on upper)
      // comes up whole: its metadata from `src`, its data from the file below that holds it.
      await copyData(paths, (n.state.lowerData ?? src).real, tmp, fs.constants.COPYFILE_FICLONE | fs.constants.COPYFILE_EXCL);
    } else if (st.isSymbolicLink()) {
      await fs.promises.symlink(fs.readlinkSync(paths.at(src.real), { encoding: 'buffer' }), tmp);
    } else {
      syscalls.mknod(tmp, Number(st.mode), st.rdev);
    }
    copyMetadata(ctx.ovl, src, st, tmp);
    if (origin) setOrigin(ctx, tmp, origin);
    if (ctx.durable && st.isFile() && kind === 'with-data') await fsyncPath(tmp);
    // The atomic step: until here nothing is visible in the upper layer. The path of `dest` is
    // taken again after the awaits: a rename of a parent meanwhile moved where the copy belongs.
    const { dir, name } = paths.parentOf(ctx.ovl.upperReal(n));
    syscalls.renameAt(-100 /* AT_FDCWD: tmp is the work directory's procfs path */, tmp as string, dir, name);
  } catch (err) {
    await fs.promises.rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    throw err;
  }
  const upperIno = paths.lstat(ctx.ovl.upperReal(n)).ino;
  // st_ino after copy-up, as the kernel's ovl_getattr: a directory keeps the merged number (its
  // node's, unchanged); a file with one link keeps the lower number; a lower hard link is a file of
  // its own now, with its own number (the other names stay the lower inode).
  if (st.isDirectory()) return;
  if (st.nlink === 1n) ctx.recordOrigin(upperIno, st.ino);
  else n.ino = upperIno;
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
      await copyData(paths, data.real, fdPath(to), fs.constants.COPYFILE_FICLONE);
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

/**
 * The data of the regular file `real` copied to `dest` by libuv's copyFile (`flags`). The source is
 * an fd of our own, opened through no symlink, held until the copy is done; O_NONBLOCK and a regular
 * file only: a lower file swapped for a FIFO behind the mount must hold neither the request thread
 * in open(2) nor a threadpool thread in the copy.
 */
async function copyData(paths: LayerPaths, real: string, dest: HostPath, flags: number): Promise<void> {
  const from = paths.open(real, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  try {
    if (!fs.fstatSync(from).isFile()) throw new FsError('ESTALE', 'copy-up', real, 'no longer a regular file');
    await fs.promises.copyFile(fdPath(from), dest, flags);
  } finally {
    fs.closeSync(from);
  }
}

function setOrigin(ctx: CopyUpCtx, tmp: HostPath, origin: Buffer): void {
  try {
    syscalls.lsetxattr(tmp, ctx.ovl.names.origin, origin);
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

function copyMetadata(ovl: Ovl, src: RealRef, st: fs.BigIntStats, tmp: HostPath): void {
  const paths = ovl.paths;
  for (const name of syscalls.llistxattr(paths.at(src.real))) {
    if (isPrivateXattr(name)) continue; // the layer's own overlay metadata does not travel up
    try {
      syscalls.lsetxattr(tmp, name, syscalls.lgetxattr(paths.at(src.real), name));
    } catch (err) {
      // security.* and system.* may be refused by the upper filesystem; the data must still come up.
      log.warnOnce(`xattr:${name}`, `could not copy xattr ${name} up (${(err as Error).message}); continuing without it`);
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
    if (!st.isSymbolicLink()) fs.chmodSync(tmp, Number(st.mode) & 0o7777);
    o.write(tmp, shown);
  } else {
    keepOwner(tmp, shown);
    if (!st.isSymbolicLink()) fs.chmodSync(tmp, shown.mode); // after chown: chown clears setuid
  }
  syscalls.lutimens(tmp, st.atimeNs, st.mtimeNs);
}

/**
 * The copy keeps the lower entry's owner where the daemon may chown. A plain user cannot (EPERM: the
 * copy stays the user's, as a `cp -p` by that user would leave it), and root in a user namespace
 * cannot give an id the namespace does not map (EINVAL: the lower entry shows as the overflow id
 * anyway); either way the data must still come up, so the copy keeps the daemon's owner, said once.
 */
function keepOwner(tmp: HostPath, st: { uid: number; gid: number }): void {
  try {
    fs.lchownSync(tmp, st.uid, st.gid);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EPERM' && code !== 'EINVAL') throw err;
    log.warnOnce(
      `chown:${code}`,
      `copied-up entries keep the daemon's owner: it may not chown to ${st.uid}:${st.gid} (${code}; not root, or an id outside this user namespace)`,
    );
  }
}
