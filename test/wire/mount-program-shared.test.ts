// layerfs-overlay's shared daemon (bin/src/shared-daemon.ts): the first mount's daemon also serves
// the mounts that follow from the same user, namespaces and cgroup, so containers/storage's 8 mount
// program runs of a build start Node once. Real mounts through the real script; each test has its
// own rendezvous directory (XDG_RUNTIME_DIR) and a short idle time.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { alive, isMounted, waitFor } from '../helpers/cli';
import { run } from '../helpers/run';
import { overlayLayers } from '../helpers/scratch';

const OVERLAY = path.resolve(__dirname, '..', '..', 'bin', 'layerfs-overlay');
const CLI = path.resolve(__dirname, '..', '..', 'bin', 'layerfs');

function setup() {
  const a = overlayLayers([{ 'f.txt': 'from a\n', 'd/x': 'x' }]);
  const b = overlayLayers([{ 'g.txt': 'from b\n' }]);
  const xdg = fs.mkdtempSync('/tmp/layerfs-test-xdg-');
  const env = ['env', 'LAYERFS_TRANSPORT=wire', `XDG_RUNTIME_DIR=${xdg}`, 'LAYERFS_OVERLAY_IDLE_MS=400'];
  const rendezvous = path.join(xdg, `layerfs-overlay-${process.geteuid!()}`); // root of the initial namespace
  const serverPid = () => Number(fs.readFileSync(path.join(rendezvous, 'pid'), 'utf8'));
  const cleanup = async () => {
    for (const m of [a.mnt, b.mnt]) if (isMounted(m)) await run('umount', ['-l', m]);
    fs.rmSync(xdg, { recursive: true, force: true });
  };
  return { a, b, env, rendezvous, serverPid, cleanup };
}

/** Processes holding /dev/fuse open: which daemon serves how many connections. */
function fuseFds(pid: number): number {
  return fs.readdirSync(`/proc/${pid}/fd`).filter((fd) => {
    try {
      return fs.readlinkSync(`/proc/${pid}/fd/${fd}`) === '/dev/fuse';
    } catch {
      return false;
    }
  }).length;
}

function title(pid: number): string {
  return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0+$/, '');
}

test('the second mount is served by the first mount’s daemon; relative paths are the caller’s', async () => {
  const s = setup();
  try {
    const first = await run(s.env[0]!, [
      ...s.env.slice(1),
      OVERLAY,
      '-o',
      `lowerdir=${s.a.lower[0]},upperdir=${s.a.upper},workdir=${s.a.work},,volatile`,
      s.a.mnt,
    ]);
    expect(first).toMatchObject({ code: 0, stderr: '' });
    const pid = s.serverPid();
    expect(title(pid)).toBe('layerfs daemon (overlay, shared): 1 mount');
    // The second caller sits elsewhere and names its layers relative to its own cwd.
    const second = await run(s.env[0]!, [...s.env.slice(1), OVERLAY, '-o', 'lowerdir=lower1,upperdir=upper,workdir=work', 'mnt'], {
      cwd: s.b.dir,
    });
    expect(second).toMatchObject({ code: 0, stderr: '' });
    expect(s.serverPid()).toBe(pid);
    expect(fuseFds(pid)).toBe(2);
    expect(title(pid)).toBe('layerfs daemon (overlay, shared): 2 mounts');
    expect(fs.readFileSync(path.join(s.a.mnt, 'f.txt'), 'utf8')).toBe('from a\n');
    expect(fs.readFileSync(path.join(s.b.mnt, 'g.txt'), 'utf8')).toBe('from b\n');
    fs.appendFileSync(path.join(s.b.mnt, 'g.txt'), 'more\n');
    expect(fs.readFileSync(path.join(s.b.upper!, 'g.txt'), 'utf8')).toBe('from b\nmore\n');
    expect(fs.existsSync(path.join(s.a.upper!, 'g.txt'))).toBe(false);
    // A mount program's error reads the same from the shared daemon: one line, its exit code.
    const spare = path.join(s.a.dir, 'spare');
    fs.mkdirSync(spare);
    const bad = await run(s.env[0]!, [
      ...s.env.slice(1),
      OVERLAY,
      '-o',
      `lowerdir=${s.a.dir}/nope,upperdir=${s.a.upper},workdir=${s.a.work}`,
      spare,
    ]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^layerfs-overlay: lower layer 1 .*nope does not exist.*\n$/);
    expect(fs.readdirSync(s.rendezvous).sort()).toEqual(['lock', 'pid', 'requests']);
    // A layer inside one of its own mounts would make the daemon wait on itself while it mounts
    // (and so would mounting over one): such a request gets a daemon of its own, which stacks.
    const stacked = await run(s.env[0]!, [...s.env.slice(1), OVERLAY, '-o', `lowerdir=${s.a.mnt}/d`, spare]);
    expect(stacked).toMatchObject({ code: 0, stderr: '' });
    expect(fs.readFileSync(path.join(spare, 'x'), 'utf8')).toBe('x');
    expect(fuseFds(pid)).toBe(2);
    expect((await run('umount', [spare])).code).toBe(0);
    // So would a mountpoint below a layer of its own mounts: a lookup there crosses into it.
    const inLayer = path.join(s.b.lower[0]!, 'sub');
    fs.mkdirSync(inLayer);
    const below = await run(s.env[0]!, [...s.env.slice(1), OVERLAY, '-o', `lowerdir=${s.a.lower[0]}/d`, inLayer]);
    expect(below).toMatchObject({ code: 0, stderr: '' });
    expect(fuseFds(pid)).toBe(2);
    expect(fs.readdirSync(path.join(s.b.mnt, 'sub'))).toEqual(['x']);
    // Lazily: the overlay on b keeps the directory it looked up open, as a kernel overlay's dentry would.
    expect((await run('umount', ['-l', inLayer])).code).toBe(0);
    // One unmount leaves the other mount served; the last one lets the daemon go after its idle time.
    expect((await run('umount', [s.a.mnt])).code).toBe(0);
    expect(fs.readFileSync(path.join(s.b.mnt, 'g.txt'), 'utf8')).toBe('from b\nmore\n');
    expect(alive(pid)).toBe(true);
    expect((await run('umount', [s.b.mnt])).code).toBe(0);
    await waitFor(() => !alive(pid), 'the shared daemon to exit after its idle time');
    expect(fs.readdirSync(s.rendezvous)).toEqual(['lock']);
  } finally {
    await s.cleanup();
  }
});

test('a caller in another mount namespace, with fewer capabilities, or with LAYERFS_OVERLAY_SHARED=0 gets a daemon of its own', async () => {
  const s = setup();
  try {
    const first = await run(s.env[0]!, [...s.env.slice(1), OVERLAY, '-o', `lowerdir=${s.a.lower[0]}`, s.a.mnt]);
    expect(first).toMatchObject({ code: 0, stderr: '' });
    const pid = s.serverPid();
    // The shared daemon's mount would be invisible in the caller's namespace: it must not make it.
    const inNs = await run('unshare', [
      '-m',
      '--propagation',
      'private',
      'bash',
      '-c',
      `"$@" && cat "${s.b.mnt}/g.txt" && grep -c " ${s.b.mnt} " /proc/self/mounts && umount "${s.b.mnt}"`,
      'sh',
      ...s.env,
      OVERLAY,
      '-o',
      `lowerdir=${s.b.lower[0]}`,
      s.b.mnt,
    ]);
    expect(inNs).toMatchObject({ code: 0, stdout: 'from b\n1\n', stderr: '' });
    expect(title(pid)).toBe('layerfs daemon (overlay, shared): 1 mount');
    expect(isMounted(s.b.mnt)).toBe(false);
    // Nor may a caller that gave up a capability get a mount through a daemon that has it.
    const dropped = await run('setpriv', ['--bounding-set', '-net_raw', ...s.env, OVERLAY, '-o', `lowerdir=${s.b.lower[0]}`, s.b.mnt]);
    expect(dropped).toMatchObject({ code: 0, stderr: '' });
    expect(fuseFds(pid)).toBe(1);
    expect(fs.readFileSync(path.join(s.b.mnt, 'g.txt'), 'utf8')).toBe('from b\n');
    expect((await run('umount', [s.b.mnt])).code).toBe(0);
    const own = await run(s.env[0]!, [...s.env.slice(1), 'LAYERFS_OVERLAY_SHARED=0', OVERLAY, '-o', `lowerdir=${s.b.lower[0]}`, s.b.mnt]);
    expect(own).toMatchObject({ code: 0, stderr: '' });
    expect(fuseFds(pid)).toBe(1);
    expect(fs.readFileSync(path.join(s.b.mnt, 'g.txt'), 'utf8')).toBe('from b\n');
  } finally {
    await s.cleanup();
  }
});

test('a killed shared daemon is replaced at the next mount, not waited for', async () => {
  const s = setup();
  try {
    const first = await run(s.env[0]!, [...s.env.slice(1), OVERLAY, '-o', `lowerdir=${s.a.lower[0]}`, s.a.mnt]);
    expect(first.code).toBe(0);
    const pid = s.serverPid();
    process.kill(pid, 'SIGKILL');
    await waitFor(() => !alive(pid), 'the killed daemon to be gone');
    // Its FIFO and pid file are still there; the script must see that nobody serves them.
    expect(fs.existsSync(path.join(s.rendezvous, 'requests'))).toBe(true);
    await run('umount', ['-l', s.a.mnt]);
    const next = await run(s.env[0]!, [...s.env.slice(1), OVERLAY, '-o', `lowerdir=${s.b.lower[0]}`, s.b.mnt]);
    expect(next).toMatchObject({ code: 0, stderr: '' });
    expect(s.serverPid()).not.toBe(pid);
    expect(fs.readFileSync(path.join(s.b.mnt, 'g.txt'), 'utf8')).toBe('from b\n');
  } finally {
    await s.cleanup();
  }
});

test('mounts asked for at the same moment are each answered, all by one daemon', async () => {
  const s = setup();
  const t = overlayLayers([{ 'f.txt': 'shared\n' }]);
  const mnts = [0, 1, 2, 3, 4, 5].map((i) => path.join(t.dir, `m${i}`));
  try {
    const first = await run(s.env[0]!, [...s.env.slice(1), OVERLAY, '-o', `lowerdir=${s.a.lower[0]}`, s.a.mnt]);
    expect(first.code).toBe(0);
    const pid = s.serverPid();
    const results = await Promise.all(
      mnts.map((m, i) => {
        fs.mkdirSync(m);
        fs.mkdirSync(`${m}.u`);
        fs.mkdirSync(`${m}.w`);
        return run(s.env[0]!, [...s.env.slice(1), OVERLAY, '-o', `lowerdir=${t.lower[0]},upperdir=${m}.u,workdir=${m}.w`, m]).then((r) => ({
          i,
          r,
        }));
      }),
    );
    for (const { r } of results) expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(fuseFds(pid)).toBe(1 + mnts.length);
    mnts.forEach((m, i) => fs.appendFileSync(path.join(m, 'f.txt'), `${i}\n`));
    mnts.forEach((m, i) => expect(fs.readFileSync(path.join(`${m}.u`, 'f.txt'), 'utf8')).toBe(`shared\n${i}\n`));
  } finally {
    for (const m of mnts) if (isMounted(m)) await run('umount', [m]);
    await s.cleanup();
  }
});

test('a runtime directory owned by someone else is not used: its owner could swap what is written there', async () => {
  const s = setup();
  const foreign = fs.mkdtempSync('/tmp/layerfs-test-foreign-');
  fs.chownSync(foreign, 65534, 65534);
  try {
    const env = s.env.map((e) => (e.startsWith('XDG_RUNTIME_DIR=') ? `XDG_RUNTIME_DIR=${foreign}` : e));
    const r = await run(env[0]!, [...env.slice(1), OVERLAY, '-o', `lowerdir=${s.a.lower[0]}`, s.a.mnt]);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(fs.readFileSync(path.join(s.a.mnt, 'f.txt'), 'utf8')).toBe('from a\n');
    expect(fs.readdirSync(foreign)).toEqual([]);
  } finally {
    await s.cleanup();
    fs.rmSync(foreign, { recursive: true, force: true });
  }
});

// umount(8) of a FUSE mount returns once the kernel has cut the connection; the requests it had
// queued (a RELEASE, a FORGET) never reach the daemon. Whatever it still held in the layers then
// kept their filesystem busy: a file unlinked while a caller still had it (an O_PATH fd here) kept
// its fd in the daemon until the shared daemon left — `umount MNT && umount LAYER-FS`, as
// unionmount-testsuite runs it, failed EBUSY now and then (when the abort beat the FORGET). Here
// the connection is aborted while the caller still holds the file, so no FORGET can come.
test('after an unmount the shared daemon holds nothing of the layers, not even a file the kernel never forgot', async () => {
  const s = setup();
  const tmp = path.join(s.a.dir, 'upperfs');
  fs.mkdirSync(tmp);
  expect(await run('mount', ['-t', 'tmpfs', 'layerfs-test', tmp])).toMatchObject({ code: 0 });
  let pid = 0;
  try {
    fs.mkdirSync(path.join(tmp, 'u'));
    fs.mkdirSync(path.join(tmp, 'w'));
    // The daemon stays up well past the unmount: it, not its exit, must let go of the layers.
    const env = s.env.map((e) => (e.startsWith('LAYERFS_OVERLAY_IDLE_MS=') ? 'LAYERFS_OVERLAY_IDLE_MS=60000' : e));
    const r = await run(env[0]!, [...env.slice(1), OVERLAY, '-o', `lowerdir=${s.a.lower[0]},upperdir=${tmp}/u,workdir=${tmp}/w`, s.a.mnt]);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    pid = s.serverPid();
    for (const f of ['gone.txt', 'open.txt']) fs.writeFileSync(path.join(s.a.mnt, f), 'new\n');
    // A caller keeps the unlinked file by an O_PATH fd and another file open while the mount goes.
    const holder = spawn('python3', [
      '-c',
      'import os,sys; a=os.open(sys.argv[1], os.O_PATH); os.unlink(sys.argv[1]); b=os.open(sys.argv[2], os.O_RDONLY); print("ready", flush=True); sys.stdin.read()',
      path.join(s.a.mnt, 'gone.txt'),
      path.join(s.a.mnt, 'open.txt'),
    ]);
    await new Promise<void>((resolve, reject) => {
      holder.stdout.once('data', () => resolve());
      holder.once('exit', (code) => reject(new Error(`holder exited ${code}`)));
    });
    expect(await run(process.execPath, [CLI, 'umount', '--force', s.a.mnt])).toMatchObject({ code: 0 });
    await waitFor(() => title(pid) === 'layerfs daemon (overlay, shared): 0 mounts', 'the daemon to see its mount end');
    const exited = new Promise((r) => holder.once('exit', r));
    holder.stdin.end();
    await exited;
    const umounted = async () => (await run('umount', [tmp])).code === 0;
    let done = false;
    for (let i = 0; i < 40 && !done; i++) {
      done = await umounted();
      if (!done) await new Promise((res) => setTimeout(res, 50));
    }
    expect({ unmounted: done, daemonStillUp: alive(pid) }).toEqual({ unmounted: true, daemonStillUp: true });
  } finally {
    if (pid && alive(pid)) process.kill(pid, 'SIGTERM');
    if (isMounted(tmp)) await run('umount', ['-l', tmp]);
    await s.cleanup();
  }
});
