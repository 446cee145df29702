// Owner policies as a wrapper around any filesystem on the handler interface: the ids stored on disk
// and the ids the kernel is shown are translated at the one place both pass, so a filesystem never
// knows (a third party's works the same). Serves the overlay's fuse-overlayfs options and is the
// shape the passthrough's bindfs policies build on.
//
// - mapping (fuse-overlayfs's uidmapping=/gidmapping=, UID:MAPPED-UID:LEN triples): an id on disk in
//   [UID, UID+LEN) is shown as MAPPED-UID + (id - UID); an id the kernel gives (chown, the caller of
//   a create) in [MAPPED-UID, MAPPED-UID+LEN) goes to disk as UID + (id - MAPPED-UID). An id outside
//   every range is shown as the overflow id 65534 (as a user namespace shows unmapped ids) and
//   refused with EINVAL when the kernel gives it (as chown(2) refuses an unmapped id).
// - squash (squash_to_root, squash_to_uid=, squash_to_gid=): every entry is shown with that owner;
//   nothing on disk changes.
// - staticNlink: directories show nlink 1 ("unknown" to find and fts), sparing nothing but matching
//   fuse-overlayfs's option.
import { FsError, thenMaybe } from '@layerfs/backing-io';
import type { Attr } from './attr';
import type { CreateReply, DirEntry, Entry, NodeHandlers, RequestContext } from './handler';

export interface IdRange {
  /** First id on disk. */
  disk: number;
  /** The id it is shown as. */
  shown: number;
  length: number;
}

export interface IdPolicy {
  uidMap?: IdRange[];
  gidMap?: IdRange[];
  squashUid?: number;
  squashGid?: number;
  staticNlink?: boolean;
}

const OVERFLOW_ID = 65534;

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

function toShown(map: IdRange[] | undefined, id: number): number {
  if (!map) return id;
  for (const r of map) if (id >= r.disk && id < r.disk + r.length) return r.shown + (id - r.disk);
  return OVERFLOW_ID;
}

/** An id the kernel gives, as the disk holds it; undefined when the mapping has no room for it. */
function toDisk(map: IdRange[] | undefined, id: number): number | undefined {
  if (!map) return id;
  for (const r of map) if (id >= r.shown && id < r.shown + r.length) return r.disk + (id - r.shown);
  return undefined;
}

/** chown's ids: -1 leaves one unchanged; an unmapped one is EINVAL, as chown(2) refuses it. */
function chownId(map: IdRange[] | undefined, id: number, what: string): number {
  if (id === -1 || id === 0xffff_ffff) return id;
  const disk = toDisk(map, id);
  if (disk === undefined) throw new FsError('EINVAL', 'chown', `${what} ${id}`, "not in the mount's id mapping");
  return disk;
}

export function hasIdPolicy(p: IdPolicy): boolean {
  return (
    p.uidMap !== undefined || p.gidMap !== undefined || p.squashUid !== undefined || p.squashGid !== undefined || p.staticNlink === true
  );
}

/** `inner` with `policy` applied to every attribute it answers and every id it is given. */
export function withIdPolicy(inner: NodeHandlers, policy: IdPolicy): NodeHandlers {
  if (!hasIdPolicy(policy)) return inner;
  const attr = (a: Attr): Attr => ({
    ...a,
    uid: policy.squashUid ?? toShown(policy.uidMap, a.uid),
    gid: policy.squashGid ?? toShown(policy.gidMap, a.gid),
    nlink: policy.staticNlink && (a.mode & 0o170000) === 0o040000 ? 1 : a.nlink,
  });
  const entry = (e: Entry): Entry => ({ ...e, attr: attr(e.attr) });
  const created = (r: CreateReply): CreateReply => ({ ...r, entry: entry(r.entry) });
  // The caller of a create owns the new entry on disk in its disk ids.
  const caller = (ctx: RequestContext): RequestContext => {
    if (ctx.uid === undefined || ctx.gid === undefined) return ctx;
    // A caller outside the mapping creates as the overflow id's owner.
    const uid = toDisk(policy.uidMap, ctx.uid) ?? OVERFLOW_ID;
    const gid = toDisk(policy.gidMap, ctx.gid) ?? OVERFLOW_ID;
    return uid === ctx.uid && gid === ctx.gid ? ctx : { ...ctx, uid, gid };
  };
  const overrides: Partial<NodeHandlers> = {
    lookup: (ctx, parent, name) => thenMaybe(inner.lookup(ctx, parent, name), entry),
    getattr: (ctx, node, fh) => thenMaybe(inner.getattr(ctx, node, fh), attr),
    readdir: (ctx, node, fh) =>
      thenMaybe(inner.readdir(ctx, node, fh), (list: DirEntry[]) => list.map((d) => (d.attr ? { ...d, attr: attr(d.attr) } : d))),
    mkdir: (ctx, parent, name, mode) => thenMaybe(inner.mkdir(caller(ctx), parent, name, mode), entry),
    mknod: (ctx, parent, name, mode, rdev) => thenMaybe(inner.mknod(caller(ctx), parent, name, mode, rdev), entry),
    symlink: (ctx, parent, name, target) => thenMaybe(inner.symlink(caller(ctx), parent, name, target), entry),
    link: (ctx, node, parent, name) => thenMaybe(inner.link(ctx, node, parent, name), entry),
    create: (ctx, parent, name, mode, flags) => thenMaybe(inner.create(caller(ctx), parent, name, mode, flags), created),
    chown: (ctx, node, uid, gid) => inner.chown(ctx, node, chownId(policy.uidMap, uid, 'uid'), chownId(policy.gidMap, gid, 'gid')),
  };
  if (inner.tmpfile) {
    const tmpfile = inner.tmpfile.bind(inner);
    overrides.tmpfile = (ctx, parent, mode, flags) => thenMaybe(tmpfile(caller(ctx), parent, mode, flags), created);
  }
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (Object.prototype.hasOwnProperty.call(overrides, prop)) return overrides[prop as keyof NodeHandlers];
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
