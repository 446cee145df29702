// Dropping set-user-ID and set-group-ID bits when a file is modified, with FUSE_HANDLE_KILLPRIV_V2.
//
// Why the transport asks for it: without it the kernel cannot cache "this file has nothing to drop"
// (FUSE clears SB_NOSEC), so every write(2) — even one served by kernel passthrough — first sends a
// GETXATTR(security.capability) to the daemon: one round trip per 4 KiB write. With it the kernel
// sets SB_NOSEC, asks once per inode, and from then on leaves the dropping to the server, which it
// tells through a flag: FUSE_WRITE_KILL_SUIDGID on WRITE, FATTR_KILL_SUIDGID on SETATTR (truncate,
// chown) and FUSE_OPEN_KILL_SUIDGID on an O_TRUNC open, each set only when the caller lacks
// CAP_FSETID. security.capability is still removed by the VFS (and, for passthrough writes, by the
// backing filesystem itself), so only the mode bits are ours.
//
// The invariant that keeps this correct under passthrough, where no WRITE ever reaches us: a file
// whose mode has set-id bits to drop is never given to the kernel for passthrough (see
// passthrough-modes.ts), so its writes come to the daemon with the flag.
//
// Which bits, as the kernel's setattr_should_drop_suidgid() decides them: set-user-ID always;
// set-group-ID when group-execute is set (without it the bit marks mandatory locking, and stays) or
// when the caller is not in the file's group — of which we know the primary group only.

const S_ISUID = 0o4000;
const S_ISGID = 0o2000;
const S_IXGRP = 0o0010;
const S_IFMT = 0o170000;
const S_IFREG = 0o100000;

/** Whether a regular file's mode carries a bit that a modification by an unprivileged caller drops. */
export function hasKillableBits(mode: number): boolean {
  return (mode & S_IFMT) === S_IFREG && ((mode & S_ISUID) !== 0 || (mode & S_ISGID) !== 0);
}

/** The permission bits after an unprivileged modification, or undefined when nothing is dropped. */
export function modeAfterKill(mode: number, fileGid: number, callerGid: number): number | undefined {
  if ((mode & S_IFMT) !== S_IFREG) return undefined;
  let kill = mode & S_ISUID;
  if (mode & S_ISGID && (mode & S_IXGRP || fileGid !== callerGid)) kill |= S_ISGID;
  return kill ? mode & 0o7777 & ~kill : undefined;
}
