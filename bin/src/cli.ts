// layerfs — command line. One line per user error (exit 2 usage, 1 runtime); bugs get a stack.
import * as path from 'node:path';
import yargs from 'yargs';
import type { Argv } from 'yargs';
import {
  MountError, OptionMap, checkNoOverlap, mountAt, parseOptionString, prepareMountpoint, setLogSink,
  takeBridgeOptions, unmountPath,
} from '@layerfs/fuse-bridge';
import { checkSource, mountPassthrough } from '@layerfs/passthrough';
import type { MetadataMode } from '@layerfs/backing-io';
import { isDaemonChild, runDaemonized } from './daemon';
import { EXIT_BUG, UsageError, describeError, exitCodeFor } from './errors';
import { serveForeground } from './serve';
import { runDemo } from './demo';

interface MountArgs {
  o?: string[];
  foreground?: boolean;
  debug?: boolean;
  log?: string;
}

function collectOptions(args: MountArgs): OptionMap {
  const opts: OptionMap = new Map();
  for (const o of args.o ?? []) parseOptionString(o, opts);
  return opts;
}

function rejectLeftovers(opts: OptionMap): void {
  if (opts.size > 0) {
    throw new UsageError(`unknown mount option${opts.size > 1 ? 's' : ''}: ${[...opts.keys()].join(', ')} (see layerfs passthrough --help)`);
  }
}

function takeMetadata(opts: OptionMap): MetadataMode | undefined {
  const v = opts.get('metadata');
  opts.delete('metadata');
  if (v === undefined) return undefined;
  if (v !== 'sync' && v !== 'async') throw new UsageError(`option metadata must be sync or async, got '${v === true ? '' : v}'`);
  return v;
}

function takeNumber(opts: OptionMap, key: string): number | undefined {
  const v = opts.get(key);
  opts.delete(key);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v === true || !Number.isFinite(n) || n < 0) throw new UsageError(`option ${key} needs a non-negative number`);
  return n;
}

async function passthroughCommand(args: MountArgs & { source: string; mountpoint: string }, rawArgv: string[]): Promise<number> {
  const opts = collectOptions(args);
  const bridge = takeBridgeOptions(opts);
  const metadata = takeMetadata(opts);
  const attrCacheMs = takeNumber(opts, 'attr_cache_ms');
  const attrCacheMax = takeNumber(opts, 'attr_cache_max');
  rejectLeftovers(opts);
  bridge.debug = bridge.debug || (args.debug ?? false);

  if (!args.foreground && !isDaemonChild()) {
    // Check here, in the terminal's process, so errors and the stale-mount notice reach the user
    // directly; the daemon checks again (the world may change in between).
    const source = checkSource(args.source);
    checkNoOverlap(args.mountpoint, [{ role: 'source', path: source }]);
    prepareMountpoint(args.mountpoint, { nonempty: bridge.nonempty });
    const r = await runDaemonized(rawArgv, args.log);
    if (r.code !== 0) {
      process.stderr.write(`layerfs: ${r.message}\n`);
      return r.code;
    }
    process.stdout.write(`layerfs: mounted ${path.resolve(args.mountpoint)} (daemon pid ${r.pid}); unmount with: layerfs umount ${path.resolve(args.mountpoint)}\n`);
    return 0;
  }
  await serveForeground(() => mountPassthrough({
    source: args.source, mountpoint: args.mountpoint, ...bridge, metadata,
    attrCache: { ttlMs: attrCacheMs, max: attrCacheMax },
  }), `mirroring ${path.resolve(args.source)}`);
  return 0;
}

async function umountCommand(args: { mountpoint: string; lazy?: boolean }): Promise<number> {
  const abs = path.resolve(args.mountpoint);
  const entry = mountAt(abs);
  if (!entry) throw new MountError(`${abs} is not mounted: nothing to unmount`);
  if (!entry.fstype.startsWith('fuse')) {
    throw new MountError(`${abs} is a ${entry.fstype} mount, not a layerfs one: use umount(8) for it`);
  }
  await unmountPath(abs, { lazyIfBusy: args.lazy ?? false });
  return 0;
}

const OPTIONS_HELP = `Mount options (-o, comma-separated, repeatable):
  cache=auto|kernel|none   page cache across opens (default auto: kept unless the file changed)
  attr_timeout=S, entry_timeout=S, negative_timeout=S   kernel cache lifetimes (default 1, 1, 0)
  max_read=N, max_write=N  request size in bytes (default 131072)
  allow_other, default_permissions, nonempty, fsname=NAME
  debug                    libfuse's trace of every request (on stderr; with --foreground or --log)
  op_timeout=S             answer a metadata request ETIMEDOUT after S seconds (default 0: never)
  metadata=sync|async      how lstat/readlink reach the source (default sync; see README)
  attr_cache_ms=MS, attr_cache_max=N   the daemon's attribute cache (default 1000 ms, 10000 entries)`;

function withMountFlags<T>(y: Argv<T>) {
  return y
    .option('o', { type: 'string', array: true, describe: 'mount options, e.g. -o cache=auto,attr_timeout=2', requiresArg: true })
    .option('foreground', { alias: 'f', type: 'boolean', describe: 'stay in the foreground until unmounted (Ctrl-C unmounts)' })
    .option('debug', { alias: 'd', type: 'boolean', describe: 'log every decision to stderr (implies nothing else)' })
    .option('log', { type: 'string', describe: 'daemon mode: append the daemon\'s log to this file', requiresArg: true });
}

export async function run(argv: string[]): Promise<number> {
  let result: Promise<number> = Promise.resolve(0);
  const debug = argv.includes('--debug') || argv.includes('-d');
  setLogSink((line) => process.stderr.write(`${line}\n`), { debug });
  const parser = yargs(argv)
    .scriptName('layerfs')
    .usage('$0 <command> [options]\n\nOverlay and passthrough FUSE filesystems on one backing-file core.')
    .command('passthrough <source> <mountpoint>', 'mirror the directory SOURCE at MOUNTPOINT',
      (y) => withMountFlags(y)
        .positional('source', { type: 'string', describe: 'directory to mirror', demandOption: true })
        .positional('mountpoint', { type: 'string', describe: 'empty directory to mount on', demandOption: true })
        .epilogue(OPTIONS_HELP)
        .example('$0 passthrough ./data /mnt/data', 'mount, return once ready (daemon)')
        .example('$0 passthrough ./data /mnt/data -f -o cache=none', 'stay in the foreground, no page cache'),
      (a) => { result = passthroughCommand(a as never, argv); })
    .command(['umount <mountpoint>', 'unmount <mountpoint>'], 'unmount a layerfs mount (its daemon then exits)',
      (y) => y.positional('mountpoint', { type: 'string', demandOption: true })
        .option('lazy', { alias: 'l', type: 'boolean', describe: 'detach now even if busy; the kernel finishes when the last user leaves' }),
      (a) => { result = umountCommand(a as never); })
    .command('demo', 'mount a passthrough of a bundled sample tree, show a few operations, unmount',
      (y) => y, () => { result = runDemo(); })
    .demandCommand(1, 'say which command to run (see --help)')
    .strict()
    .help()
    .alias('h', 'help')
    .version(false)
    .wrap(Math.min(110, process.stdout.columns || 100))
    .fail((msg, err) => {
      if (err) throw err;
      throw new UsageError(`${msg}; see layerfs --help`);
    });
  try {
    await parser.parseAsync();
    return await result;
  } catch (err) {
    process.stderr.write(`${describeError(err)}\n`);
    return exitCodeFor(err);
  }
}

export function main(argv: string[]): void {
  run(argv).then((code) => {
    process.exitCode = code;
  }, (err: unknown) => {
    process.stderr.write(`${describeError(err)}\n`);
    process.exitCode = EXIT_BUG;
  });
}
