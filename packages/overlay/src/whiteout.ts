// Whiteouts: how the upper layer records that a lower entry is gone. Models fs/overlayfs/dir.c
// (ovl_whiteout) and util.c (ovl_is_whiteout, ovl_path_is_whiteout).
//
// Read: a character device 0/0 (the kernel's format), or an empty regular file carrying the
// overlay.whiteout xattr (the kernel's xattr whiteout, for layers built without mknod).
// Written: the character device; where mknod is refused, the xattr form, said once in the log.
import type { BigIntStats } from 'node:fs';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isErrno, syscalls } from '@layerfs/backing-io';
import { createLogger } from '@layerfs/fuse-bridge';
import { OvlXattrs, TRUSTED_PREFIX, USER_PREFIX } from './xattr-names';
import type { LayerPaths } from './layer-paths';

const log = createLogger('overlay:whiteout');
const S_IFCHR = fs.constants.S_IFCHR;
const S_IFMT = fs.constants.S_IFMT;

export function isWhiteoutDevice(st: BigIntStats): boolean {
  return (Number(st.mode) & S_IFMT) === S_IFCHR && st.rdev === 0n;
}

/** Is the entry at `real` (already lstat'ed: `st`) a whiteout in any form the kernel reads? */
export function isWhiteout(paths: LayerPaths, real: string, st: BigIntStats): boolean {
  if (isWhiteoutDevice(st)) return true;
  if (!st.isFile() || st.size !== 0n) return false;
  // Every empty file a lookup meets comes here (a fresh journal, a lock file): ENODATA, the usual
  // answer, comes back as a value rather than an exception.
  for (const name of XATTR_WHITEOUTS) {
    try {
      if (paths.getxattr(real, name) !== undefined) return true;
    } catch {
      // ENOTSUP: not this form.
    }
  }
  return false;
}

const XATTR_WHITEOUTS = [`${TRUSTED_PREFIX}whiteout`, `${USER_PREFIX}whiteout`];

/** Is there a whiteout at `real` (nothing there, or anything else, is false)? */
export function isUpperWhiteout(paths: LayerPaths, real: string): boolean {
  let st: BigIntStats;
  try {
    st = paths.lstat(real);
  } catch {
    return false; // nothing there
  }
  return isWhiteout(paths, real, st);
}

/** Make `real` (which must not exist) a whiteout. */
export function makeWhiteout(paths: LayerPaths, real: string, names: OvlXattrs): void {
  try {
    paths.mknod(real, S_IFCHR | 0o000, 0);
    return;
  } catch (err) {
    if (!isErrno(err, 'EPERM') && !isErrno(err, 'EOPNOTSUPP')) throw err;
  }
  log.warnOnce(
    'xattr-whiteout',
    'mknod of a 0/0 character device is not permitted here; writing xattr whiteouts (empty files with overlay.whiteout), which the kernel also reads',
  );
  fs.closeSync(paths.open(real, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o000));
  syscalls.lsetxattr(paths.at(real), names.whiteout, Buffer.alloc(0));
  // The kernel looks for xattr whiteouts only in directories marked overlay.opaque="x".
  const parent = path.dirname(real);
  try {
    syscalls.lgetxattr(paths.at(parent), names.opaque);
  } catch {
    syscalls.lsetxattr(paths.at(parent), names.opaque, Buffer.from('x'));
  }
}

/**
 * rename(2) in the upper layer that leaves a whiteout at the old name when `whiteout` is set — in
 * one step with RENAME_WHITEOUT (as the kernel's overlay does), else rename then whiteout.
 */
export function renameLeavingWhiteout(
  paths: LayerPaths,
  from: string,
  to: string,
  whiteout: boolean,
  names: OvlXattrs,
  isDir: boolean,
): void {
  try {
    if (!whiteout) {
      paths.rename(from, to);
      return;
    }
    try {
      paths.rename(from, to, syscalls.RenameFlags.WHITEOUT);
      return;
    } catch (err) {
      if (!isErrno(err, 'EINVAL') && !isErrno(err, 'EPERM') && !isErrno(err, 'EOPNOTSUPP')) throw err;
    }
    log.warnOnce('rename-whiteout', 'RENAME_WHITEOUT is not available here; renames leave their whiteout in a second step');
    paths.rename(from, to);
    makeWhiteout(paths, from, names); // `from`'s directory did not move: its cached fd still stands
  } finally {
    // A directory moved (or one replaced at `to`): the fds cached under either path no longer match it.
    if (isDir) {
      paths.dirGone(from);
      paths.dirGone(to);
    }
  }
}
