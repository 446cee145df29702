// Kernel passthrough, proven with the transport's own counters: while a file is read through the
// mount no READ request reaches the daemon; with -o passthrough=off the daemon serves the same bytes;
// a small file opened read-only is served by the daemon, and never from pages a passed-through
// writer left stale; 50 processes opening one file at the same instant share one backing id.
//
// The mounts here are served by this test process (the counters live in it), so every touch of the
// mount goes through a child process: a synchronous call from here would wait on ourselves.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { mountPassthrough, PassthroughMount } from '@layerfs/passthrough';
import { mountOverlay, OverlayMount } from '@layerfs/overlay';
import { overlayLayers, sourceAndMountpoint } from '../helpers/scratch';
import { py, run } from '../helpers/run';
import { restoreUmaskAfterAll, session, sha, shaThroughMount } from '../helpers/in-process';
import { SERVED_READ_MAX } from '@layerfs/fuse-wire';

const MiB = 1 << 20;
restoreUmaskAfterAll();

test('passthrough: a 64 MiB read through the mount sends no READ to the daemon', async () => {
  const data = crypto.randomBytes(64 * MiB);
  const t = sourceAndMountpoint({ big: data });
  let m: PassthroughMount | undefined;
  try {
    m = await mountPassthrough({ source: t.src, mountpoint: t.mnt, transport: 'wire' });
    expect(m.transport).toBe('wire');
    expect(session(t.mnt).modes.enabled).toBe(true);
    expect(await shaThroughMount(path.join(t.mnt, 'big'))).toBe(sha(data));
    const counts = session(t.mnt).counts;
    expect(counts.get('OPEN')).toBeGreaterThanOrEqual(1);
    expect(counts.get('READ') ?? 0).toBe(0);
    // And writes: through the kernel too.
    expect((await run('dd', ['if=/dev/zero', `of=${path.join(t.mnt, 'w')}`, 'bs=1M', 'count=16', 'conv=fsync', 'status=none'])).code).toBe(
      0,
    );
    expect(counts.get('WRITE') ?? 0).toBe(0);
    expect(fs.statSync(path.join(t.src, 'w')).size).toBe(16 * MiB);
  } finally {
    await m?.unmount();
    t.cleanup();
  }
});

test('1000 random 4 KiB writes reach the daemon as nothing: no WRITE, one GETXATTR (HANDLE_KILLPRIV_V2)', async () => {
  const t = sourceAndMountpoint({ f: Buffer.alloc(4 * MiB) });
  let m: PassthroughMount | undefined;
  try {
    m = await mountPassthrough({ source: t.src, mountpoint: t.mnt, transport: 'wire' });
    const counts = session(t.mnt).counts;
    // Without HANDLE_KILLPRIV_V2 the kernel asks for security.capability before every write(2).
    await py(
      `
import os, random, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
for i in range(1000):
    os.pwrite(fd, b'x' * 4096, random.randrange(1024) * 4096)
os.close(fd)`,
      path.join(t.mnt, 'f'),
    );
    expect(counts.get('WRITE') ?? 0).toBe(0);
    expect(counts.get('GETXATTR') ?? 0).toBeLessThanOrEqual(1);
  } finally {
    await m?.unmount();
    t.cleanup();
  }
});

test('a set-id file is served by the daemon, so that an unprivileged write can drop its bits', async () => {
  const t = sourceAndMountpoint({ s: 'content' });
  let m: PassthroughMount | undefined;
  try {
    fs.chmodSync(path.join(t.src, 's'), 0o4777);
    m = await mountPassthrough({ source: t.src, mountpoint: t.mnt, transport: 'wire' });
    const counts = session(t.mnt).counts;
    fs.chmodSync(path.dirname(t.mnt), 0o755);
    const r = await run('setpriv', [
      '--reuid=65534',
      '--regid=65534',
      '--clear-groups',
      'sh',
      '-c',
      'echo more >> "$1"',
      'sh',
      path.join(t.mnt, 's'),
    ]);
    expect(r.stderr).toBe('');
    expect(counts.get('WRITE')).toBe(1);
    expect(fs.statSync(path.join(t.src, 's')).mode & 0o7777).toBe(0o777);
    expect(fs.readFileSync(path.join(t.src, 's'), 'utf8')).toBe('contentmore\n');
  } finally {
    await m?.unmount();
    t.cleanup();
  }
});

test('passthrough=off: the daemon serves the same bytes (READ and WRITE requests reach it)', async () => {
  const data = crypto.randomBytes(8 * MiB);
  const t = sourceAndMountpoint({ big: data });
  let m: PassthroughMount | undefined;
  try {
    m = await mountPassthrough({ source: t.src, mountpoint: t.mnt, transport: 'wire', passthrough: 'off' });
    expect(session(t.mnt).modes.enabled).toBe(false);
    expect(await shaThroughMount(path.join(t.mnt, 'big'))).toBe(sha(data));
    expect(session(t.mnt).counts.get('READ')).toBeGreaterThan(0);
    expect((await run('dd', ['if=/dev/zero', `of=${path.join(t.mnt, 'w')}`, 'bs=1M', 'count=4', 'conv=fsync', 'status=none'])).code).toBe(
      0,
    );
    expect(session(t.mnt).counts.get('WRITE')).toBeGreaterThan(0);
    expect(fs.readFileSync(path.join(t.src, 'w')).equals(Buffer.alloc(4 * MiB))).toBe(true);
  } finally {
    await m?.unmount();
    t.cleanup();
  }
});

test('overlay: a lower file is read through the kernel; after a copy-up, the upper file is', async () => {
  const data = crypto.randomBytes(16 * MiB);
  const t = overlayLayers([{}]);
  fs.writeFileSync(path.join(t.lower[0]!, 'big'), data);
  let m: OverlayMount | undefined;
  try {
    m = await mountOverlay({ lower: t.lower, upper: t.upper, work: t.work, mountpoint: t.mnt, transport: 'wire' });
    const f = path.join(t.mnt, 'big');
    expect(await shaThroughMount(f)).toBe(sha(data));
    expect((await run('sh', ['-c', 'printf XYZ | dd of="$1" bs=3 count=1 conv=notrunc status=none', 'sh', f])).code).toBe(0);
    const changed = Buffer.from(data);
    changed.write('XYZ', 0);
    expect(await shaThroughMount(f)).toBe(sha(changed));
    expect(fs.readFileSync(path.join(t.upper!, 'big')).equals(changed)).toBe(true);
    expect(fs.readFileSync(path.join(t.lower[0]!, 'big')).equals(data)).toBe(true);
    expect(session(t.mnt).counts.get('READ') ?? 0).toBe(0);
    expect(session(t.mnt).counts.get('WRITE') ?? 0).toBe(0);
  } finally {
    await m?.unmount();
    t.cleanup();
  }
});

test('a small file opened read-only is served by the daemon; its kept pages never hide a passed-through write', async () => {
  const t = sourceAndMountpoint({ f: 'a'.repeat(1000) });
  let m: PassthroughMount | undefined;
  try {
    m = await mountPassthrough({ source: t.src, mountpoint: t.mnt, transport: 'wire' });
    const s = session(t.mnt);
    const f = path.join(t.mnt, 'f');
    // One child: read, write as many bytes through a writer (passed through), read again. That read
    // must see the write although the first opens' pages were kept (FOPEN_KEEP_CACHE).
    const out = await py(
      `
import os, sys
f = sys.argv[1]
fd = os.open(f, os.O_RDONLY); a = os.read(fd, 2000); os.close(fd)
fd = os.open(f, os.O_RDONLY); a2 = os.read(fd, 2000); os.close(fd)
st = os.stat(f)
fd = os.open(f, os.O_WRONLY); os.pwrite(fd, b'b' * 1000, 0); os.close(fd)
# Same size, and the old mtime put back: the kernel cannot tell from the attributes that it changed.
os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
fd = os.open(f, os.O_RDONLY); b = os.read(fd, 2000); os.close(fd)
print(a.decode()[:3], a2.decode()[:3], b.decode()[:3], len(b))`,
      f,
    );
    expect(out.trim()).toBe('aaa aaa bbb 1000');
    // The reads were the daemon's (the second open found the kept pages, so at most two READs) and
    // the write the kernel's.
    expect(s.counts.get('READ') ?? 0).toBeGreaterThanOrEqual(1);
    expect(s.counts.get('READ') ?? 0).toBeLessThanOrEqual(2);
    expect(s.counts.get('WRITE') ?? 0).toBe(0);
    expect(s.modes.registrations).toBe(1);
    expect(fs.readFileSync(path.join(t.src, 'f'), 'utf8')).toBe('b'.repeat(1000));
  } finally {
    await m?.unmount();
    t.cleanup();
  }
});

const HOLDER = `
import os, sys, time
f, go = sys.argv[1], sys.argv[2]
print('ready', flush=True)
while not os.path.exists(go): time.sleep(0.001)
fd = os.open(f, os.O_RDONLY)
assert os.read(fd, 5) == b'hello'
print('open', flush=True)
while os.path.exists(go): time.sleep(0.01)
os.close(fd)
`;

test('50 processes opening one file at the same instant share one backing id', async () => {
  // Larger than SERVED_READ_MAX: a read-only open of a smaller file is served by the daemon.
  const t = sourceAndMountpoint({ f: 'hello world'.padEnd(SERVED_READ_MAX + 1, '.') });
  let m: PassthroughMount | undefined;
  try {
    m = await mountPassthrough({ source: t.src, mountpoint: t.mnt, transport: 'wire' });
    const go = path.join(t.dir, 'go');
    const procs = Array.from({ length: 50 }, () => {
      const child = spawn('python3', ['-c', HOLDER, path.join(t.mnt, 'f'), go], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
      });
      const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
      return { out: () => out, exited };
    });
    const waitAll = async (word: string) => {
      const until = Date.now() + 30000;
      while (!procs.every((p) => p.out().includes(word))) {
        if (Date.now() > until) throw new Error(`not every process printed ${word}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await waitAll('ready');
    fs.writeFileSync(go, '');
    await waitAll('open');
    const s = session(t.mnt);
    expect(s.modes.registered).toBe(1);
    expect(s.modes.registrations).toBe(1);
    fs.rmSync(go);
    expect(await Promise.all(procs.map((p) => p.exited))).toEqual(Array(50).fill(0));
    // The last release closed the backing id.
    const until = Date.now() + 5000;
    while (s.modes.registered !== 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    expect(s.modes.registered).toBe(0);
  } finally {
    await m?.unmount();
    t.cleanup();
  }
});
