// Copy-up: make a lower entry exist in the upper layer before it is changed. Models
// fs/overlayfs/copy_up.c: parents first (with their mode, owner, times and xattrs), then the entry,
// built in workdir/work, its data fsync'd (unless `volatile`) and renamed into place — a crash of the
// daemon or of the machine leaves either no copy or a whole one, and the partial file in workdir is
// removed at the next mount.
//
// The race (two first-writes of one file at once): a lock-free check, then the path's lock, then a
// re-check, so the data is copied once. Large files are copied by libuv's copyFile (FICLONE reflink
// where the filesystem has it, else copy_file_range) on the threadpool: other requests go on.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FsError, InodeLocks, syscalls } from '@layerfs/backing-io';
import { createLogger } from '@layerfs/fuse-bridge';
import type { OvlEntry, OvlNamei, RealEntry } from './namei';
import type { OriginFh } from './origin';
import type { LayerPaths } from './layer-paths';
import { OvlXattrs, isPrivateXattr } from './xattr-names';

const log = createLogger('overlay:copy-up');

export interface CopyUpCtx {
  namei: OvlNamei;
  upperRoot: string;
  /** workdir/work: the scratch directory on the upper layer's filesystem. */
  workDir: string;
  locks: InodeLocks<string>;
  /**
   * fsync a copied-up file's data before renaming it into place, as the kernel does unless mounted
   * `volatile`: otherwise a machine crash can leave the rename durable and the data not — an empty
   * or partial file in the upper layer, hiding the intact lower one.
   */
  durable: boolean;
  names: OvlXattrs;
  /** Writes the overlay.origin of each copy, as the kernel does: st_ino survives a remount. */
  origin: OriginFh;
  /** Called after a copy-up: the upper inode now stands for the lower one (st_ino stays the same). */
  recordOrigin(upperIno: bigint, lower: RealEntry): void;
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

const upperPathOf = (ctx: CopyUpCtx, p: string) => (p === '/' ? ctx.upperRoot : ctx.upperRoot + p);

/** The upper real path of `p`, copying it (and its parents) up first if needed. */
export function copyUp(ctx: CopyUpCtx, p: string): Promise<string> {
  return copyUpAs(ctx, p, 'with-data');
}

/**
 * For an open with O_TRUNC: the same, but a regular file comes up empty — its data would be thrown
 * away at once (the kernel's ovl_copy_up_flags with O_TRUNC does the same).
 */
export function copyUpTruncated(ctx: CopyUpCtx, p: string): Promise<string> {
  return copyUpAs(ctx, p, 'truncated');
}

type CopyUpKind = 'with-data' | 'truncated';

async function copyUpAs(ctx: CopyUpCtx, p: string, kind: CopyUpKind): Promise<string> {
  const e = ctx.namei.resolve(p, 'copy-up');
  if (e.upper) return e.upper.real;
  const unlock = await ctx.locks.lock(`copyup:${p}`);
  try {
    const again = ctx.namei.resolve(p, 'copy-up'); // re-check under the lock
    if (again.upper) return again.upper.real;
    if (p !== '/') await copyUp(ctx, path.posix.dirname(p));
    const fresh = ctx.namei.resolve(p, 'copy-up');
    if (fresh.upper) return fresh.upper.real;
    await copyUpOne(ctx, fresh, kind);
    ctx.namei.changed(p); // it has an upper entry now
    return upperPathOf(ctx, p);
  } finally {
    unlock();
  }
}

/** The upper directory that will hold `p`'s entry (copying the parent chain up). */
export function copyUpParent(ctx: CopyUpCtx, p: string): Promise<string> {
  return copyUp(ctx, path.posix.dirname(p));
}

async function copyUpOne(ctx: CopyUpCtx, e: OvlEntry, kind: CopyUpKind): Promise<void> {
  const paths = ctx.namei.paths;
  const src = e.top;
  const st = src.st;
  const dest = upperPathOf(ctx, e.path);
  // The temporary name is in the work directory, whose fd lives with the mount: `tmp` stays valid
  // across the awaits below. Paths of the layers (paths.at) are used synchronously only.
  const tmp = paths.workPath(path.join(ctx.workDir, `#${crypto.randomBytes(8).toString('hex')}`));
  log.debug(`${e.path}: from layer ${src.layer} (${st.size} bytes)`);
  // As the kernel (ovl_do_copy_up): no origin for a file with lower hard links — each name copied up
  // becomes its own inode, and one lower number must not stand for several upper files.
  const origin = st.isDirectory() || st.nlink === 1n ? ctx.origin.encode(paths.at(src.real), src.layer) : undefined;
  if (origin) markImpure(paths, ctx.names, path.dirname(dest));
  try {
    if (st.isDirectory()) {
      await fs.promises.mkdir(tmp, Number(st.mode) & 0o7777);
    } else if (st.isFile() && kind === 'truncated') {
      await fs.promises.writeFile(tmp, '', { flag: 'wx' });
    } else if (st.isFile()) {
      // FICLONE: reflink when the filesystem can, else libuv's copy_file_range/sendfile. EXCL (the
      // name is fresh anyway) also spares the ftruncate(0) libuv does otherwise, after which ext4's
      // auto_da_alloc flushes the whole file at close: 0.4 s of a 1 GiB copy-up's 0.8. The source
      // is an fd of our own, opened through no symlink, held until the copy is done.
      const from = paths.open(src.real, fs.constants.O_RDONLY);
      try {
        await fs.promises.copyFile(`/proc/self/fd/${from}`, tmp, fs.constants.COPYFILE_FICLONE | fs.constants.COPYFILE_EXCL);
      } finally {
        fs.closeSync(from);
      }
    } else if (st.isSymbolicLink()) {
      await fs.promises.symlink(fs.readlinkSync(paths.at(src.real)), tmp);
    } else {
      syscalls.mknod(tmp, Number(st.mode), st.rdev);
    }
    copyMetadata(paths, src, tmp);
    if (origin) setOrigin(ctx, tmp, origin);
    if (ctx.durable && st.isFile() && kind === 'with-data') await fsyncPath(tmp);
    // The atomic step: until here nothing is visible in the upper layer.
    fs.renameSync(tmp, paths.at(dest));
  } catch (err) {
    await fs.promises.rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    throw err;
  }
  ctx.recordOrigin(fs.lstatSync(paths.at(dest), { bigint: true }).ino, src);
}

function setOrigin(ctx: CopyUpCtx, tmp: string, origin: Buffer): void {
  try {
    syscalls.lsetxattr(tmp, ctx.names.origin, origin);
  } catch (err) {
    // user.* xattrs are refused on symlinks and special files (userxattr): that copy just keeps its
    // own st_ino after a remount, as under the kernel's overlay.
    log.warnOnce(
      `origin:${(err as FsError).code}`,
      `could not record a copy-up's origin (${(err as Error).message}); its st_ino will change at the next mount`,
    );
  }
}

async function fsyncPath(p: string): Promise<void> {
  const h = await fs.promises.open(p, 'r');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

function copyMetadata(paths: LayerPaths, src: RealEntry, tmp: string): void {
  const st = src.st;
  for (const name of syscalls.llistxattr(paths.at(src.real))) {
    if (isPrivateXattr(name)) continue; // the layer's own overlay metadata does not travel up
    try {
      syscalls.lsetxattr(tmp, name, syscalls.lgetxattr(paths.at(src.real), name));
    } catch (err) {
      // security.* and system.* may be refused by the upper filesystem; the data must still come up.
      log.warnOnce(`xattr:${name}`, `could not copy xattr ${name} up (${(err as Error).message}); continuing without it`);
    }
  }
  fs.lchownSync(tmp, Number(st.uid), Number(st.gid));
  if (!st.isSymbolicLink()) fs.chmodSync(tmp, Number(st.mode) & 0o7777); // after chown: chown clears setuid
  syscalls.lutimens(tmp, st.atimeNs, st.mtimeNs);
}

export function assertWritable(ctx: CopyUpCtx | undefined, op: string, p: string): asserts ctx is CopyUpCtx {
  if (!ctx) throw new FsError('EROFS', op, p);
}
