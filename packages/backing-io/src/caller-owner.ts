// New entries belong to the caller, as on a local filesystem (and as the kernel's overlay does).
// The daemon creates them with its own credentials; when it runs as root and knows the caller (the
// transport put uid/gid in the request context), it hands them over right after creating them. In a
// setgid directory the group stays the one the directory gave the new entry.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Cred } from './backing-file';

const S_ISGID = 0o2000; // not in Node's fs.constants
const daemonIsRoot = process.getuid?.() === 0;

/** Give the entry at `realPath` (just created) to the caller. A no-op where the caller is unknown. */
export function ownAsCaller(realPath: string, cred: Cred, target: { fd?: number } = {}): void {
  if (!daemonIsRoot || cred.uid === undefined || cred.gid === undefined) return;
  if (cred.uid === 0 && cred.gid === 0) return; // root's entries are root's already
  const parent = fs.statSync(path.dirname(realPath));
  const gid = parent.mode & S_ISGID ? -1 : cred.gid;
  if (target.fd !== undefined) fs.fchownSync(target.fd, cred.uid, gid);
  else fs.lchownSync(realPath, cred.uid, gid);
}

/**
 * The owner a new entry in a directory of mode `parentMode` is handed to, or undefined where it
 * stays as created (caller unknown, daemon not root, or the caller is root). For filesystems that
 * reach the host by fd: they apply it with fchownat on what they just made.
 */
export function callerOwner(cred: Cred, parentMode: number): { uid: number; gid: number } | undefined {
  if (!daemonIsRoot || cred.uid === undefined || cred.gid === undefined) return undefined;
  if (cred.uid === 0 && cred.gid === 0) return undefined;
  return { uid: cred.uid, gid: parentMode & S_ISGID ? -1 : cred.gid };
}
