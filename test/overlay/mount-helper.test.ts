// mount(8)'s way in: `mount -t fuse.layerfs-overlay SOURCE DIR -o OPTIONS` (layerfs-overlay on
// mount(8)'s PATH) or `mount -t fuse /path/to/layerfs-overlay#SOURCE DIR -o OPTIONS`, and the same
// lines in /etc/fstab, run mount.fuse3, which runs `layerfs-overlay SOURCE DIR -o rw,…,dev,suid` —
// the shape fuse-overlayfs takes. SOURCE names the mount, mount(8)'s generic flags (noexec, nosuid,
// nodev, ro, noatime, sync…) act on the mount, fstab-only ones (user, _netdev, x-…) are accepted,
// and set-id programs run from an overlay by default as on the kernel's overlay and fuse-overlayfs
// (nosuid where asked, and on the passthrough, as bindfs mounts). The passthrough's helper,
// layerfs-passthrough, takes bindfs's shape (`SOURCE MOUNTPOINT -o …`) and names the mount by its
// source, as bindfs does.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TRANSPORT, isMounted, mountOverlay, mountPassthrough, waitFor } from '../helpers/cli';
import { run } from '../helpers/run';
import { overlayLayers, sourceAndMountpoint } from '../helpers/scratch';

const BIN = path.resolve(__dirname, '..', '..', 'bin');
const NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups'];
const root = process.getuid?.() === 0;
const mountHelper = ['/sbin/mount.fuse3', '/usr/sbin/mount.fuse3', '/sbin/mount.fuse'].some((p) => fs.existsSync(p));
const rootTest = root ? test : test.skip;

function mountOptionsOf(mnt: string): { source: string; type: string; flags: string[] } {
  const line = fs
    .readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .find((f) => f[1] === mnt);
  if (!line) throw new Error(`${mnt} is not mounted`);
  return { source: line[0]!, type: line[2]!, flags: line[3]!.split(',') };
}

/** A copy of id(1), owned by root and set-uid, in `dir`: run by nobody it reports euid=0 where set-uid works. */
function setuidId(dir: string): string {
  const p = path.join(dir, 'suid-id');
  fs.copyFileSync('/usr/bin/id', p);
  fs.chownSync(p, 0, 0);
  fs.chmodSync(p, 0o4755);
  return p;
}

(root && mountHelper ? test : test.skip)(
  'mount -t fuse PROG#SOURCE DIR -o …: named SOURCE, mount flags applied, the union served',
  async () => {
    const t = overlayLayers([{ 'a.txt': 'lower a', 'tool/': '' }]);
    fs.copyFileSync('/bin/true', path.join(t.lower[0]!, 'tool', 'true'));
    fs.chmodSync(path.join(t.lower[0]!, 'tool', 'true'), 0o755);
    const opts = `rw,noexec,nosuid,noatime,user,_netdev,x-systemd.automount,lowerdir=${t.lower[0]},upperdir=${t.upper},workdir=${t.work}`;
    // The program's path in the source (mount(8) runs helpers with its own PATH, which has no bin/).
    const m = await run('env', [
      `LAYERFS_TRANSPORT=${TRANSPORT}`,
      'mount',
      '-t',
      'fuse',
      `${BIN}/layerfs-overlay#my-union`,
      t.mnt,
      '-o',
      opts,
    ]);
    try {
      expect(m.stderr).toBe('');
      expect(m.code).toBe(0);
      const mo = mountOptionsOf(t.mnt);
      expect(mo.source).toBe('my-union');
      expect(mo.type).toBe('fuse.layerfs-overlay');
      expect(mo.flags).toEqual(expect.arrayContaining(['rw', 'noexec', 'nosuid', 'noatime']));
      expect(fs.readFileSync(path.join(t.mnt, 'a.txt'), 'utf8')).toBe('lower a');
      fs.writeFileSync(path.join(t.mnt, 'b.txt'), 'new');
      expect(fs.readFileSync(path.join(t.upper!, 'b.txt'), 'utf8')).toBe('new');
      // noexec is the kernel's: execve of a program in the union is refused.
      const ran = await run(path.join(t.mnt, 'tool', 'true'), []);
      expect(ran.code).not.toBe(0);
    } finally {
      if (isMounted(t.mnt)) await run('umount', [t.mnt]);
      await waitFor(() => !isMounted(t.mnt), 'the unmount');
      t.cleanup();
    }
  },
);

(root && mountHelper ? test : test.skip)(
  'mount -t fuse PROG#SOURCE for the passthrough: bindfs options and mount flags, quiet, named by its source',
  async () => {
    const t = sourceAndMountpoint({ f: 'data' });
    fs.mkdirSync(path.join(t.dir, 'under'));
    try {
      const m = await run('env', [
        `LAYERFS_TRANSPORT=${TRANSPORT}`,
        'mount',
        '-t',
        'fuse',
        `${BIN}/layerfs-passthrough#${t.src}`,
        t.mnt,
        '-o',
        'perms=0600,noexec',
      ]);
      expect(m.stderr).toBe('');
      expect(m.stdout).toBe('');
      expect(m.code).toBe(0);
      const mo = mountOptionsOf(t.mnt);
      expect(mo.source).toBe(t.src);
      expect(mo.type).toBe('fuse.layerfs-passthrough');
      expect(mo.flags).toContain('noexec');
      expect(fs.statSync(path.join(t.mnt, 'f')).mode & 0o777).toBe(0o600);
      expect(fs.readFileSync(path.join(t.mnt, 'f'), 'utf8')).toBe('data');
    } finally {
      if (isMounted(t.mnt)) await run('umount', [t.mnt]);
      await waitFor(() => !isMounted(t.mnt), 'the unmount');
      t.cleanup();
    }
  },
);

rootTest('layerfs-overlay mounts over a directory that has entries (hidden while mounted), as fuse-overlayfs does', async () => {
  const t = overlayLayers([{ a: 'lower' }]);
  fs.writeFileSync(path.join(t.mnt, 'hidden'), 'under the mount');
  try {
    const r = await run('env', [
      `LAYERFS_TRANSPORT=${TRANSPORT}`,
      path.join(BIN, 'layerfs-overlay'),
      '-o',
      `lowerdir=${t.lower[0]},upperdir=${t.upper},workdir=${t.work}`,
      t.mnt,
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(fs.readdirSync(t.mnt)).toEqual(['a']);
  } finally {
    if (isMounted(t.mnt)) await run('umount', [t.mnt]);
    await waitFor(() => !isMounted(t.mnt), 'the unmount');
    expect(fs.readdirSync(t.mnt)).toEqual(['hidden']);
    t.cleanup();
  }
});

rootTest('an unknown option still fails with one line naming it', async () => {
  const t = overlayLayers([{ a: '1' }]);
  try {
    const r = await run('env', [
      `LAYERFS_TRANSPORT=${TRANSPORT}`,
      path.join(BIN, 'layerfs-overlay'),
      'src',
      t.mnt,
      '-o',
      `rw,dev,suid,bogus,lowerdir=${t.lower[0]},upperdir=${t.upper},workdir=${t.work}`,
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toEqual(['layerfs-overlay: unknown mount option: bogus (see layerfs overlay --help)']);
    expect(isMounted(t.mnt)).toBe(false);
  } finally {
    t.cleanup();
  }
});

rootTest('set-uid programs run from an overlay (as on the kernel overlay), not with -o nosuid', async () => {
  const t = overlayLayers([{}]);
  setuidId(t.lower[0]!);
  fs.chmodSync(path.dirname(t.mnt), 0o755);
  const suidRun = async (opts: string[]) => {
    const m = await mountOverlay(t.mnt, t, opts);
    try {
      const r = await run('setpriv', [...NOBODY, path.join(t.mnt, 'suid-id')]);
      expect(r.code).toBe(0);
      return r.stdout;
    } finally {
      await m.unmount();
    }
  };
  try {
    expect(await suidRun([])).toMatch(/euid=0\(/);
    expect(await suidRun(['nosuid'])).not.toMatch(/euid=0\(/);
  } finally {
    t.cleanup();
  }
});

rootTest('the passthrough mounts nosuid,nodev as bindfs does; -o suid lets set-uid programs run', async () => {
  const t = sourceAndMountpoint();
  setuidId(t.src);
  fs.chmodSync(t.dir, 0o755);
  const suidRun = async (opts: string[]) => {
    const m = await mountPassthrough(t.src, t.mnt, opts);
    try {
      const flags = mountOptionsOf(t.mnt).flags;
      const r = await run('setpriv', [...NOBODY, path.join(t.mnt, 'suid-id')]);
      expect(r.code).toBe(0);
      return { flags, out: r.stdout };
    } finally {
      await m.unmount();
    }
  };
  try {
    const plain = await suidRun([]);
    expect(plain.flags).toEqual(expect.arrayContaining(['nosuid', 'nodev']));
    expect(plain.out).not.toMatch(/euid=0\(/);
    const suid = await suidRun(['suid']);
    expect(suid.flags).not.toContain('nosuid');
    expect(suid.out).toMatch(/euid=0\(/);
  } finally {
    t.cleanup();
  }
});
