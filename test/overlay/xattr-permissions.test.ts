// fuse-overlayfs's xattr_permissions, on layerfs-overlay (containers/storage passes
// xattr_permissions=2 whenever storage.conf sets force_mask, and sets force_mask itself for a
// rootless user whose storage is on NFS): owners and modes live in an xattr, not in the inode.
// The lower layer here is what containers/storage extracts with force_mask — inodes of the daemon's
// user, true owners and modes in user.containers.override_stat, its root carrying one too.
// Checked: what the mount shows, what chown/chmod/create/copy-up write (the xattr, never the
// inode), that the names never show through the mount, a remount, fuse-overlayfs reading the same
// layers afterwards (where installed), xattr_permissions=1's security.* name, a read-only mount
// of such a layer without the option, and set-user-ID dropped from the xattr by another's write.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { syscalls } from '@layerfs/backing-io';
import { TRANSPORT, isMounted } from '../helpers/cli';
import { run } from '../helpers/run';
import { overlayLayers } from '../helpers/scratch';

const OVERLAY = path.resolve(__dirname, '..', '..', 'bin', 'layerfs-overlay');
const LAYERFS = path.join(path.dirname(OVERLAY), 'layerfs');
const CONTAINERS = 'user.containers.override_stat';
const USER = 'user.fuseoverlayfs.override_stat';
const PRIVILEGED = 'security.fuseoverlayfs.override_stat';
const haveFuseOverlayfs = spawnSync('which', ['fuse-overlayfs']).status === 0;

const setx = (p: string, name: string, v: string) => syscalls.lsetxattr(p, name, Buffer.from(v));
const getx = (p: string, name: string) => syscalls.lgetxattr(p, name).toString();

function forceMaskLayers() {
  const t = overlayLayers([{ 'd/f': 'a', g: 'b' }]);
  const l = t.lower[0]!;
  fs.chmodSync(path.join(l, 'd/f'), 0o644);
  fs.chmodSync(path.join(l, 'g'), 0o644);
  setx(l, CONTAINERS, '0:0:0755');
  setx(path.join(l, 'd'), CONTAINERS, '1000:1000:0750');
  setx(path.join(l, 'd/f'), CONTAINERS, '1000:1000:0640:file');
  return t;
}

async function mount(t: ReturnType<typeof forceMaskLayers>, opts: string) {
  const r = await run('env', [`LAYERFS_TRANSPORT=${TRANSPORT}`, OVERLAY, '-o', opts, t.mnt]);
  if (r.code !== 0) throw new Error(`layerfs-overlay failed: ${r.stderr}`);
}

/** `fn` on fresh force_mask layers, unmounted and removed after. */
async function withLayers(fn: (t: ReturnType<typeof forceMaskLayers>) => Promise<void>): Promise<void> {
  const t = forceMaskLayers();
  try {
    await fn(t);
  } finally {
    await unmount(t.mnt);
    t.cleanup();
  }
}

async function unmount(mnt: string) {
  if (isMounted(mnt)) await run(process.execPath, [LAYERFS, 'umount', mnt]);
}

/** `uid:gid mode` of each name under `root`, as stat(2) answers through the mount. */
function shown(root: string, names: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of names) {
    const st = fs.lstatSync(path.join(root, n));
    out[n] = `${st.uid}:${st.gid} ${(st.mode & 0o7777).toString(8)}`;
  }
  return out;
}

const NAMES = ['.', 'd', 'd/f', 'g', 'newdir', 'newfile'];

test('xattr_permissions=2 over a force_mask layer: shown from the xattr, changed in the upper xattr only', () =>
  withLayers(async (t) => {
    const m = t.mnt;
    const upper = t.upper!;
    await mount(t, `lowerdir=${t.lower[0]},upperdir=${upper},workdir=${t.work},,volatile,xattr_permissions=2`);
    expect(shown(m, ['.', 'd', 'd/f', 'g'])).toEqual({ '.': '0:0 755', d: '1000:1000 750', 'd/f': '1000:1000 640', g: '0:0 644' });
    // The override names are the overlay's own: not listed, not readable, not settable.
    expect(syscalls.llistxattr(path.join(m, 'd/f'))).not.toContain(CONTAINERS);
    expect(() => syscalls.lgetxattr(path.join(m, 'd/f'), CONTAINERS)).toThrow(/ENODATA/);
    expect(() => setx(path.join(m, 'g'), USER, '0:0:777')).toThrow(/EPERM/);

    fs.chownSync(path.join(m, 'd/f'), 2000, 3000); // copies d and d/f up
    fs.chmodSync(path.join(m, 'g'), 0o600);
    fs.chownSync(path.join(m, 'g'), -1, 55);
    fs.mkdirSync(path.join(m, 'newdir'), 0o755);
    fs.writeFileSync(path.join(m, 'newfile'), 'x', { mode: 0o644 });
    fs.chmodSync(path.join(m, 'newfile'), 0o4755);
    fs.chownSync(path.join(m, 'newfile'), 7, 7); // drops set-user-ID, as chown(2) does on Linux
    const after = {
      '.': '0:0 755',
      d: '1000:1000 750',
      'd/f': '2000:3000 640',
      g: '0:55 600',
      newdir: '0:0 755',
      newfile: '7:7 755',
    };
    expect(shown(m, NAMES)).toEqual(after);
    await unmount(m);

    // The upper layer: fuse-overlayfs's user.* record on every entry; inodes not chowned or chmodded.
    expect(getx(upper, USER)).toBe('0:0:0755'); // the lower root's value, given to the upper root at mount
    expect(getx(path.join(upper, 'd/f'), USER)).toBe('2000:3000:640');
    expect(getx(path.join(upper, 'g'), USER)).toBe('0:55:600');
    expect(getx(path.join(upper, 'newfile'), USER)).toBe('7:7:755');
    expect(getx(path.join(upper, 'newdir'), USER)).toBe('0:0:755');
    const inode = fs.statSync(path.join(upper, 'd/f'));
    expect([inode.uid, inode.gid, inode.mode & 0o7777]).toEqual([process.getuid!(), process.getgid!(), 0o644]);
    expect(() => getx(path.join(upper, 'd/f'), CONTAINERS)).toThrow(/ENODATA/); // not copied up as it was

    await mount(t, `lowerdir=${t.lower[0]},upperdir=${upper},workdir=${t.work},xattr_permissions=2`);
    expect(shown(m, NAMES)).toEqual(after);
    await unmount(m);

    if (haveFuseOverlayfs) {
      // fuse-overlayfs on the same layers shows what layerfs wrote. (Its 1.10 answers ENOENT for a
      // lower file without the xattr in a layer that keeps them — g before its copy-up — so the
      // comparison is made after every name has come up.)
      execFuseOverlayfs(`lowerdir=${t.lower[0]},upperdir=${upper},workdir=${t.work},xattr_permissions=2`, m);
      try {
        expect(shown(m, NAMES)).toEqual(after);
      } finally {
        spawnSync('umount', [m]);
      }
    }
  }));

test('xattr_permissions=1 keeps them in security.*; a read-only mount of a force_mask layer shows them without the option', () =>
  withLayers(async (t) => {
    const m = t.mnt;
    await mount(t, `lowerdir=${t.lower[0]},upperdir=${t.upper},workdir=${t.work},xattr_permissions=1`);
    // fuse-overlayfs gives the upper root 0:0:555 when no lower root has the security.* name.
    expect(shown(m, ['.', 'd/f'])).toEqual({ '.': '0:0 555', 'd/f': '1000:1000 640' });
    fs.chownSync(path.join(m, 'd/f'), 5, 6);
    expect(shown(m, ['d/f'])).toEqual({ 'd/f': '5:6 640' });
    await unmount(m);
    expect(getx(path.join(t.upper!, 'd/f'), PRIVILEGED)).toBe('5:6:640');

    await mount(t, `lowerdir=${t.lower[0]}`);
    expect(shown(m, ['.', 'd', 'd/f', 'g'])).toEqual({ '.': '0:0 755', d: '1000:1000 750', 'd/f': '1000:1000 640', g: '0:0 644' });
  }));

test('a write by another user drops set-user-ID from the xattr, as from an inode', () =>
  withLayers(async (t) => {
    const m = t.mnt;
    fs.chmodSync(t.dir, 0o755);
    await mount(t, `lowerdir=${t.lower[0]},upperdir=${t.upper},workdir=${t.work},xattr_permissions=2`);
    fs.chmodSync(m, 0o755);
    fs.writeFileSync(path.join(m, 'suid'), 'x');
    fs.chmodSync(path.join(m, 'suid'), 0o4777);
    const w = await run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'sh', '-c', `echo y >> ${path.join(m, 'suid')}`]);
    expect(w.stderr).toBe('');
    expect(shown(m, ['suid'])).toEqual({ suid: '0:0 777' });
    await unmount(m);
    expect(getx(path.join(t.upper!, 'suid'), USER)).toBe('0:0:777');
  }));

function execFuseOverlayfs(opts: string, mnt: string): void {
  const r = spawnSync('fuse-overlayfs', ['-o', opts, mnt], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`fuse-overlayfs failed: ${r.stderr}`);
}
