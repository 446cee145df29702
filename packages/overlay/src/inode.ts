// Attributes of the merged view: the kernel's fs/overlayfs/inode.c (ovl_getattr, ovl_setattr).
// getattr reads the real entry that shows, every time: nodes hold which real entries make up a
// name, never their size, times or link count. A change copies the node up first, then acts on the
// upper entry through an fd or a safely resolved parent (LayerPaths).
import * as fs from 'node:fs';
import { FsError, fdPath, syscalls, thenMaybe } from '@layerfs/backing-io';
import { Attr, Fh, Reply, SetattrTimes, StatFs, statFsFrom } from '@layerfs/fuse-bridge';
import { copyUp, copyUpMetadata } from './copy-up';
import { followCopyUp, isLowerFile, openFileOf } from './file';
import { Ovl, assertWritable } from './ovl-fs';
import type { OvlInode } from './ovl-inode';

export function getattr(ovl: Ovl, n: OvlInode, fh?: Fh): Reply<Attr> {
  // A metadata-only copy's handles have its lower data file open, whose owner, mode and times are
  // not the file's: its own entry answers (attrOf adds the data file's blocks).
  if (n.state.lowerData && !n.detached) return ovl.attrOf(n, ovl.lstat(n));
  // fstat, or a file without a name: through an open handle (one opened on the lower file follows a
  // later copy-up here too, as reads do).
  const open = openFileOf(ovl, n, fh);
  if (open) return thenMaybe(followCopyUp(ovl, open), (b) => ovl.attrOf(n, syscalls.lstatAt(b.fd, ''), b.fd));
  // stat(2) of a file some process has open (cat's fstat after its read invalidated atime): the
  // handle's fd is the node's own file, and fstat skips the walk through /proc and the layer.
  const own = ownFile(ovl, n) ?? n.pinned?.fd;
  return ovl.attrOf(n, own !== undefined ? syscalls.lstatAt(own, '') : ovl.lstat(n), own);
}

/** An fd of an open handle of `n` that has the node's top real file open (not a lower file it has since copied up). */
function ownFile(ovl: Ovl, n: OvlInode): number | undefined {
  for (const f of n.openFiles) if (!n.state.hasUpper || !isLowerFile(ovl, f.backing)) return f.backing.fd;
  return undefined;
}

export async function statfs(ovl: Ovl): Promise<StatFs> {
  // The top layer's root fd: a stable path across the await.
  return statFsFrom(await fs.promises.statfs(ovl.paths.at(ovl.roots[0]!), { bigint: true }));
}

export function chmod(ovl: Ovl, n: OvlInode, mode: number): Promise<void> {
  // chmod(2) of a path would follow a final symlink planted behind the mount: the entry itself is
  // changed (fchmodat2 AT_SYMLINK_NOFOLLOW; an O_PATH fd of it where the kernel lacks that call).
  return change(ovl, 'chmod', n, (t) => {
    if (ovl.override.upperName !== undefined) return ovl.override.chmod('fd' in t ? t.fd : ovl.paths.at(t.real), mode);
    if ('fd' in t) return fs.chmodSync(fdPath(t.fd), mode);
    const { dir, name } = ovl.paths.parentOf(t.real);
    if (!syscalls.fchmodAt(dir, name, mode)) ovl.paths.withFd(t.real, syscalls.O_PATH, (fd) => fs.chmodSync(fdPath(fd), mode));
  });
}

export function chown(ovl: Ovl, n: OvlInode, uid: number, gid: number): Promise<void> {
  return change(ovl, 'chown', n, (t) => {
    if (ovl.override.upperName !== undefined) return ovl.override.chown('fd' in t ? t.fd : ovl.paths.at(t.real), uid, gid);
    if ('fd' in t) return fs.chownSync(fdPath(t.fd), uid, gid);
    const { dir, name } = ovl.paths.parentOf(t.real);
    syscalls.fchownAt(dir, name, uid, gid);
  });
}

export function utimens(ovl: Ovl, n: OvlInode, times: SetattrTimes): Promise<void> {
  return change(ovl, 'utimens', n, (t) => {
    if ('fd' in t) return syscalls.utimensAt(-100 /* AT_FDCWD */, fdPath(t.fd), times.atime, times.mtime, { follow: true });
    const { dir, name } = ovl.paths.parentOf(t.real);
    // utimensat has no AT_EMPTY_PATH: a layer root ("") by its path.
    if (name === '') syscalls.lutimens(ovl.paths.at(t.real), times.atime, times.mtime);
    else syscalls.utimensAt(dir, name, times.atime, times.mtime);
  });
}

export async function truncate(ovl: Ovl, n: OvlInode, size: number, fh?: Fh): Promise<void> {
  const open = openFileOf(ovl, n, fh);
  if (open && !isLowerFile(ovl, open.backing)) {
    fs.ftruncateSync(open.backing.fd, size);
    return;
  }
  await change(ovl, 'truncate', n, (t) =>
    'fd' in t ? truncateProc(t.fd, size) : ovl.paths.withFd(t.real, fs.constants.O_WRONLY, (fd) => fs.ftruncateSync(fd, size)),
  );
}

/**
 * What a change acts on: the upper entry by its real path, or an upper file that has no name, by an
 * fd of it — an open handle's, or the O_PATH fd that pins it (OvlInode.pinned) — reached as
 * /proc/self/fd/N, which names that file whatever the fd was opened for.
 */
export type ChangeTarget = { real: string } | { fd: number };

function truncateProc(fd: number, size: number): void {
  const w = fs.openSync(fdPath(fd), fs.constants.O_WRONLY);
  try {
    fs.ftruncateSync(w, size);
  } finally {
    fs.closeSync(w);
  }
}

/**
 * Copy `n` up, then change its upper entry. A node without a name (unlinked or replaced while open:
 * fchmod, fsetxattr; or the kernel flushing a written file's times as it lets go of it, after the
 * unlink) is changed through one of its open handles or its pin, when that is an upper file; a lower
 * file without a name cannot come up (the kernel cannot copy up an unhashed dentry either).
 */
export async function change(ovl: Ovl, op: string, n: OvlInode, fn: (t: ChangeTarget) => void): Promise<void> {
  const cu = assertWritable(ovl, op, n.name);
  if (n.detached) {
    const f = [...n.openFiles].find((o) => !isLowerFile(ovl, o.backing));
    const fd = f?.backing.fd ?? (n.state.hasUpper ? n.pinned?.fd : undefined);
    if (fd === undefined) throw new FsError('ENOENT', op, n.name);
    fn({ fd });
    return;
  }
  // A truncate changes data; everything else here only metadata (a metadata-only copy under metacopy=on).
  fn({ real: await (op === 'truncate' ? copyUp(cu, n) : copyUpMetadata(cu, n)) });
}

export function readlink(ovl: Ovl, n: OvlInode): string {
  if (n.state.type !== fs.constants.S_IFLNK) throw new FsError('EINVAL', 'readlink', n.name);
  return ovl.paths.readlink(ovl.topReal(n));
}
