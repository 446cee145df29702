// layerfs-overlay's Node side: fuse-overlayfs's command line,
//   layerfs-overlay [-f] [-d|--debug] [-o OPTS]... [SOURCE] MOUNTPOINT
// (SOURCE as mount(8)'s helper mount.fuse3 passes it for `mount -t fuse.layerfs-overlay SOURCE DIR`
// and /etc/fstab: it names the mount in /proc/mounts, as fuse-overlayfs's does) for programs that
// run a mount program with that shape (containers/storage's `mount_program`: rootless podman and
// buildah). The `bin/layerfs-overlay` shell script starts it as the daemon
// (with a ready pipe) and waits for its verdict, so no Node process is spent on waiting; the daemon
// mounts without loading the CLI (yargs and the passthrough are not needed for this), and runs as
// one bundled, code-cached file (mount-program.ts, scripts/bundle.js): podman starts one per
// container mount. In the foreground, and for --help/--version, it hands over to the CLI.
import * as path from 'node:path';
import { parseOptionString, setLogSink, type OptionMap, type TransportChoice } from '@layerfs/fuse-bridge';
import { MountOverlayOptions, mountOverlay } from '@layerfs/overlay';
import { failed, isDaemonChild, reportReady } from './daemon';
import { UsageError, describeError, exitCodeFor } from './errors';
import { describeOverlay, overlayMountOptions } from './overlay-options';
import { onStopSignals, serveForeground } from './serve';
import { SharedServer } from './shared-daemon';

interface Parsed {
  foreground: boolean;
  debug: boolean;
  help: boolean;
  version: boolean;
  options: string[];
  source?: string;
  mountpoint?: string;
}

function parse(args: string[]): Parsed {
  const p: Parsed = { foreground: false, debug: false, help: false, version: false, options: [] };
  const operands: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-f') p.foreground = true;
    else if (a === '-d' || a === '--debug') p.debug = true;
    else if (a === '-o' && i + 1 < args.length) p.options.push(args[++i]!);
    else if (a.startsWith('-o') && a.length > 2) p.options.push(a.slice(2));
    else if (a === '-h' || a === '--help') p.help = true;
    else if (a === '-V' || a === '--version') p.version = true;
    else if (!a.startsWith('-') && operands.length < 2) operands.push(a);
    else throw new UsageError(`unexpected argument '${a}' (usage: layerfs-overlay [-f] [-d] [-o OPTIONS]... [SOURCE] MOUNTPOINT)`);
  }
  // One operand is the mountpoint; with two, the first is mount(8)'s source (the fsname).
  p.mountpoint = operands.pop();
  p.source = operands.pop();
  return p;
}

/** The same request as `layerfs overlay` arguments (for the CLI: foreground, help, version). */
function asCli(p: Parsed): string[] {
  const out = ['overlay'];
  if (p.foreground) out.push('--foreground');
  if (p.debug) out.push('--debug');
  if (p.help) out.push('--help');
  if (p.version) out.push('--version');
  out.push('-o', 'nonempty');
  for (const o of p.options) out.push('-o', o);
  if (p.source !== undefined) out.push('-o', `fsname=${p.source.replace(/\\/g, '\\\\').replace(/,/g, '\\,')}`);
  if (p.mountpoint !== undefined) out.push(p.mountpoint);
  return out;
}

/** The mount `p` asks for, its relative paths taken from `cwd` (a shared daemon's client has its own). */
function overlayOptions(p: Parsed, cwd: string, transport: string | undefined): MountOverlayOptions {
  const opts: OptionMap = new Map();
  // Given first: an fsname= among the options names the mount instead.
  if (p.source !== undefined) opts.set('fsname', p.source);
  // fuse-overlayfs (libfuse 3) and the kernel's overlay mount over a directory that has entries (they
  // are hidden while mounted), and programs that run this shape rely on it: mount(8) on /mnt, the
  // unionmount testsuite's --fuse runs. The `layerfs` CLI keeps libfuse 2's check.
  opts.set('nonempty', true);
  for (const o of p.options) parseOptionString(o, opts);
  const o = overlayMountOptions(opts, {
    mountpoint: path.resolve(cwd, p.mountpoint!),
    // LAYERFS_TRANSPORT: fuse-overlayfs's arguments have no room for it.
    transport: (transport ?? 'auto') as TransportChoice,
  });
  const abs = (d: string | undefined) => (d === undefined ? undefined : path.resolve(cwd, d));
  return {
    ...o,
    lower: o.lower.map((l) => path.resolve(cwd, l)),
    ...(o.data ? { data: o.data.map((l) => path.resolve(cwd, l)) } : {}),
    upper: abs(o.upper),
    work: abs(o.work),
  };
}

function layersOf(o: MountOverlayOptions): string[] {
  return [...o.lower, ...(o.data ?? []), ...(o.upper ? [o.upper] : []), ...(o.work ? [o.work] : [])];
}

/**
 * Whether this daemon offers to serve the mounts that follow (shared-daemon.ts): only for the
 * wire transport (one process, many /dev/fuse sessions; fuse-native's libfuse is not known to be
 * safe with several), and never for -d (its log is this mount's).
 */
function shares(p: Parsed): boolean {
  const t = process.env.LAYERFS_TRANSPORT;
  return process.env.LAYERFS_OVERLAY_SHARED !== '0' && !p.debug && (t === undefined || t === 'auto' || t === 'wire');
}

async function serveDaemon(p: Parsed): Promise<void> {
  setLogSink((line) => process.stderr.write(`${line}\n`), { debug: p.debug });
  const o = overlayOptions(p, process.cwd(), process.env.LAYERFS_TRANSPORT);
  const server = shares(p)
    ? SharedServer.tryStart((args, cwd, transport) => {
        if (transport !== (process.env.LAYERFS_TRANSPORT ?? '')) return 'elsewhere';
        const next = parse(args);
        if (next.foreground || next.debug || next.help || next.version || next.mountpoint === undefined) return 'elsewhere';
        const no = overlayOptions(next, cwd, process.env.LAYERFS_TRANSPORT);
        return {
          mountpoint: no.mountpoint,
          layers: layersOf(no),
          mount: async () => ({ handle: await mountOverlay(no), describe: describeOverlay(no) }),
        };
      })
    : undefined;
  if (!server) {
    await serveForeground(() => mountOverlay(o), describeOverlay(o));
    return;
  }
  // For the daemon's life: a signal unmounts every mount it serves, those still being made included.
  onStopSignals(() => void server.unmountAll(), 'the unmounts');
  try {
    const handle = await mountOverlay(o);
    server.adopt(handle, layersOf(o));
    reportReady({ ok: true, detail: handle.description });
  } catch (err) {
    server.close();
    throw err;
  }
}

export function main(args: string[]): void {
  let p: Parsed;
  try {
    p = parse(args);
  } catch (err) {
    fail(err);
    return;
  }
  if (!isDaemonChild() || p.help || p.version || p.mountpoint === undefined) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the CLI only where it is needed
    (require('./cli') as typeof import('./cli')).main(asCli(p));
    return;
  }
  serveDaemon(p).catch(fail);
}

function fail(err: unknown): void {
  reportReady(failed(err));
  process.stderr.write(`${describeError(err).replace(/^layerfs: /, 'layerfs-overlay: ')}\n`);
  process.exitCode = exitCodeFor(err);
}

if (require.main === module) main(process.argv.slice(2));
