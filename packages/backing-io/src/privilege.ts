// Who the daemon is, as far as the kernel's checks go. uid alone cannot tell the three cases apart:
// - `root`: CAP_SYS_ADMIN in the initial user namespace. mount(2) of FUSE, trusted.* xattrs, and
//   kernel passthrough (FUSE_DEV_IOC_BACKING_OPEN checks CAP_SYS_ADMIN there).
// - `userns-root`: CAP_SYS_ADMIN inside a user namespace — rootless podman and buildah run their
//   mount_program this way (uid 0 there, an ordinary user outside). FUSE may be mounted with mount(2)
//   (FS_USERNS_MOUNT, Linux 4.18), ids the namespace maps may be chowned to; trusted.* xattrs and
//   kernel passthrough are refused, so the overlay keeps its metadata in user.overlay.* (as the
//   kernel's overlay requires there: userxattr) and the daemon serves file data.
// - `user`: anything else. Mounts go through the setuid fusermount3; files keep the daemon's owner.
import * as fs from 'node:fs';

export type PrivilegeKind = 'root' | 'userns-root' | 'user';

export interface Privilege {
  kind: PrivilegeKind;
  /** Not the initial user namespace (/proc/self/uid_map maps less than the whole id space). */
  inUserNamespace: boolean;
  /** CAP_CHOWN in the daemon's namespace: it can give new and copied-up entries their owner. */
  canChown: boolean;
  /** One line for --debug: how the kind was found. */
  why: string;
}

const CAP_CHOWN = 0;
const CAP_SYS_ADMIN = 21;
/** The initial namespace's map: all 2^32 - 1 ids, unshifted. */
const INITIAL_UID_MAP = /^\s*0\s+0\s+4294967295\s*$/;

let cached: Privilege | undefined;

export function privilege(): Privilege {
  return (cached ??= detect());
}

function detect(): Privilege {
  let uidMap = '';
  try {
    uidMap = fs.readFileSync('/proc/self/uid_map', 'utf8').trim();
  } catch {
    // no /proc: not Linux, or a sandbox without it; judged by uid and capabilities alone
  }
  const inUserNamespace = uidMap !== '' && !INITIAL_UID_MAP.test(uidMap);
  const caps = effectiveCaps();
  const euidRoot = process.geteuid?.() === 0;
  const has = (cap: number) => (caps === undefined ? euidRoot : ((caps >> BigInt(cap)) & 1n) === 1n);
  const admin = has(CAP_SYS_ADMIN);
  const kind: PrivilegeKind = !admin ? 'user' : inUserNamespace ? 'userns-root' : 'root';
  const map = uidMap.split('\n')[0]?.trim().replace(/\s+/g, ' ') ?? '';
  const why =
    kind === 'root'
      ? 'CAP_SYS_ADMIN in the initial user namespace'
      : kind === 'userns-root'
        ? `CAP_SYS_ADMIN inside a user namespace (uid_map "${map}")`
        : `no CAP_SYS_ADMIN (euid ${process.geteuid?.() ?? '?'}${inUserNamespace ? `, user namespace "${map}"` : ''})`;
  return { kind, inUserNamespace, canChown: has(CAP_CHOWN), why };
}

/** CapEff from /proc/self/status, or undefined where it cannot be read. */
function effectiveCaps(): bigint | undefined {
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    return m ? BigInt(`0x${m[1]}`) : undefined;
  } catch {
    return undefined;
  }
}
