// Metadata policies as one wrapper around any filesystem on the handler interface: who owns what,
// which permission bits show, what a create, chmod, chown, delete or rename may do (bindfs's options
// on the passthrough; fuse-overlayfs's id mapping and squash options on the overlay). Every policy is
// applied where attributes leave and where ids and modes come in, so the filesystem underneath never
// knows — a third party's works the same — and file data is untouched: an open keeps its backing
// file, and the kernel's passthrough, unless a rate limit needs to see the bytes.
//
// Ids:
// - uidMap/gidMap: an id on disk in [disk, disk+length) is shown as shown + (id - disk); an id the
//   kernel gives (chown, the caller of a create) in [shown, shown+length) goes to disk as
//   disk + (id - shown). An id outside every range is shown as itself (bindfs --map, --uid-offset)
//   or as the overflow id 65534 and refused with EINVAL when given (fuse-overlayfs's mapping, as a
//   user namespace treats unmapped ids), or refused only when given (bindfs's offsets): `unmapped`.
// - forceUid/forceGid (bindfs -u/-g, fuse-overlayfs squash_to_*): every entry shows this owner;
//   nothing on disk changes. mirror (bindfs -m/-M): the listed users see themselves as the owner.
//   Both win over the mapping, as in bindfs.
// Bits: perms (bindfs -p), then realisticPermissions (hide what the mounter itself may not do).
// Counts and times: staticNlink (directories show 1), hideHardLinks (everything shows 1),
// ctimeFromMtime.
// Requests: create owner and perms, chown/chgrp/chmod policies, xattr policy, delete/rename deny,
// read-only, rate limits. Errnos as bindfs answers them: EPERM for a denied operation, EACCES for a
// write to read-only xattrs, EOPNOTSUPP with xattrs off, EROFS on a read-only mount.
import { FsError, O_ACCMODE, thenMaybe, type ErrnoCode } from '@layerfs/backing-io';
import type { Attr } from '../attr';
import type { CreateReply, DirEntry, Entry, NodeHandlers, NodeId, OpenReply, RequestContext } from '../handler';
import type { PermChain } from './perms';
import { RateLimiter } from './rate-limit';
import { MODIFYING_OPS, REQUEST_OPS, wrapHandlers } from './wrap';

export interface IdRange {
  /** First id on disk. */
  disk: number;
  /** The id it is shown as. */
  shown: number;
  length: number;
}

export type ChangePolicy = 'normal' | 'ignore' | 'deny';

export interface MirrorPolicy {
  uidMap?: IdRange[];
  gidMap?: IdRange[];
  /**
   * An id outside every range. 'same' (the default, bindfs --map): shown and given as itself.
   * 'overflow' (fuse-overlayfs): shown as 65534; given by chown, EINVAL; a creating caller's becomes
   * 65534. 'refuse' (bindfs --uid-offset): shown as itself; given by chown, EIO (as bindfs answers);
   * a creating caller's is kept.
   */
  unmapped?: 'same' | 'overflow' | 'refuse';
  forceUid?: number;
  forceGid?: number;
  /** These callers see themselves as every entry's owner; `only`: every other caller but root gets EACCES. */
  mirror?: { uids: ReadonlySet<number>; only: boolean };
  perms?: PermChain;
  /** The mounter, whose own access to each file limits the bits shown (bindfs --realistic-permissions). */
  realisticPermissions?: { uid: number; groups: readonly number[] };
  staticNlink?: boolean;
  hideHardLinks?: boolean;
  ctimeFromMtime?: boolean;
  /** Who owns a new entry on disk: the caller (mapped to disk ids) or the mounter. Default: the caller. */
  createAs?: 'caller' | 'mounter';
  createUid?: number;
  createGid?: number;
  /** Applied to the mode of every new file, directory and node once it exists. */
  createPerms?: PermChain;
  chown?: ChangePolicy;
  chgrp?: ChangePolicy;
  chmod?: ChangePolicy;
  chmodFilter?: PermChain;
  chmodAllowX?: boolean;
  xattr?: 'rw' | 'ro' | 'none';
  deleteDeny?: boolean;
  renameDeny?: boolean;
  readOnly?: boolean;
  /** Bytes per second through the daemon; opens are then not passed through. */
  readRate?: number;
  writeRate?: number;
}

const OVERFLOW_ID = 65534;
const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;
const O_TRUNC = 0o1000;

/** `UID:MAPPED-UID:LEN[:UID2:MAPPED-UID2:LEN2…]` (fuse-overlayfs's form; commas between triples too). */
export function parseIdMapping(option: string, value: string): IdRange[] {
  const n = value.split(/[:,]/).map((s) => (s.trim() === '' ? NaN : Number(s)));
  if (n.length === 0 || n.length % 3 !== 0 || n.some((x) => !Number.isInteger(x) || x < 0 || x > 0xffff_fffe)) {
    throw new FsError(
      'EINVAL',
      option,
      value,
      `${option} takes UID:MAPPED-UID:LEN triples separated by ':', e.g. ${option}=0:1000:1:1:100000:65536`,
    );
  }
  const out: IdRange[] = [];
  for (let i = 0; i < n.length; i += 3) out.push({ disk: n[i]!, shown: n[i + 1]!, length: n[i + 2]! });
  return out;
}

/** True when `p` changes anything (an empty policy wraps nothing). */
export function hasMirrorPolicy(p: MirrorPolicy): boolean {
  return Object.values(p).some((v) => v !== undefined && v !== false);
}

/** Whether `p` shows any attribute otherwise than the disk has it. */
function changesAttrs(p: MirrorPolicy): boolean {
  return (
    p.uidMap !== undefined ||
    p.gidMap !== undefined ||
    p.forceUid !== undefined ||
    p.forceGid !== undefined ||
    p.mirror !== undefined ||
    p.perms !== undefined ||
    p.realisticPermissions !== undefined ||
    p.staticNlink === true ||
    p.hideHardLinks === true ||
    p.ctimeFromMtime === true
  );
}

const deny = (op: string, errno: ErrnoCode, why: string) => new FsError(errno, op, '', why);

/** `inner` with `policy` applied to every attribute it answers, every id and mode it is given. */
export function withMirrorPolicy(inner: NodeHandlers, policy: MirrorPolicy): NodeHandlers {
  if (!hasMirrorPolicy(policy)) return inner;
  const p = policy;
  const overflow = p.unmapped === 'overflow';
  const toShown = (map: IdRange[] | undefined, id: number): number => {
    if (!map) return id;
    for (const r of map) if (id >= r.disk && id < r.disk + r.length) return r.shown + (id - r.disk);
    return overflow ? OVERFLOW_ID : id;
  };
  const toDisk = (map: IdRange[] | undefined, id: number): number | undefined => {
    if (!map) return id;
    for (const r of map) if (id >= r.shown && id < r.shown + r.length) return r.disk + (id - r.shown);
    return p.unmapped === 'overflow' || p.unmapped === 'refuse' ? undefined : id;
  };
  const mirrored = (ctx: RequestContext) => p.mirror !== undefined && ctx.uid !== undefined && p.mirror.uids.has(ctx.uid);

  const attr = (ctx: RequestContext, a: Attr): Attr => {
    // A symlink's bits mean nothing (and show as lrwxrwxrwx everywhere): no policy touches them.
    const link = (a.mode & S_IFMT) === S_IFLNK;
    let mode = p.perms && !link ? (a.mode & S_IFMT) | (p.perms(a.mode) & 0o7777) : a.mode;
    const real = p.realisticPermissions;
    if (real && real.uid !== 0 && !link) {
      // What the mounter may do to the file on disk; bits it lacks are hidden in every class.
      const shift = a.uid === real.uid ? 6 : real.groups.includes(a.gid) ? 3 : 0;
      const lacks = ~(a.mode >> shift) & 7;
      mode &= ~(lacks * 0o111);
    }
    const dir = (a.mode & S_IFMT) === S_IFDIR;
    return {
      ...a,
      mode,
      uid: mirrored(ctx) ? ctx.uid! : (p.forceUid ?? toShown(p.uidMap, a.uid)),
      gid: p.forceGid ?? toShown(p.gidMap, a.gid),
      nlink: p.hideHardLinks || (p.staticNlink && dir) ? 1 : a.nlink,
      ctimeNs: p.ctimeFromMtime ? a.mtimeNs : a.ctimeNs,
    };
  };
  const entry = (ctx: RequestContext, e: Entry): Entry => ({ ...e, attr: attr(ctx, e.attr) });

  // The owner a new entry gets on disk, as the context the filesystem creates it with.
  const creator = (ctx: RequestContext): RequestContext => {
    let uid: number | undefined;
    let gid: number | undefined;
    if (p.createAs === 'mounter') {
      uid = process.getuid?.();
      gid = process.getgid?.();
    } else if (ctx.uid !== undefined && ctx.gid !== undefined) {
      uid = toDisk(p.uidMap, ctx.uid) ?? (overflow ? OVERFLOW_ID : ctx.uid);
      gid = toDisk(p.gidMap, ctx.gid) ?? (overflow ? OVERFLOW_ID : ctx.gid);
    }
    uid = p.createUid ?? uid;
    gid = p.createGid ?? gid;
    return uid === ctx.uid && gid === ctx.gid ? ctx : { ...ctx, uid, gid };
  };
  // --create-with-perms: the new entry's mode, once it exists (a symlink has no mode to change).
  const withCreatePerms = <T>(ctx: RequestContext, reply: T, e: Entry): T | Promise<T> => {
    const chain = p.createPerms;
    if (!chain || (e.attr.mode & S_IFMT) === S_IFLNK) return reply;
    const mode = chain(e.attr.mode) & 0o7777;
    if (mode === (e.attr.mode & 0o7777)) return reply;
    return thenMaybe(inner.chmod(ctx, e.node, mode), () => {
      e.attr = { ...e.attr, mode: (e.attr.mode & S_IFMT) | mode };
      return reply;
    });
  };
  const made = (ctx: RequestContext, r: Entry | Promise<Entry>) =>
    thenMaybe(
      thenMaybe(r, (e) => withCreatePerms(ctx, e, e)),
      (e) => entry(ctx, e),
    );
  const dataRate = p.readRate !== undefined || p.writeRate !== undefined;
  // An open the daemon must see the bytes of is not handed to the kernel's passthrough.
  const opened = (o: OpenReply): OpenReply => (dataRate ? { ...o, backing: undefined, passedThrough: undefined } : o);
  const createdReply = (ctx: RequestContext, r: CreateReply | Promise<CreateReply>) =>
    thenMaybe(
      thenMaybe(r, (c) => withCreatePerms(ctx, c, c.entry)),
      (c) => ({ entry: entry(ctx, c.entry), open: opened(c.open) }),
    );

  const changeOwner = (ctx: RequestContext, node: NodeId, uid: number, gid: number) => {
    const none = (id: number) => id === -1 || id === 0xffff_ffff;
    if (!none(uid) && p.chown === 'deny') throw deny('chown', 'EPERM', 'chown is denied on this mount (--chown-deny)');
    if (!none(gid) && p.chgrp === 'deny') throw deny('chown', 'EPERM', 'chgrp is denied on this mount (--chgrp-deny)');
    if (p.chown === 'ignore') uid = -1;
    if (p.chgrp === 'ignore') gid = -1;
    const disk = (map: IdRange[] | undefined, id: number, what: string) => {
      if (none(id)) return -1;
      const d = toDisk(map, id);
      if (d === undefined) throw new FsError(overflow ? 'EINVAL' : 'EIO', 'chown', `${what} ${id}`, "not in the mount's id mapping");
      return d;
    };
    uid = disk(p.uidMap, uid, 'uid');
    gid = disk(p.gidMap, gid, 'gid');
    if (uid === -1 && gid === -1) return;
    return inner.chown(ctx, node, uid, gid);
  };

  const changeMode = (ctx: RequestContext, node: NodeId, mode: number) => {
    const policyOf = p.chmod ?? 'normal';
    if (policyOf === 'normal') {
      if (!p.chmodFilter) return inner.chmod(ctx, node, mode);
      return thenMaybe(inner.getattr(ctx, node), (a) => inner.chmod(ctx, node, p.chmodFilter!((a.mode & S_IFMT) | mode) & 0o7777));
    }
    return thenMaybe(inner.getattr(ctx, node), (a) => {
      const cur = a.mode & 0o7777;
      const dir = (a.mode & S_IFMT) === S_IFDIR;
      // --chmod-allow-x: a regular file's execute bits may change; the rest is ignored or denied.
      const xOnly = p.chmodAllowX && !dir ? (cur & ~0o111) | (mode & 0o111) : cur;
      if (policyOf === 'deny' && xOnly !== (mode & 0o7777)) throw deny('chmod', 'EPERM', 'chmod is denied on this mount (--chmod-deny)');
      if (xOnly !== cur) return inner.chmod(ctx, node, xOnly);
    });
  };

  const overrides: Partial<NodeHandlers> = {
    mkdir: (ctx, parent, name, mode) => made(ctx, inner.mkdir(creator(ctx), parent, name, mode)),
    mknod: (ctx, parent, name, mode, rdev) => made(ctx, inner.mknod(creator(ctx), parent, name, mode, rdev)),
    symlink: (ctx, parent, name, target) => made(ctx, inner.symlink(creator(ctx), parent, name, target)),
    create: (ctx, parent, name, mode, flags) => createdReply(ctx, inner.create(creator(ctx), parent, name, mode, flags)),
    chown: changeOwner,
    chmod: changeMode,
  };
  // Lookups, stats and listings are the hot path: wrapped only when some policy shows attributes
  // other than the disk's (a policy of denials alone leaves them as they are).
  if (changesAttrs(p)) {
    Object.assign(overrides, {
      lookup: (ctx, parent, name) => thenMaybe(inner.lookup(ctx, parent, name), (e) => e && entry(ctx, e)),
      getattr: (ctx, node, fh) => thenMaybe(inner.getattr(ctx, node, fh), (a) => attr(ctx, a)),
      readdir: (ctx, node, fh) =>
        thenMaybe(inner.readdir(ctx, node, fh), (list: DirEntry[]) => list.map((d) => (d.attr ? { ...d, attr: attr(ctx, d.attr) } : d))),
      link: (ctx, node, parent, name) => thenMaybe(inner.link(ctx, node, parent, name), (e) => entry(ctx, e)),
    } satisfies Partial<NodeHandlers>);
  }
  if (dataRate) overrides.open = (ctx, node, flags) => thenMaybe(inner.open(ctx, node, flags), opened);
  if (inner.tmpfile) {
    const tmpfile = inner.tmpfile.bind(inner);
    overrides.tmpfile = (ctx, parent, mode, flags) => createdReply(ctx, tmpfile(creator(ctx), parent, mode, flags));
  }
  if (p.readRate !== undefined) {
    const limit = new RateLimiter(p.readRate);
    overrides.read = (ctx, node, fh, buf, pos) => thenMaybe(limit.take(buf.length), () => inner.read(ctx, node, fh, buf, pos));
  }
  if (p.writeRate !== undefined) {
    const limit = new RateLimiter(p.writeRate);
    overrides.write = (ctx, node, fh, buf, pos) => thenMaybe(limit.take(buf.length), () => inner.write(ctx, node, fh, buf, pos));
  }
  if (p.xattr === 'none') {
    const unsupported = () => {
      throw deny('xattr', 'EOPNOTSUPP', 'extended attributes are off on this mount (--xattr-none)');
    };
    Object.assign(overrides, { getxattr: unsupported, setxattr: unsupported, listxattr: unsupported, removexattr: unsupported });
  } else if (p.xattr === 'ro') {
    const readOnly = () => {
      throw deny('xattr', 'EACCES', 'extended attributes are read-only on this mount (--xattr-ro)');
    };
    Object.assign(overrides, { setxattr: readOnly, removexattr: readOnly });
  }
  if (p.deleteDeny) {
    const denied = () => {
      throw deny('unlink', 'EPERM', 'deleting is denied on this mount (--delete-deny)');
    };
    Object.assign(overrides, { unlink: denied, rmdir: denied });
  }
  if (p.renameDeny) {
    overrides.rename = () => {
      throw deny('rename', 'EPERM', 'renaming is denied on this mount (--rename-deny)');
    };
  }
  if (p.readOnly) {
    const erofs = () => {
      throw deny('write', 'EROFS', 'the mount is read-only');
    };
    for (const op of MODIFYING_OPS)
      if (op in overrides || typeof inner[op] === 'function') (overrides as Record<string, unknown>)[op] = erofs;
    const open = overrides.open ?? inner.open.bind(inner);
    overrides.open = (ctx, node, flags) => ((flags & O_ACCMODE) !== 0 || flags & O_TRUNC ? erofs() : open(ctx, node, flags));
  }
  if (p.mirror?.only) {
    // -M: a caller the transport names, neither root nor mirrored, is refused every request.
    const mirror = p.mirror;
    for (const op of REQUEST_OPS) {
      const next = (overrides[op] ?? (inner[op] as unknown as ((...a: unknown[]) => unknown) | undefined)?.bind(inner)) as
        ((ctx: RequestContext, ...a: unknown[]) => unknown) | undefined;
      if (!next) continue;
      (overrides as Record<string, unknown>)[op] = (ctx: RequestContext, ...a: unknown[]) => {
        if (ctx.uid !== undefined && ctx.uid !== 0 && !mirror.uids.has(ctx.uid))
          throw deny(op, 'EACCES', 'only the mirrored users may use this mount (--mirror-only)');
        return next(ctx, ...a);
      };
    }
  }
  return wrapHandlers(inner, overrides);
}

/** fuse-overlayfs's id options (uidmapping=, gidmapping=, squash_to_*, static_nlink) as a MirrorPolicy. */
export interface IdPolicy {
  uidMap?: IdRange[];
  gidMap?: IdRange[];
  squashUid?: number;
  squashGid?: number;
  staticNlink?: boolean;
}

export function hasIdPolicy(p: IdPolicy): boolean {
  return hasMirrorPolicy(p);
}

/** fuse-overlayfs's semantics: ids outside the mapping show as the overflow id and are refused when given. */
export function withIdPolicy(inner: NodeHandlers, ids: IdPolicy): NodeHandlers {
  if (!hasIdPolicy(ids)) return inner;
  return withMirrorPolicy(inner, {
    uidMap: ids.uidMap,
    gidMap: ids.gidMap,
    unmapped: 'overflow',
    forceUid: ids.squashUid,
    forceGid: ids.squashGid,
    staticNlink: ids.staticNlink,
  });
}
