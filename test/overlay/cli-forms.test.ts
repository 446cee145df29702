// The overlay command line in each of its documented forms: mount(8)'s order (options, then the
// mountpoint), repeated --lower/--upper/--work, an options file, a layer path holding a colon
// (escaped as \:), and a kernel `mount -t overlay` option string as it is. Each form must give the
// same union: the first lower layer on top, writes in upper.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { overlayLayers } from '../helpers/scratch';
import { syscalls } from '@layerfs/backing-io';
import { TRANSPORT, mountWith } from '../helpers/cli';

function layersWithColon() {
  const t = overlayLayers([
    { a: 'top', 'only-top': '1' },
    { a: 'bottom', 'only-bottom': '2' },
  ]);
  // A colon in the top layer's name: lowerdir must escape it.
  const colon = path.join(t.dir, 'top:layer');
  fs.renameSync(t.lower[0]!, colon);
  return { ...t, lower: [colon, t.lower[1]!] };
}

async function expectUnion(t: ReturnType<typeof layersWithColon>, args: string[]): Promise<void> {
  const m = await mountWith(['overlay', '--transport', TRANSPORT, ...args, t.mnt], t.mnt);
  try {
    expect(fs.readFileSync(path.join(t.mnt, 'a'), 'utf8')).toBe('top');
    expect(fs.readdirSync(t.mnt).sort()).toEqual(['a', 'only-bottom', 'only-top']);
    fs.writeFileSync(path.join(t.mnt, 'new'), 'n');
    expect(fs.readFileSync(path.join(t.upper!, 'new'), 'utf8')).toBe('n');
  } finally {
    await m.unmount();
    t.cleanup();
  }
}

const esc = (p: string) => p.replace(/:/g, '\\:');
/** The three layers as one kernel-style option string, the colon escaped, then `extra`. */
const withLayers = (t: ReturnType<typeof layersWithColon>, extra: string) =>
  `lowerdir=${t.lower.map(esc).join(':')},upperdir=${t.upper},workdir=${t.work},${extra}`;

test('-o lowerdir=A:B,upperdir=U,workdir=W MOUNTPOINT (mount(8) order, colon escaped)', async () => {
  const t = layersWithColon();
  await expectUnion(t, ['-o', `lowerdir=${t.lower.map(esc).join(':')},upperdir=${t.upper},workdir=${t.work}`]);
});

test('repeated -o options before the mountpoint', async () => {
  const t = layersWithColon();
  await expectUnion(t, ['-o', `lowerdir=${t.lower.map(esc).join(':')}`, '-o', `upperdir=${t.upper}`, '-o', `workdir=${t.work}`]);
});

test('--lower A --lower B --upper U --work W MOUNTPOINT (no escaping needed)', async () => {
  const t = layersWithColon();
  await expectUnion(t, ['--lower', t.lower[0]!, '--lower', t.lower[1]!, '--upper', t.upper!, '--work', t.work!]);
});

test('--options-file FILE MOUNTPOINT', async () => {
  const t = layersWithColon();
  const file = path.join(t.dir, 'options');
  fs.writeFileSync(file, `lowerdir=${t.lower.map(esc).join(':')}\nupperdir=${t.upper}\nworkdir=${t.work}\n`);
  await expectUnion(t, ['--options-file', file]);
});

test('a kernel overlay option string works as it is (redirect_dir=on,index=off,xino=auto,metacopy=off)', async () => {
  const t = layersWithColon();
  await expectUnion(t, ['-o', withLayers(t, 'redirect_dir=on,index=off,xino=auto,metacopy=off')]);
});

test("the kernel's append form: lowerdir+=A,lowerdir+=B (each path as it is, colon and all)", async () => {
  const t = layersWithColon();
  await expectUnion(t, ['-o', `lowerdir+=${t.lower[0]},lowerdir+=${t.lower[1]},upperdir=${t.upper},workdir=${t.work}`]);
});

test('newer kernel option values that describe layerfs on one filesystem (uuid=null, xino=on, verity=off, redirect_dir=follow)', async () => {
  const t = layersWithColon();
  await expectUnion(t, ['-o', withLayers(t, 'uuid=null,xino=on,verity=off,redirect_dir=follow')]);
});

test("fuse-overlayfs's own knobs, as storage.conf's mountopt and containers/storage pass them", async () => {
  const t = layersWithColon();
  // context= is for the kernel where SELinux is on; elsewhere (here, unless SELinux is) it is dropped.
  const selinux = fs.existsSync('/sys/fs/selinux/enforce');
  await expectUnion(t, [
    '-o',
    withLayers(
      t,
      `threaded=1,fast_ino=1,timeout=10,writeback=1,xattr_permissions=0,max_idle_threads=4${selinux ? '' : ',context="system_u:object_r:container_file_t:s0:c1,c2"'}`,
    ),
  ]);
});

test("noxattrs=1: no extended attributes through the mount (EOPNOTSUPP), while copy-up still keeps the layer's", async () => {
  const t = overlayLayers([{ f: 'lower' }]);
  syscalls.lsetxattr(path.join(t.lower[0]!, 'f'), 'user.kept', Buffer.from('1'));
  const m = await mountWith(
    ['overlay', '--transport', TRANSPORT, '-o', `lowerdir=${t.lower[0]},upperdir=${t.upper},workdir=${t.work},noxattrs=1`, t.mnt],
    t.mnt,
  );
  try {
    expect(() => syscalls.lgetxattr(path.join(t.mnt, 'f'), 'user.kept')).toThrow(/EOPNOTSUPP|ENOTSUP/);
    expect(() => syscalls.lsetxattr(path.join(t.mnt, 'f'), 'user.new', Buffer.from('2'))).toThrow(/EOPNOTSUPP|ENOTSUP/);
    fs.appendFileSync(path.join(t.mnt, 'f'), '+');
    expect(syscalls.lgetxattr(path.join(t.upper!, 'f'), 'user.kept').toString()).toBe('1');
  } finally {
    await m.unmount();
    t.cleanup();
  }
});

test('userxattr: the overlay writes its own xattrs as user.overlay.*', async () => {
  const t = overlayLayers([{ 'd/x': '1' }]);
  const m = await mountWith(
    ['overlay', '--transport', TRANSPORT, '-o', `lowerdir=${t.lower[0]},upperdir=${t.upper},workdir=${t.work},userxattr`, t.mnt],
    t.mnt,
  );
  try {
    fs.rmSync(path.join(t.mnt, 'd'), { recursive: true });
    fs.mkdirSync(path.join(t.mnt, 'd'));
    expect(fs.readdirSync(path.join(t.mnt, 'd'))).toEqual([]);
    expect(syscalls.lgetxattr(path.join(t.upper!, 'd'), 'user.overlay.opaque').toString()).toBe('y');
    expect(syscalls.llistxattr(path.join(t.upper!, 'd')).filter((n) => n.startsWith('trusted.'))).toEqual([]);
    // And private: not listed through the mount.
    expect(syscalls.llistxattr(path.join(t.mnt, 'd'))).toEqual([]);
  } finally {
    await m.unmount();
    t.cleanup();
  }
});
