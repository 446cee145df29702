// bindfs's options on `layerfs passthrough`, checked against bindfs itself: for each set of flags,
// bindfs and layerfs mount two copies of one tree with those flags; one script of operations
// (bindfs-ops.sh: stat of every entry, create, mkdir, chmod, chown, chgrp, xattrs, rm, mv, ln, access
// checks) runs in each, as root and as an unprivileged user (uid 65534); the outputs and the source
// trees left behind must match line by line.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CLI, TRANSPORT, alive, isMounted, mountWith } from '../helpers/cli';
import { run } from '../helpers/run';
import { scratch } from '../helpers/scratch';

const bindfs = ['/usr/bin/bindfs', '/bin/bindfs'].find((p) => fs.existsSync(p));
const setfattr = ['/usr/bin/setfattr', '/bin/setfattr'].find((p) => fs.existsSync(p));
const SCRIPT = path.join(__dirname, 'bindfs-ops.sh');
const USER = ['--reuid=65534', '--regid=65534', '--clear-groups'];

/** A tree with entries of several owners and modes, a hard link, a symlink and an xattr. */
function makeTree(root: string): void {
  const file = (p: string, body: string, mode: number, uid = 0, gid = 0) => {
    fs.writeFileSync(path.join(root, p), body);
    fs.chmodSync(path.join(root, p), mode);
    fs.chownSync(path.join(root, p), uid, gid);
  };
  const dir = (p: string, mode: number, uid = 0, gid = 0) => {
    fs.mkdirSync(path.join(root, p));
    fs.chmodSync(path.join(root, p), mode);
    fs.chownSync(path.join(root, p), uid, gid);
  };
  fs.chmodSync(root, 0o755);
  dir('pub', 0o777);
  for (const t of ['root', 'user']) {
    file(`pub/victim-${t}`, 'v\n', 0o644);
    file(`pub/mv-${t}`, 'm\n', 0o644);
    dir(`pub/empty-${t}`, 0o755);
  }
  file('mine', 'mine\n', 0o644, 65534, 65534);
  file('other', 'other\n', 0o640, 1234, 1234);
  file('secret', 'secret\n', 0o600);
  file('ro-file', 'ro\n', 0o444, 65534, 65534);
  file('script', '#!/bin/sh\necho ran\n', 0o755);
  file('seeded', 'x\n', 0o666);
  execFileSync(setfattr!, ['-n', 'user.seed', '-v', 'seed', path.join(root, 'seeded')]);
  fs.linkSync(path.join(root, 'mine'), path.join(root, 'mine-link'));
  fs.symlinkSync('mine', path.join(root, 'sym'));
  dir('sub', 0o750, 1234, 1234);
  file('sub/inner', 'i\n', 0o644, 1234, 1234);
  // A fixed old mtime: ctime (now) differs from it, unless the mount shows ctime from mtime.
  execFileSync('sh', ['-c', `cd '${root}' && find . -exec touch -h -m -d 2001-01-01 {} +`]);
}

/** The source tree as it stands: what the operations left on disk. */
function diskView(root: string): string {
  return execFileSync('sh', ['-c', `cd '${root}' && find . -mindepth 1 | LC_ALL=C sort | xargs -d '\\n' stat -c '%n %A %u %g %h %s'`], {
    encoding: 'utf8',
  });
}

async function script(mnt: string, asUser: boolean): Promise<string> {
  const tag = asUser ? 'user' : 'root';
  const r = asUser ? await run('setpriv', [...USER, SCRIPT, mnt, tag]) : await run(SCRIPT, [mnt, tag]);
  return (r.stdout + r.stderr).split(mnt).join('MNT');
}

interface Case {
  flags: string[];
  /** bindfs flags when they differ (the old spelling of an option, for instance). */
  bindfsFlags?: string[];
  /** Where layerfs differs on purpose (README, "bindfs's options"): bindfs's line → layerfs's. */
  differs?: [RegExp, string][];
}

// Every option of bindfs(1) layerfs takes, alone or with the ones it works with.
const CASES: Case[] = [
  { flags: [] },
  { flags: ['--force-user=1234', '--force-group=1234'] },
  { flags: ['-u', '65534', '-g', '65534', '-p', '0000,u=rD'] },
  { flags: ['--perms=0644,a+X'] },
  { flags: ['-p', 'og-x:og+rD:u=rwX:g+rw'] },
  { flags: ['--perms=a-w,fu+w,d+x'] },
  { flags: ['--mirror=65534'] },
  { flags: ['--mirror-only=65534', '-p', '0600,u+X'] },
  { flags: ['--map=1234/65534:@1234/@65534'] },
  // A backup's user and group files in which nobody/nogroup are 1234: shown as this system's 65534.
  { flags: [`--map-passwd=${path.join(__dirname, 'backup-passwd')}`, '-o', `map-group=${path.join(__dirname, 'backup-group')}`] },
  {
    flags: ['--uid-offset=1000', '--gid-offset=1000'],
    // root (uid 0, below the offset) making a directory or symlink: bindfs makes it, then answers EIO
    // (its chown to a negative id fails) and leaves it there; layerfs makes it and says so.
    differs: [[/^(mkdir pub\/dir-root|ln -s target pub\/sym-root) -> 1 Input\/output error$/, '$1 -> 0 ']],
  },
  { flags: ['--create-as-user'] },
  { flags: ['--create-as-mounter'] },
  { flags: ['--create-for-user=1234', '--create-for-group=1234'] },
  { flags: ['--create-with-perms=og-rwx,u+X'] },
  { flags: ['--chown-ignore', '--chgrp-deny'] },
  { flags: ['--chown-deny', '--chgrp-ignore'] },
  { flags: ['--chown-normal', '--chgrp-normal', '--chmod-normal'] },
  { flags: ['--chmod-ignore'] },
  { flags: ['--chmod-deny'] },
  { flags: ['--chmod-deny', '--chmod-allow-x'] },
  { flags: ['--chmod-ignore', '--chmod-allow-x'] },
  { flags: ['--chmod-filter=g-w,o-rwx'] },
  { flags: ['--xattr-none'] },
  { flags: ['--xattr-ro'] },
  { flags: ['--xattr-rw'] },
  { flags: ['--delete-deny'] },
  { flags: ['--rename-deny'] },
  { flags: ['-r'] },
  { flags: ['-o', 'ro'] },
  { flags: ['--hide-hard-links', '--ctime-from-mtime'] },
  { flags: ['--realistic-permissions'] },
  { flags: ['--read-rate=200M', '--write-rate=200M'] },
  { flags: ['--no-allow-other'] },
  { flags: ['--multithreaded', '--disable-lock-forwarding'] },
  { flags: ['-o', 'perms=0640:a+X,force-user=65534,chmod-ignore'] },
];

const maybe = bindfs && setfattr && process.getuid?.() === 0 ? describe : describe.skip;

maybe(`bindfs's options match bindfs (${TRANSPORT} transport)`, () => {
  test.each(CASES.map((c) => [c.flags.join(' ') || '(no options)', c] as const))('%s', async (_name, c) => {
    const t = scratch();
    fs.chmodSync(t.dir, 0o755);
    const side = (n: string) => {
      const src = path.join(t.dir, `${n}-src`);
      const mnt = path.join(t.dir, `${n}-mnt`);
      fs.mkdirSync(src);
      fs.mkdirSync(mnt);
      makeTree(src);
      return { src, mnt };
    };
    const b = side('bindfs');
    const l = side('layerfs');
    const r = await run(bindfs!, [...(c.bindfsFlags ?? c.flags), b.src, b.mnt]);
    if (r.code !== 0) throw new Error(`bindfs failed: ${r.stderr}`);
    // The daemon's own output, kept for a failure's message: one CI run saw two of these daemons
    // gone (ENOTCONN) in the middle of their script, which no run since has reproduced.
    const log = path.join(t.dir, 'daemon.log');
    const m = await mountWith(['passthrough', '--transport', TRANSPORT, '--log', log, ...c.flags, l.src, l.mnt], l.mnt);
    try {
      for (const asUser of [false, true]) {
        // Both sides at once: each script waits out bindfs's attribute cache once.
        const [bindfsOut, layerfsOut] = await Promise.all([script(b.mnt, asUser), script(l.mnt, asUser)]);
        const want = bindfsOut.split('\n').map((line) => (c.differs ?? []).reduce((l, [re, to]) => l.replace(re, to), line));
        const got = layerfsOut.split('\n');
        expect({ asUser, lines: got }).toEqual({ asUser, lines: want });
      }
      expect(diskView(l.src)).toBe(diskView(b.src));
    } catch (e) {
      const said = fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : '';
      const state = `daemon ${m.pid} ${alive(m.pid) ? 'running' : 'gone'}, ${isMounted(l.mnt) ? 'mounted' : 'not mounted'}`;
      if (e instanceof Error) e.message += `\n(${state}; its log: ${said.trim() || '(empty)'})`;
      throw e;
    } finally {
      await m.unmount();
      if (isMounted(b.mnt)) await run('umount', ['-l', b.mnt]);
      t.cleanup();
    }
  });
});

describe('bad values', () => {
  test.each([
    [['-u', 'no-such-user-here'], /force-user: no such user 'no-such-user-here'/],
    [['--force-group=no-such-group-here'], /force-group: no such group/],
    [['-p', 'q+r'], /perms: bad permission specification 'q\+r'/],
    [['--create-with-perms=0999'], /create-with-perms: bad permission specification/],
    [['--map=alice'], /map: 'alice' is not user1\/user2/],
    [['--read-rate=fast'], /read-rate needs bytes per second/],
    [['--chown-ignore', '--chown-deny'], /one of chown-normal, chown-ignore, chown-deny/],
    [['--uid-offset=-5'], /uid-offset needs a non-negative number/],
    [['--map-passwd=/no/such/passwd'], /map-passwd: \/no\/such\/passwd does not exist/],
    [['-o', 'resolve-symlinks'], /resolve-symlinks is not supported: the mirror never follows a symlink/],
    [['--resolve-symlinks'], /resolve-symlinks is not supported: the mirror never follows a symlink/],
    [['-o', 'enable-lock-forwarding'], /enable-lock-forwarding is not supported: locks stay in this kernel/],
  ])('%s', async (flags, message) => {
    const t = scratch();
    try {
      fs.mkdirSync(path.join(t.dir, 'src'));
      fs.mkdirSync(path.join(t.dir, 'mnt'));
      const r = await run(process.execPath, [CLI, 'passthrough', ...flags, path.join(t.dir, 'src'), path.join(t.dir, 'mnt')]);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(message);
      expect(isMounted(path.join(t.dir, 'mnt'))).toBe(false);
    } finally {
      t.cleanup();
    }
  });
});
