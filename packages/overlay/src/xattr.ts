// Extended attributes of the merged view: the kernel's fs/overlayfs/xattrs.c. The overlay's own
// (overlay.*, in whichever namespace) are never shown nor settable through the mount; the rest are
// the real entry's, a change copying the node up first. A node without a name reads and changes
// them through an open handle (fgetxattr after unlink), never through a name that is now another's.
import { FsError, fdPath, syscalls } from '@layerfs/backing-io';
import { change } from './inode';
import { openFileOf } from './file';
import type { Ovl } from './ovl-fs';
import type { OvlInode } from './ovl-inode';
import { isPrivateXattr } from './xattr-names';

const FOLLOW = { follow: true } as const;

/** Run `fn` on the node's real entry (never followed: LayerPaths' xattr calls), or on an open fd. */
function read<T>(ovl: Ovl, n: OvlInode, op: string, byPath: (real: string) => T, byFd: (fd: number) => T): T {
  if (n.detached) {
    const f = openFileOf(ovl, n);
    if (!f) throw new FsError('ENOENT', op, n.name);
    return byFd(f.backing.fd);
  }
  return byPath(ovl.topReal(n));
}

const NO_NAMES: readonly string[] = Object.freeze([]);

/**
 * Every xattr name of the real entry (private ones included), read through the node's name or fd.
 */
function realNames(ovl: Ovl, n: OvlInode): readonly string[] {
  const names = read(
    ovl,
    n,
    'listxattr',
    (real) => ovl.paths.listxattr(real),
    (fd) => syscalls.llistxattr(fdPath(fd), FOLLOW),
  );
  return names.length === 0 ? NO_NAMES : names;
}

/**
 * The xattr names of a node that shows a lower entry, listed once. Lower layers do not change while
 * mounted (overlayfs.rst), so the list stays true until the node gets an upper entry (copy-up sets
 * hasUpper on the same state; a new lookup brings a new state without the list). It saves a syscall
 * per GETXATTR of an absent name: `ls -l` asks two of every file (security.selinux,
 * system.posix_acl_access), podman's diff and tar ask security.capability, and the kernel caches
 * none of those answers for FUSE.
 */
function lowerNames(ovl: Ovl, n: OvlInode): readonly string[] | undefined {
  const s = n.state;
  if (s.hasUpper) return undefined;
  return (s.lowerXattrNames ??= realNames(ovl, n));
}

/** The value of xattr `name` as the merged view shows it; undefined where there is none (ENODATA). */
export function getxattr(ovl: Ovl, n: OvlInode, name: string): Buffer | undefined {
  if (isPrivateXattr(name)) return undefined;
  const known = lowerNames(ovl, n);
  if (known !== undefined && !known.includes(name)) return undefined;
  return read(
    ovl,
    n,
    'getxattr',
    (real) => ovl.paths.getxattr(real, name),
    (fd) => syscalls.lgetxattrIfAny(fdPath(fd), name, FOLLOW),
  );
}

export function listxattr(ovl: Ovl, n: OvlInode): string[] {
  return (lowerNames(ovl, n) ?? realNames(ovl, n)).filter((x) => !isPrivateXattr(x));
}

export function setxattr(ovl: Ovl, n: OvlInode, name: string, value: Buffer, flags: number): Promise<void> {
  if (isPrivateXattr(name)) throw new FsError('EPERM', 'setxattr', n.name);
  return change(ovl, 'setxattr', n, (t) =>
    'fd' in t ? syscalls.lsetxattr(fdPath(t.fd), name, value, flags, FOLLOW) : ovl.paths.setxattr(t.real, name, value, flags),
  );
}

export async function removexattr(ovl: Ovl, n: OvlInode, name: string): Promise<void> {
  if (isPrivateXattr(name)) throw new FsError('ENODATA', 'removexattr', n.name);
  if (getxattr(ovl, n, name) === undefined) throw new FsError('ENODATA', 'removexattr', n.name); // before any copy-up
  await change(ovl, 'removexattr', n, (t) =>
    'fd' in t ? syscalls.lremovexattr(fdPath(t.fd), name, FOLLOW) : ovl.paths.removexattr(t.real, name),
  );
}
