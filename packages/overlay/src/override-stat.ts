// fuse-overlayfs's stat override: owners and modes kept in an xattr instead of the inode. It is what
// a layer holds when the daemon may not chown (a rootless user's layers on NFS, where
// containers/storage sets `force_mask` and passes `xattr_permissions=2`): every real file belongs to
// the user, and the owner and mode a container must see travel as "uid:gid:mode" (mode in octal).
//
// Which layers keep them: a layer whose root carries one of the three names, the first found in
// fuse-overlayfs's order (security.*, then containers/storage's, then fuse-overlayfs's user.* one),
// with or without the option — as fuse-overlayfs reads them. With `xattr_permissions=1|2` the upper
// layer keeps them too (security.* or user.*), and its root gets a value at mount: the first lower
// root's, or 0:0:555 as fuse-overlayfs gives it.
//
// An entry of such a layer with the xattr shows its uid, gid and permission bits; one without shows
// its own. In the upper layer chown and chmod write the xattr and leave the inode alone; new entries
// and copied-up ones record what they show. The names are the overlay's own: never listed, read or
// set through the mount (xattr-names.ts), never copied up as they are.
import type { BigIntStats } from 'node:fs';
import * as fs from 'node:fs';
import { FsError, errnoOf, fdPath, syscalls } from '@layerfs/backing-io';
import type { HostPath } from '@layerfs/backing-io';
import type { Attr } from '@layerfs/fuse-bridge';
import { MountError } from '@layerfs/fuse-bridge';
import { CONTAINERS_OVERRIDE_STAT, FUSE_OVERLAYFS_PREFIX, FUSE_OVERLAYFS_SECURITY_PREFIX } from './xattr-names';

export const OVERRIDE_PRIVILEGED = `${FUSE_OVERLAYFS_SECURITY_PREFIX}override_stat`;
export const OVERRIDE_CONTAINERS = CONTAINERS_OVERRIDE_STAT;
export const OVERRIDE_USER = `${FUSE_OVERLAYFS_PREFIX}override_stat`;
const DETECT_ORDER = [OVERRIDE_PRIVILEGED, OVERRIDE_CONTAINERS, OVERRIDE_USER] as const;

/** fuse-overlayfs's `xattr_permissions=`: 0 off, 1 security.* (needs root), 2 user.*. */
export type XattrPermissions = 0 | 1 | 2;

/** What an entry shows: owner and permission bits (07777). */
export interface Shown {
  uid: number;
  gid: number;
  mode: number;
}

const S_IFMT = fs.constants.S_IFMT;
const S_ISUID = 0o4000;
const S_ISGID = 0o2000;
const S_IXGRP = 0o010;

/**
 * "uid:gid:mode", the mode in octal with or without a leading 0; containers/storage may add
 * ":type[:major:minor]" after it, which says nothing more for a real entry that exists.
 */
export function parseOverride(v: Buffer): Shown | undefined {
  const m = /^(\d+):(\d+):([0-7]+)(?::|$)/.exec(v.toString('latin1'));
  if (!m) return undefined;
  return { uid: Number(m[1]), gid: Number(m[2]), mode: parseInt(m[3]!, 8) & 0o7777 };
}

export function formatOverride(s: Shown): Buffer {
  return Buffer.from(`${s.uid}:${s.gid}:${(s.mode & 0o7777).toString(8)}`);
}

/** Where an entry is: a path that reaches it without following it, or an open fd of it. */
export type EntryAt = HostPath | number;

/** An fd through /proc, followed to its file and no further: O_PATH fds (a detached node's pin) too. */
const FOLLOW = { follow: true } as const;

function getAt(at: EntryAt, name: string): Buffer {
  return typeof at === 'number' ? syscalls.lgetxattr(fdPath(at), name, FOLLOW) : syscalls.lgetxattr(at, name);
}

function statAt(at: EntryAt): BigIntStats {
  return typeof at === 'number' ? fs.fstatSync(at, { bigint: true }) : fs.lstatSync(at, { bigint: true });
}

export class StatOverride {
  /** Per layer (0: the upper one when there is one), the name it keeps owners in. */
  readonly #byLayer: ReadonlyArray<string | undefined>;
  /** The upper layer's name: changes write it. Undefined: changes act on the inode. */
  readonly upperName: string | undefined;
  /** Some layer keeps owners in an xattr: getattr reads it. */
  readonly active: boolean;

  /**
   * `rootAt(i)`: a path to layer i's root. Reads each root's name; with xattr_permissions gives the
   * upper layer its name and its root a value (a MountError when that cannot be written).
   */
  constructor(rootAt: (layer: number) => HostPath, layers: number, hasUpper: boolean, permissions: XattrPermissions) {
    const byLayer: Array<string | undefined> = [];
    for (let i = 0; i < layers; i++) byLayer.push(DETECT_ORDER.find((name) => has(rootAt(i), name)));
    if (hasUpper && permissions !== 0) {
      // fuse-overlayfs: 1 → security.*; 2 → its user.* name (kept: containers/storage's, where the
      // upper root already carries that one).
      const name = permissions === 1 ? OVERRIDE_PRIVILEGED : byLayer[0] === OVERRIDE_CONTAINERS ? OVERRIDE_CONTAINERS : OVERRIDE_USER;
      byLayer[0] = name;
      initUpperRoot(rootAt, layers, name, permissions);
    }
    this.#byLayer = byLayer;
    this.upperName = hasUpper ? byLayer[0] : undefined;
    this.active = byLayer.some((n) => n !== undefined);
  }

  /** The override an entry of `layer` carries, or undefined (none, or a layer that keeps none). */
  read(layer: number, at: EntryAt): Shown | undefined {
    const name = this.#byLayer[layer];
    if (name === undefined) return undefined;
    try {
      return parseOverride(getAt(at, name));
    } catch {
      return undefined; // ENODATA, or a symlink's user.* (EPERM): the inode's own
    }
  }

  /** `attr` as an entry of `layer` at `at` shows it. */
  apply(attr: Attr, layer: number, at: EntryAt): Attr {
    const s = this.read(layer, at);
    return s ? { ...attr, uid: s.uid, gid: s.gid, mode: (attr.mode & S_IFMT) | s.mode } : attr;
  }

  /** What an entry of `layer` shows: its override, or its inode's owner and bits (`st` when known). */
  shown(layer: number, at: EntryAt, st?: BigIntStats): Shown {
    const s = this.read(layer, at);
    if (s) return s;
    const real = st ?? statAt(at);
    return { uid: Number(real.uid), gid: Number(real.gid), mode: Number(real.mode) & 0o7777 };
  }

  /**
   * Record what an upper entry shows. Symlinks and special files cannot hold user.* xattrs (EPERM):
   * they show their inode's owner, as under fuse-overlayfs.
   */
  write(at: EntryAt, s: Shown): void {
    const name = this.upperName;
    if (name === undefined) throw new FsError('EINVAL', 'override_stat', undefined, 'the upper layer keeps no owners in xattrs');
    try {
      if (typeof at === 'number') syscalls.lsetxattr(fdPath(at), name, formatOverride(s), 0, FOLLOW);
      else syscalls.lsetxattr(at, name, formatOverride(s));
    } catch (err) {
      if (errnoOf(err) === 1 /* EPERM */ && name !== OVERRIDE_PRIVILEGED) return;
      throw err;
    }
  }

  /** chown(2) of an upper entry: -1 keeps; as Linux, a non-directory loses set-user-ID, and set-group-ID with group exec. */
  chown(at: EntryAt, uid: number, gid: number): void {
    const st = statAt(at);
    const s = this.shown(0, at, st);
    const isDir = (Number(st.mode) & S_IFMT) === fs.constants.S_IFDIR;
    let mode = s.mode;
    if (!isDir) mode &= ~(S_ISUID | (mode & S_IXGRP ? S_ISGID : 0));
    this.write(at, { uid: uid === -1 ? s.uid : uid, gid: gid === -1 ? s.gid : gid, mode });
  }

  /** chmod(2) of an upper entry: its owner kept. */
  chmod(at: EntryAt, mode: number): void {
    const s = this.shown(0, at);
    this.write(at, { ...s, mode: mode & 0o7777 });
  }

  /**
   * A new upper entry belongs to `uid`, and to `gid` unless its parent (`parentAt`, in the upper
   * layer) shows set-group-ID: then to the parent's group, a directory inheriting the bit, as Linux.
   */
  own(at: EntryAt, parentAt: EntryAt, uid: number, gid: number): void {
    const st = statAt(at);
    const parent = this.shown(0, parentAt);
    const isDir = (Number(st.mode) & S_IFMT) === fs.constants.S_IFDIR;
    const inherit = (parent.mode & S_ISGID) !== 0;
    const mode = (Number(st.mode) & 0o7777) | (inherit && isDir ? S_ISGID : 0);
    this.write(at, { uid, gid: inherit ? parent.gid : gid, mode });
  }
}

function has(at: HostPath, name: string): boolean {
  try {
    syscalls.lgetxattr(at, name);
    return true;
  } catch {
    return false;
  }
}

function initUpperRoot(rootAt: (layer: number) => HostPath, layers: number, name: string, permissions: XattrPermissions): void {
  const upper = rootAt(0);
  if (has(upper, name)) return;
  let value: Buffer | undefined;
  for (let i = 1; i < layers && value === undefined; i++) {
    for (const from of permissions === 2 ? [name, OVERRIDE_CONTAINERS, OVERRIDE_USER] : [name]) {
      try {
        value = syscalls.lgetxattr(rootAt(i), from);
        break;
      } catch {
        // not this name in this layer
      }
    }
  }
  try {
    syscalls.lsetxattr(upper, name, value ?? formatOverride({ uid: 0, gid: 0, mode: 0o555 }));
  } catch (err) {
    const code = (err as FsError).code ?? String(errnoOf(err));
    throw new MountError(
      permissions === 1 && code === 'EPERM'
        ? `xattr_permissions=1 keeps owners in ${name}, which only root may write: use xattr_permissions=2 when not root`
        : `xattr_permissions=${permissions}: cannot write ${name} on the upper layer's root (${code}): the upper filesystem must take ${permissions === 1 ? 'security' : 'user'} xattrs`,
    );
  }
}
