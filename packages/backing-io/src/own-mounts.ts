// The stacking/loop check. The kernel refuses to stack filesystems deeper than
// FILESYSTEM_MAX_STACK_DEPTH and FUSE passthrough refuses a backing file on its own connection. Our
// equivalent hazard is sharper: a daemon that opens a backing path under one of its *own* mountpoints
// sends the request back to itself and waits for an answer only it can give — a deadlock. So every
// mountpoint this process serves is registered here, and backing paths under one are refused.
import * as path from 'node:path';
import { FsError } from './errors';

const ownMounts = new Set<string>();

export function registerOwnMount(mountpoint: string): void {
  ownMounts.add(path.resolve(mountpoint));
}

export function unregisterOwnMount(mountpoint: string): void {
  ownMounts.delete(path.resolve(mountpoint));
}

export function ownMountpoints(): readonly string[] {
  return [...ownMounts];
}

export function isPathInside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/**
 * isPathInside for paths already resolved (absolute, normalized: no `.`, `..` or doubled slash), as
 * registered mountpoints are: a prefix test. Every backing open asks it once per mount the daemon
 * serves, where path.relative cost microseconds each.
 */
function isResolvedInside(child: string, parent: string): boolean {
  if (!child.startsWith(parent)) return false;
  return child.length === parent.length || parent === '/' || child.charCodeAt(parent.length) === 0x2f; /* '/' */
}

/** The own mountpoint `hostPath` lives under, if any. `hostPath` must be absolute. */
export function ownMountContaining(hostPath: string): string | undefined {
  return containing(path.resolve(hostPath));
}

function containing(resolved: string): string | undefined {
  for (const mnt of ownMounts) if (isResolvedInside(resolved, mnt)) return mnt;
  return undefined;
}

/**
 * Throws ELOOP when `hostPath` is under one of this process's own mounts. `resolved`: the caller
 * already passed it through path.resolve (backing opens do), so it is not normalized twice.
 */
export function checkNotStacked(hostPath: string, syscall = 'open', resolved = false): void {
  if (ownMounts.size === 0) return;
  const mnt = containing(resolved ? hostPath : path.resolve(hostPath));
  if (mnt !== undefined) {
    throw new FsError(
      'ELOOP',
      syscall,
      hostPath,
      `backing path is inside this daemon's own mount ${mnt}; serving it would deadlock the daemon`,
    );
  }
}
