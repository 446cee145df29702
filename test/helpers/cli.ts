// Run the real `layerfs` command, as a user would.
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const CLI = path.resolve(__dirname, '..', '..', 'bin', 'layerfs');

/**
 * The transport every mount in this test run uses: jest runs the integration tests once per
 * transport (jest.config.js projects), each project setting LAYERFS_TEST_TRANSPORT.
 */
export const TRANSPORT = (process.env.LAYERFS_TEST_TRANSPORT ?? 'wire') as 'wire' | 'fuse-native';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function layerfs(args: string[], timeoutMs = 30000): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

export function isMounted(mnt: string): boolean {
  const abs = path.resolve(mnt);
  return fs
    .readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[1] === abs);
}

/** Still running: a zombie (exited, waiting for whoever reaps orphans here) has finished. */
export function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return false;
  }
}

export async function waitFor(cond: () => boolean, what: string, ms = 10000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export interface Mounted {
  mountpoint: string;
  pid: number;
  unmount(): Promise<void>;
}

/** `layerfs passthrough [-o …] SRC MNT`: returns once mounted; unmount() waits for the daemon to exit. */
export function mountPassthrough(source: string, mnt: string, opts: string[] = []): Promise<Mounted> {
  return mountWith(['passthrough', '--transport', TRANSPORT, ...opts.flatMap((o) => ['-o', o]), source, mnt], mnt);
}

/** `layerfs overlay -o lowerdir=…[,upperdir=…,workdir=…] MNT`: the mount(8) order, options first. */
export function mountOverlay(
  mnt: string,
  layers: { lower: string[]; data?: string[]; upper?: string; work?: string },
  opts: string[] = [],
): Promise<Mounted> {
  const esc = (p: string) => p.replace(/\\/g, '\\\\').replace(/:/g, '\\:').replace(/,/g, '\\,');
  const o = [`lowerdir=${layers.lower.map(esc).join(':')}${(layers.data ?? []).map((d) => `::${esc(d)}`).join('')}`];
  if (layers.upper) o.push(`upperdir=${layers.upper.replace(/,/g, '\\,')}`, `workdir=${layers.work!.replace(/,/g, '\\,')}`);
  return mountWith(['overlay', '--transport', TRANSPORT, '-o', o.join(','), ...opts.flatMap((x) => ['-o', x]), mnt], mnt);
}

/** Any `layerfs` mount command line (the transport is the caller's to add); returns once mounted. */
export async function mountWith(args: string[], mnt: string): Promise<Mounted> {
  const r = await layerfs(args);
  if (r.code !== 0) throw new Error(`mount failed (${r.code}): ${r.stderr}`);
  const pid = Number(/daemon pid (\d+)/.exec(r.stdout)?.[1]);
  return {
    mountpoint: mnt,
    pid,
    unmount: async () => {
      if (isMounted(mnt)) {
        const u = await layerfs(['umount', mnt]);
        if (u.code !== 0 && isMounted(mnt)) throw new Error(`umount failed: ${u.stderr}`);
      }
      await waitFor(() => !alive(pid), `daemon ${pid} to exit`);
    },
  };
}

/** A daemon in the foreground, for signal tests. */
export function spawnForeground(args: string[]) {
  const child = spawn(process.execPath, [CLI, ...args, '--foreground', '--transport', TRANSPORT], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, stderr: () => stderr };
}

/** `fn` with the overlay of `layers` mounted at `mnt` (mountOverlay's arguments); unmounted after, also when `fn` throws. */
export async function withOverlay<T>(
  mnt: string,
  layers: Parameters<typeof mountOverlay>[1],
  opts: string[],
  fn: (mnt: string) => T | Promise<T>,
): Promise<T> {
  const m = await mountOverlay(mnt, layers, opts);
  try {
    return await fn(mnt);
  } finally {
    await m.unmount();
  }
}
