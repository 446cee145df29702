// New entries belong to the caller, as on a local filesystem (and as the kernel's overlay does).
// The daemon creates them with its own credentials; when it may chown (CAP_CHOWN: root, or root in a
// user namespace, whose callers arrive in that namespace's ids) and knows the caller (the
// transport put uid/gid in the request context), the filesystem hands them over right after creating
// them, with fchown/fchownat on what it made (never by path). In a setgid directory the group stays
// the one the directory gave the new entry.
import type { Cred } from './backing-file';
import { privilege } from './privilege';

const S_ISGID = 0o2000; // not in Node's fs.constants

/**
 * The owner a new entry is handed to, or undefined where it stays as created (caller unknown, daemon
 * not root, or the caller is root). `parentMode` reads the new entry's directory's mode, asked only
 * when there is an owner to hand over (a create by root costs no stat). For filesystems that reach
 * the host by fd: they apply it with fchownat on what they just made.
 */
export function callerOwner(cred: Cred, parentMode: () => number): { uid: number; gid: number } | undefined {
  if (!privilege().canChown || cred.uid === undefined || cred.gid === undefined) return undefined;
  if (cred.uid === 0 && cred.gid === 0) return undefined;
  return { uid: cred.uid, gid: parentMode() & S_ISGID ? -1 : cred.gid };
}
