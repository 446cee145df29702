// Mount lifecycle: SIGINT/SIGTERM unmount cleanly; `layerfs umount` stops the daemon; a mount left
// by a daemon killed with SIGKILL is detected and cleaned at the next mount or umount, with a notice;
// a hung daemon is cut loose by `layerfs umount --force`.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { sourceAndMountpoint } from '../helpers/scratch';
import { TRANSPORT, alive, isMounted, layerfs, mountPassthrough, spawnForeground, waitFor } from '../helpers/cli';
import { run } from '../helpers/run';

/** kill -9 the daemon; its mount stays behind answering ENOTCONN. */
async function killLeavingStaleMount(pid: number, mnt: string): Promise<void> {
  process.kill(pid, 'SIGKILL');
  await waitFor(() => {
    try {
      fs.statSync(mnt);
      return false;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'ENOTCONN';
    }
  }, 'the mount to go stale');
}

function tree() {
  const s = sourceAndMountpoint({ f: 'content' });
  return { s, src: s.src, mnt: s.mnt };
}

test.each(['SIGTERM', 'SIGINT'] as const)('%s unmounts cleanly and the daemon exits 0', async (sig) => {
  const { s, src, mnt } = tree();
  const d = spawnForeground(['passthrough', src, mnt]);
  try {
    await waitFor(() => isMounted(mnt) && fs.existsSync(path.join(mnt, 'f')), 'the mount');
    d.child.kill(sig);
    expect(await d.exited).toBe(0);
    expect(isMounted(mnt)).toBe(false);
  } finally {
    if (isMounted(mnt)) await layerfs(['umount', '--lazy', mnt]);
    s.cleanup();
  }
});

test('layerfs umount ends the daemon', async () => {
  const { s, src, mnt } = tree();
  const d = spawnForeground(['passthrough', src, mnt]);
  try {
    await waitFor(() => isMounted(mnt), 'the mount');
    const r = await layerfs(['umount', mnt]);
    expect(r.code).toBe(0);
    expect(isMounted(mnt)).toBe(false);
    expect(await d.exited).toBe(0);
  } finally {
    s.cleanup();
  }
});

test('a stale mount left by SIGKILL is cleaned at the next mount, with a notice', async () => {
  const { s, src, mnt } = tree();
  const first = await mountPassthrough(src, mnt);
  try {
    await killLeavingStaleMount(first.pid, mnt);
    const r = await layerfs(['passthrough', src, mnt, '--transport', TRANSPORT]);
    expect(r.stderr).toMatch(/cleaned a stale mount at .*mnt left by a daemon that died/);
    expect(r.code).toBe(0);
    expect(fs.readFileSync(path.join(mnt, 'f'), 'utf8')).toBe('content');
    const pid = Number(/daemon pid (\d+)/.exec(r.stdout)?.[1]);
    const u = await layerfs(['umount', mnt]);
    expect(u.code).toBe(0);
    // layerfs umount returns once the daemon has exited.
    expect(alive(pid)).toBe(false);
  } finally {
    if (isMounted(mnt)) await layerfs(['umount', '--lazy', mnt]);
    s.cleanup();
  }
});

test('layerfs umount cleans a stale mount left by SIGKILL, with a notice', async () => {
  const { s, src, mnt } = tree();
  const first = await mountPassthrough(src, mnt);
  try {
    await killLeavingStaleMount(first.pid, mnt);
    const u = await layerfs(['umount', mnt]);
    expect(u.stderr).toMatch(/cleaned a stale mount at .*mnt/);
    expect(u.code).toBe(0);
    expect(isMounted(mnt)).toBe(false);
  } finally {
    if (isMounted(mnt)) await layerfs(['umount', '--lazy', mnt]);
    s.cleanup();
  }
});

test('a hung daemon (SIGSTOP) is recovered by layerfs umount --force; waiting callers get an error', async () => {
  const { s, src, mnt } = tree();
  const m = await mountPassthrough(src, mnt, ['attr_timeout=0', 'entry_timeout=0']);
  try {
    process.kill(m.pid, 'SIGSTOP');
    // A caller that now waits on the stopped daemon, forever without --force.
    const waiting = run('stat', [path.join(mnt, 'f')], { timeoutMs: 20000 });
    await new Promise((r) => setTimeout(r, 300));
    const u = await layerfs(['umount', '--force', mnt]);
    expect(u.stderr).toMatch(/aborted the FUSE connection/);
    expect(u.code).toBe(0);
    expect(isMounted(mnt)).toBe(false);
    const w = await waiting;
    expect(w.code).not.toBe(0);
    expect(w.stderr).toMatch(/connection abort|not connected/i); // ECONNABORTED, from the aborted connection
    process.kill(m.pid, 'SIGCONT');
    await m.unmount(); // the daemon notices the connection is gone and exits
  } finally {
    try {
      process.kill(m.pid, 'SIGKILL');
    } catch {
      /* exited */
    }
    if (isMounted(mnt)) await layerfs(['umount', '--lazy', mnt]);
    s.cleanup();
  }
});
