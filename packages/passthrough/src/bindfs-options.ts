// bindfs's options, by bindfs's names and with its meanings (bindfs(1) is the reference), turned
// into fuse-bridge's MirrorPolicy. Taken from the `-o` option set, so `-o force-user=www,perms=0644`
// and the CLI's `--force-user=www --perms=0644` are one path. Bad values are usage errors (exit 2).
import { MirrorPolicy, MountError, parsePerms, parseRate, type ChangePolicy, type IdRange } from '@layerfs/fuse-bridge';
import { UserDb } from './users';

/** bindfs's option names this module takes (the CLI offers each as --NAME too). */
export const BINDFS_OPTIONS = [
  'force-user',
  'force-group',
  'mirror',
  'mirror-only',
  'map',
  'uid-offset',
  'gid-offset',
  'perms',
  'create-as-user',
  'create-as-mounter',
  'create-for-user',
  'create-for-group',
  'create-with-perms',
  'chown-normal',
  'chown-ignore',
  'chown-deny',
  'chgrp-normal',
  'chgrp-ignore',
  'chgrp-deny',
  'chmod-normal',
  'chmod-ignore',
  'chmod-deny',
  'chmod-filter',
  'chmod-allow-x',
  'xattr-none',
  'xattr-ro',
  'xattr-rw',
  'delete-deny',
  'rename-deny',
  'hide-hard-links',
  'ctime-from-mtime',
  'realistic-permissions',
  'read-rate',
  'write-rate',
  'no-allow-other',
  'map-passwd',
  'map-group',
  'multithreaded',
  'disable-lock-forwarding',
] as const;

/** bindfs options layerfs refuses, each with why (one line at mount, not "unknown option"). */
export const BINDFS_REFUSED: Readonly<Record<string, string>> = {
  'resolve-symlinks': 'the mirror never follows a symlink the kernel did not ask to follow (a root daemon would open what the link names)',
  'resolved-symlink-deletion': 'it goes with resolve-symlinks, which the mirror does not do',
  'enable-lock-forwarding': 'locks stay in this kernel: processes outside the mount do not see them',
  'enable-ioctl': 'ioctls are not forwarded to the source',
  'forward-odirect': 'O_DIRECT is not forwarded (with kernel passthrough the source file is read and written directly anyway)',
  'block-devices-as-files': 'device nodes show as device nodes',
};

export interface BindfsSettings {
  policy: MirrorPolicy;
  /** --no-allow-other */
  noAllowOther: boolean;
  /** -r / -o ro */
  readOnly: boolean;
}

/**
 * Take bindfs's options out of `take` (undefined when absent, '' for a flag). Old bindfs names are
 * accepted as bindfs accepts them (user/owner/group for force-*).
 */
export function takeBindfsOptions(take: (name: string) => string | undefined, db = new UserDb()): BindfsSettings {
  const policy: MirrorPolicy = {};
  const value = (name: string): string | undefined => {
    const v = take(name);
    if (v === '') throw new MountError(`${name} needs a value, e.g. ${name}=${example(name)}`, { usage: true });
    return v;
  };
  const flag = (name: string): boolean => {
    const v = take(name);
    if (v !== undefined && v !== '') throw new MountError(`${name} takes no value (got ${name}=${v})`, { usage: true });
    return v !== undefined;
  };

  const user = value('force-user') ?? value('user') ?? value('owner');
  if (user !== undefined) policy.forceUid = db.uid('force-user', user);
  const group = value('force-group') ?? value('group');
  if (group !== undefined) policy.forceGid = db.gid('force-group', group);

  const mirror = value('mirror');
  const mirrorOnly = value('mirror-only');
  if (mirror !== undefined && mirrorOnly !== undefined) throw new MountError('give mirror or mirror-only, not both', { usage: true });
  if (mirror !== undefined || mirrorOnly !== undefined) {
    const name = mirror !== undefined ? 'mirror' : 'mirror-only';
    const uids = new Set<number>();
    for (const who of splitList(name, (mirror ?? mirrorOnly)!)) {
      if (who.startsWith('@')) for (const u of db.membersOf(name, who.slice(1))) uids.add(u);
      else uids.add(db.uid(name, who));
    }
    policy.mirror = { uids, only: mirrorOnly !== undefined };
  }

  for (const [name, why] of Object.entries(BINDFS_REFUSED)) {
    if (take(name) !== undefined) throw new MountError(`${name} is not supported: ${why}`, { usage: true });
  }
  // Accepted as bindfs's defaults are: requests are served one at a time (the race bindfs(1) warns
  // of under --multithreaded cannot happen), and locks are not forwarded.
  flag('multithreaded');
  flag('disable-lock-forwarding');

  const map = value('map');
  const mapPasswd = value('map-passwd');
  const mapGroup = value('map-group');
  const uidOffset = offset(value('uid-offset'), 'uid-offset');
  const gidOffset = offset(value('gid-offset'), 'gid-offset');
  if ((map ?? mapPasswd ?? mapGroup) !== undefined && (uidOffset !== undefined || gidOffset !== undefined))
    throw new MountError('map, map-passwd and map-group cannot be used together with uid-offset or gid-offset (as in bindfs)', {
      usage: true,
    });
  if (map !== undefined) Object.assign(policy, parseMap(map, db));
  // After --map's pairs: an id --map already maps keeps that mapping.
  for (const [option, file, kind, key] of [
    ['map-passwd', mapPasswd, 'user', 'uidMap'],
    ['map-group', mapGroup, 'group', 'gidMap'],
  ] as const) {
    if (file === undefined) continue;
    const list = [...(policy[key] ?? [])];
    for (const p of db.idsByName(option, file, kind)) {
      if (!list.some((r) => r.disk === p.disk || r.shown === p.shown)) list.push({ ...p, length: 1 });
    }
    if (list.length) policy[key] = list;
  }
  if (uidOffset) policy.uidMap = [{ disk: 0, shown: uidOffset, length: 0xffff_ffff - uidOffset }];
  if (gidOffset) policy.gidMap = [{ disk: 0, shown: gidOffset, length: 0xffff_ffff - gidOffset }];
  // An id below the offset has no id on disk: chown to it fails, as in bindfs.
  if (uidOffset || gidOffset) policy.unmapped = 'refuse';

  const perms = value('perms');
  if (perms !== undefined) policy.perms = parsePerms('perms', perms);
  const createPerms = value('create-with-perms');
  if (createPerms !== undefined) policy.createPerms = parsePerms('create-with-perms', createPerms);
  const chmodFilter = value('chmod-filter');
  if (chmodFilter !== undefined) policy.chmodFilter = parsePerms('chmod-filter', chmodFilter);

  const asUser = flag('create-as-user');
  const asMounter = flag('create-as-mounter');
  if (asUser && asMounter) throw new MountError('give create-as-user or create-as-mounter, not both', { usage: true });
  if (asUser) policy.createAs = 'caller';
  if (asMounter) policy.createAs = 'mounter';
  const forUser = value('create-for-user');
  if (forUser !== undefined) policy.createUid = db.uid('create-for-user', forUser);
  const forGroup = value('create-for-group');
  if (forGroup !== undefined) policy.createGid = db.gid('create-for-group', forGroup);

  policy.chown = oneOf('chown', flag);
  policy.chgrp = oneOf('chgrp', flag);
  policy.chmod = oneOf('chmod', flag);
  if (flag('chmod-allow-x')) policy.chmodAllowX = true;
  const xattr = (['none', 'ro', 'rw'] as const).filter((x) => flag(`xattr-${x}`));
  if (xattr.length > 1) throw new MountError(`give one of xattr-none, xattr-ro, xattr-rw (got ${xattr.length})`, { usage: true });
  if (xattr[0] && xattr[0] !== 'rw') policy.xattr = xattr[0];

  if (flag('delete-deny')) policy.deleteDeny = true;
  if (flag('rename-deny')) policy.renameDeny = true;
  if (flag('hide-hard-links')) policy.hideHardLinks = true;
  if (flag('ctime-from-mtime')) policy.ctimeFromMtime = true;
  if (flag('realistic-permissions')) {
    policy.realisticPermissions = { uid: process.geteuid?.() ?? 0, groups: [process.getegid?.() ?? 0, ...(process.getgroups?.() ?? [])] };
  }
  for (const dir of ['read', 'write'] as const) {
    const v = value(`${dir}-rate`);
    if (v === undefined) continue;
    const rate = parseRate(v);
    if (rate === undefined)
      throw new MountError(`${dir}-rate needs bytes per second, e.g. ${dir}-rate=10M (suffixes k, M, G, T)`, { usage: true });
    policy[dir === 'read' ? 'readRate' : 'writeRate'] = rate;
  }
  const readOnly = flag('ro') || flag('r');
  if (readOnly) policy.readOnly = true;
  const noAllowOther = flag('no-allow-other');

  for (const k of Object.keys(policy) as (keyof MirrorPolicy)[]) if (policy[k] === undefined) delete policy[k];
  return { policy, noAllowOther, readOnly };
}

function example(name: string): string {
  if (name.includes('perms') || name === 'chmod-filter') return '0644,a+X';
  if (name.includes('rate')) return '10M';
  if (name.includes('offset')) return '100000';
  if (name === 'map') return 'alice/bob:@staff/@users';
  if (name === 'map-passwd') return '/mnt/backup/etc/passwd';
  if (name === 'map-group') return '/mnt/backup/etc/group';
  if (name.includes('group')) return 'users';
  return 'alice';
}

function splitList(option: string, v: string): string[] {
  const items = v.split(/[,:]/).map((s) => s.trim());
  if (items.some((s) => s === '')) throw new MountError(`${option}: an empty item in '${v}'`, { usage: true });
  return items;
}

function offset(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n >= 0xffff_ffff) throw new MountError(`${name} needs a non-negative number, got '${v}'`, { usage: true });
  return n;
}

/** `user1/user2:@group1/@group2:…`: on disk / shown, each id at most once on each side. */
function parseMap(v: string, db: UserDb): { uidMap?: IdRange[]; gidMap?: IdRange[] } {
  const uidMap: IdRange[] = [];
  const gidMap: IdRange[] = [];
  for (const pair of splitList('map', v)) {
    const [from, to, extra] = pair.split('/');
    if (!from || !to || extra !== undefined || from.startsWith('@') !== to.startsWith('@'))
      throw new MountError(`map: '${pair}' is not user1/user2 or @group1/@group2`, { usage: true });
    const isGroup = from.startsWith('@');
    const list = isGroup ? gidMap : uidMap;
    const disk = isGroup ? db.gid('map', from.slice(1)) : db.uid('map', from);
    const shown = isGroup ? db.gid('map', to.slice(1)) : db.uid('map', to);
    if (list.some((r) => r.disk === disk || r.shown === shown))
      throw new MountError(`map: '${pair}' repeats a ${isGroup ? 'group' : 'user'} already mapped on the same side`, { usage: true });
    list.push({ disk, shown, length: 1 });
  }
  return { uidMap: uidMap.length ? uidMap : undefined, gidMap: gidMap.length ? gidMap : undefined };
}

function oneOf(what: 'chown' | 'chgrp' | 'chmod', flag: (name: string) => boolean): ChangePolicy | undefined {
  const set = (['normal', 'ignore', 'deny'] as const).filter((p) => flag(`${what}-${p}`));
  if (set.length > 1) throw new MountError(`give one of ${what}-normal, ${what}-ignore, ${what}-deny`, { usage: true });
  return set[0] === 'normal' ? undefined : set[0];
}
