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
  /** A copied-up entry's lower inode, as a file handle (origin.ts). */
  readonly origin: string;
  /** "y" on an upper directory holding entries whose st_ino is not their own (origin, merged dirs). */
  readonly impure: string;
  /**
   * On a regular file whose data is still in a lower layer: the kernel's metadata-only copy-up
   * (metacopy=on). Empty, or an fs-verity digest of the data file.
   */
  readonly metacopy: string;
}

export function ovlXattrs(prefix: string = TRUSTED_PREFIX): OvlXattrs {
  return {
    prefix,
    opaque: `${prefix}opaque`,
    whiteout: `${prefix}whiteout`,
    redirect: `${prefix}redirect`,
    origin: `${prefix}origin`,
    impure: `${prefix}impure`,
    metacopy: `${prefix}metacopy`,
  };
}

/** fuse-overlayfs's own namespace (origin, opaque when unprivileged): private too. */
export const FUSE_OVERLAYFS_PREFIX = 'user.fuseoverlayfs.';

/** fuse-overlayfs's privileged namespace (its security.* stat override). */
export const FUSE_OVERLAYFS_SECURITY_PREFIX = 'security.fuseoverlayfs.';
/** containers/storage's record of an entry's owner and mode where it keeps them in an xattr (override-stat.ts). */
export const CONTAINERS_OVERRIDE_STAT = 'user.containers.override_stat';

/** Every overlay namespace is read (a layer may come from a userxattr mount or fuse-overlayfs). */
export function isPrivateXattr(name: string): boolean {
  return (
    name.startsWith(TRUSTED_PREFIX) ||
    name.startsWith(USER_PREFIX) ||
    name.startsWith(FUSE_OVERLAYFS_PREFIX) ||
    name.startsWith(FUSE_OVERLAYFS_SECURITY_PREFIX) ||
    name === CONTAINERS_OVERRIDE_STAT
  );
}

/** aufs/OCI whiteouts, which fuse-overlayfs reads and writes: `.wh.NAME` hides NAME. */
export const AUFS_WHITEOUT_PREFIX = '.wh.';
/** aufs/OCI opaque marker: a directory holding it hides the directories below it. */
export const AUFS_OPAQUE_MARKER = '.wh..wh..opq';
