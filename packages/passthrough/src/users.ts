// User and group names as bindfs takes them: a name from the user database (/etc/passwd,
// /etc/group) or a number. Read once at mount time; like bindfs, later changes to the database are
// not seen by a running mount.
import * as fs from 'node:fs';
import { MountError } from '@layerfs/fuse-bridge';

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
}

interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

function readDb(file: string): string[][] {
  try {
    return fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => l.split(':'));
  } catch {
    return [];
  }
}

export class UserDb {
  readonly #users: PasswdEntry[];
  readonly #groups: GroupEntry[];

  constructor(passwd = '/etc/passwd', group = '/etc/group') {
    this.#users = readDb(passwd).map((f) => ({ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]) }));
    this.#groups = readDb(group).map((f) => ({ name: f[0]!, gid: Number(f[2]), members: (f[3] ?? '').split(',').filter(Boolean) }));
  }

  /** A user name or uid; `option` names the option in the error. */
  uid(option: string, who: string): number {
    if (/^\d+$/.test(who)) return Number(who);
    const u = this.#users.find((e) => e.name === who);
    if (!u) throw new MountError(`${option}: no such user '${who}' (give a user name or a uid)`, { usage: true });
    return u.uid;
  }

  gid(option: string, who: string): number {
    if (/^\d+$/.test(who)) return Number(who);
    const g = this.#groups.find((e) => e.name === who);
    if (!g) throw new MountError(`${option}: no such group '${who}' (give a group name or a gid)`, { usage: true });
    return g.gid;
  }

  /**
   * --map-passwd / --map-group: for each name in another system's passwd or group file (a backup's
   * /etc/passwd) that this system knows too, its id there (on disk) → its id here (shown). Names
   * this system lacks, and ids already equal, give no pair; an id on either side counts once.
   */
  idsByName(option: string, file: string, kind: 'user' | 'group'): Array<{ disk: number; shown: number }> {
    if (!fs.existsSync(file)) throw new MountError(`${option}: ${file} does not exist (give a passwd or group file)`, { usage: true });
    const theirs = readDb(file).map((f) => ({ name: f[0]!, id: Number(f[2]) }));
    const ours =
      kind === 'user' ? this.#users.map((u) => ({ name: u.name, id: u.uid })) : this.#groups.map((g) => ({ name: g.name, id: g.gid }));
    const pairs: Array<{ disk: number; shown: number }> = [];
    for (const t of theirs) {
      const o = ours.find((e) => e.name === t.name);
      if (!o || !Number.isInteger(t.id) || o.id === t.id) continue;
      if (pairs.some((p) => p.disk === t.id || p.shown === o.id)) continue;
      pairs.push({ disk: t.id, shown: o.id });
    }
    return pairs;
  }

  /** The uids of a group's members: listed in /etc/group, or having it as their primary group. */
  membersOf(option: string, group: string): number[] {
    const gid = this.gid(option, group);
    const listed = new Set(this.#groups.find((g) => g.gid === gid)?.members ?? []);
    return this.#users.filter((u) => u.gid === gid || listed.has(u.name)).map((u) => u.uid);
  }
}
