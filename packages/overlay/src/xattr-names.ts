// The overlay's private xattrs, in the kernel's names. Models fs/overlayfs/overlayfs.h (OVL_XATTR_*)
// and the userxattr option: "trusted.overlay." as root, "user.overlay." where trusted xattrs are
// not available. Private names are never listed or readable through the mount.
export const TRUSTED_PREFIX = 'trusted.overlay.';
export const USER_PREFIX = 'user.overlay.';

export interface OvlXattrs {
  readonly prefix: string;
  readonly opaque: string;
  readonly whiteout: string;
  readonly redirect: string;
}

export function ovlXattrs(prefix: string = TRUSTED_PREFIX): OvlXattrs {
  return { prefix, opaque: `${prefix}opaque`, whiteout: `${prefix}whiteout`, redirect: `${prefix}redirect` };
}

/** Both namespaces are read (a layer may come from a userxattr mount); either is private. */
export function isPrivateXattr(name: string): boolean {
  return name.startsWith(TRUSTED_PREFIX) || name.startsWith(USER_PREFIX);
}
