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

  /** The uids of a group's members: listed in /etc/group, or having it as their primary group. */
  membersOf(option: string, group: string): number[] {
    const gid = this.gid(option, group);
    const listed = new Set(this.#groups.find((g) => g.gid === gid)?.members ?? []);
    return this.#users.filter((u) => u.gid === gid || listed.has(u.name)).map((u) => u.uid);
  }
}
