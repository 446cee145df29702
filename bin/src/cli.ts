// layerfs — command line. One line per user error (exit 2 usage, 1 runtime); bugs get a stack.
import * as path from 'node:path';
import yargs from 'yargs';
import type { Argv } from 'yargs';
import type { MountHandle, TransportChoice } from '@layerfs/fuse-bridge';
import {
  MountError,
  OptionMap,
  abortConnection,
  checkNoOverlap,
  cleanStaleMount,
  isStale,
  mountAt,
  optionTaker,
  parseOptionString,
  prepareMountpoint,
  setLogSink,
  takeBridgeOptions,
  unmountPath,
} from '@layerfs/fuse-bridge';
import { BINDFS_OPTIONS, BINDFS_REFUSED, checkSource, mountPassthrough, takeBindfsOptions } from '@layerfs/passthrough';
import { checkOverlay, mountOverlay } from '@layerfs/overlay';
import { describeOverlay, overlayMountOptions, rejectLeftovers } from './overlay-options';
import * as fs from 'node:fs';
import { failed, isDaemonChild, reportReady, runDaemonized } from './daemon';
import { EXIT_BUG, UsageError, describeError, exitCodeFor } from './errors';
import { DAEMON_TITLE, serveForeground } from './serve';
import { runOverlayDemo, runPassthroughDemo } from './demo';

const VERSION = (JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;

interface MountArgs {
  o?: string | string[];
  transport?: TransportChoice;
  foreground?: boolean;
  debug?: boolean;
  log?: string;
  quiet?: boolean;
}

/**
 * A repeatable option: yargs gives a string, or an array when it was repeated. (Not `array: true`:
 * that makes -o swallow the positional after it, and `overlay -o lowerdir=… MNT` is the mount(8) form.)
 */
function listOf(v: string | string[] | undefined): string[] {
  return v === undefined ? [] : ([] as string[]).concat(v);
}

function collectOptions(args: MountArgs): OptionMap {
  const opts: OptionMap = new Map();
  for (const o of listOf(args.o)) parseOptionString(o, opts);
  return opts;
}

/**
 * The part every mount command shares: without --foreground, run the checks here (so errors and the
 * stale-mount notice reach the terminal directly), start the daemon and wait for it; in the
 * foreground (or as that daemon), mount and serve until unmounted.
 */
async function runMount(
  args: MountArgs,
  rawArgv: string[],
  mountpoint: string,
  check: () => void,
  mount: () => Promise<MountHandle>,
  describe: string,
): Promise<number> {
  if (!args.foreground && !isDaemonChild()) {
    check(); // the daemon checks again: the world may change in between
    const r = await runDaemonized(rawArgv, args.log);
    if (r.code !== 0) {
      process.stderr.write(`layerfs: ${r.message}\n`);
      return r.code;
    }
    if (!args.quiet)
      process.stdout.write(
        `layerfs: mounted ${path.resolve(mountpoint)} (${r.detail ? `${r.detail}; ` : ''}daemon pid ${r.pid}); unmount with: layerfs umount ${path.resolve(mountpoint)}\n`,
      );
    return 0;
  }
  await serveForeground(mount, describe);
  return 0;
}

async function passthroughCommand(
  args: MountArgs & { source: string; mountpoint: string } & Record<string, unknown>,
  rawArgv: string[],
): Promise<number> {
  const opts = collectOptions(args);
  // bindfs's long options land in the -o set, so `--perms=0644` and `-o perms=0644` are one path.
  for (const name of [...BINDFS_OPTIONS, ...Object.keys(BINDFS_REFUSED)]) {
    const v = name === 'no-allow-other' ? (args['allow-other'] === false ? true : undefined) : args[name];
    if (v !== undefined && v !== false) opts.set(name, v === true ? true : String(v));
  }
  if (args['read-only']) opts.set('ro', true);
  const bindfs = takeBindfsOptions(optionTaker(opts));
  // Unless -o fsname= says otherwise, the mount is named by its source in /proc/mounts, df and
  // findmnt, as bindfs's are.
  const namedBy = opts.get('fsname');
  const bridge = takeBridgeOptions(opts);
  if (bindfs.noAllowOther) bridge.allowOther = false;
  if (bindfs.readOnly) bridge.readOnly = true;
  rejectLeftovers(opts, 'passthrough');
  const check = () => {
    const source = checkSource(args.source);
    checkNoOverlap(args.mountpoint, [{ role: 'source', path: source }]);
    prepareMountpoint(args.mountpoint, { nonempty: bridge.nonempty });
  };
  return runMount(
    args,
    rawArgv,
    args.mountpoint,
    check,
    () =>
      mountPassthrough({
        source: args.source,
        mountpoint: args.mountpoint,
        ...bridge,
        fsname: typeof namedBy === 'string' ? namedBy : undefined,
        rules: bindfs.policy,
        transport: args.transport,
      }),
    `mirroring ${path.resolve(args.source)}`,
  );
}

interface OverlayArgs extends MountArgs {
  mountpoint: string;
  lower?: string | string[];
  upper?: string;
  work?: string;
  optionsFile?: string;
}

async function overlayCommand(args: OverlayArgs, rawArgv: string[]): Promise<number> {
  const opts = collectOptions(args);
  if (args.optionsFile) {
    // One option per line or comma-separated; '#' starts a comment. For long layer lists.
    const text = fs
      .readFileSync(args.optionsFile, 'utf8')
      .split('\n')
      .map((l) => l.replace(/#.*/, '').trim())
      .filter(Boolean)
      .join(',');
    parseOptionString(text, opts);
  }
  const o = overlayMountOptions(opts, {
    mountpoint: args.mountpoint,
    lower: listOf(args.lower),
    upper: args.upper,
    work: args.work,
    transport: args.transport,
  });
  return runMount(
    args,
    rawArgv,
    args.mountpoint,
    () => {
      checkOverlay(o);
    },
    () => mountOverlay(o),
    describeOverlay(o),
  );
}

async function umountCommand(args: { mountpoint: string; lazy?: boolean; force?: boolean }): Promise<number> {
  const abs = path.resolve(args.mountpoint);
  if (args.force) {
    abortConnection(abs);
    return 0;
  }
  if (isStale(abs)) {
    cleanStaleMount(abs);
    return 0;
  }
  const entry = mountAt(abs);
  if (!entry) throw new MountError(`${abs} is not mounted: nothing to unmount`);
  if (!entry.fstype.startsWith('fuse')) {
    throw new MountError(`${abs} is a ${entry.fstype} mount, not a layerfs one: use umount(8) for it`);
  }
  const daemons = daemonsServing(abs);
  await unmountPath(abs, { lazyIfBusy: args.lazy ?? false });
  // The daemon leaves once the kernel tells it the mount is gone; wait for that (bounded), so that
  // what follows `layerfs umount` (removing the layers, mounting again) never races the daemon.
  const until = Date.now() + 10000;
  while (daemons.some(alive) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  const left = daemons.filter(alive);
  if (left.length > 0 && !args.lazy)
    process.stderr.write(`layerfs: unmounted ${abs}; its daemon (pid ${left.join(', ')}) is still finishing\n`);
  return 0;
}

/** Pids of the layerfs daemons serving `abs` (by the title serve.ts gives them). */
function daemonsServing(abs: string): number[] {
  const pids: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8');
      if (cmdline.startsWith(`${DAEMON_TITLE}${abs}:`)) pids.push(Number(name));
    } catch {
      // gone, or not ours to read
    }
  }
  return pids;
}

/** Still running: a zombie (exited, not yet reaped by its new parent) has finished. */
function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

const OPTIONS_HELP = `Mount options (-o, comma-separated, repeatable):
  cache=auto|kernel|none   page cache across opens (default auto: kept unless the file changed)
  attr_timeout=S, entry_timeout=S, negative_timeout=S   kernel cache lifetimes (default 1, 1, 0)
  max_read=N, max_write=N  request size in bytes (default 131072 on fuse-native, 1 MiB writes on wire)
  allow_other, default_permissions, nonempty, fsname=NAME
  passthrough=auto|off|require   kernel passthrough of file data (wire transport; default auto;
                           files of at most 128 KiB opened read-only are read by the daemon)
  spin_us=N                wire: keep polling N µs for the next request after answering (default 50; 0 off)
  debug                    libfuse's trace of every request (fuse-native; the wire transport traces
                           every request with --debug); on stderr, with --foreground or --log
  op_timeout=S             fuse-native: answer a metadata request ETIMEDOUT after S seconds (default 0: never)
  ro, rw, [no]suid, [no]dev, [no]exec, noatime, relatime, strictatime, nodiratime, sync, dirsync
                           mount(8)'s flags, on the mount itself (root's mounts: the overlay allows
                           set-id programs and refuses device nodes, as fuse-overlayfs; the passthrough
                           is nosuid,nodev, as bindfs; a user's mount is always nosuid,nodev)
  defaults, user, auto, noauto, _netdev, nofail, x-*, comment=   fstab's own: accepted, nothing to do`;

// bindfs's command-line options, same names and letters (bindfs(1)); values are checked by
// @layerfs/passthrough's takeBindfsOptions, which reads them from the -o set.
const str = (describe: string, alias?: string) => ({ type: 'string' as const, requiresArg: true, describe, ...(alias ? { alias } : {}) });
const flag = (describe: string, alias?: string) => ({ type: 'boolean' as const, describe, ...(alias ? { alias } : {}) });
const BINDFS_FLAGS = {
  'force-user': str('show every file as owned by USER', 'u'),
  'force-group': str('show every file as owned by GROUP', 'g'),
  mirror: str('these users (USER,@GROUP,…) see themselves as every owner', 'm'),
  'mirror-only': str('like --mirror, and nobody else but root may use the mount', 'M'),
  map: str('show owner user1 as user2 (user1/user2:@grp1/@grp2); creates and chowns map back'),
  'map-passwd': str("like --map, by user name: ids in this passwd file (a backup's) shown as this system's"),
  'map-group': str("like --map, by group name: gids in this group file shown as this system's"),
  'uid-offset': str('show uid N+id for each id on disk'),
  'gid-offset': str('show gid N+id for each id on disk'),
  perms: str('chmod-like bits shown, e.g. 0644,a+X or og-x:u=rwX', 'p'),
  'create-as-user': flag('new entries belong to the caller (the default as root)'),
  'create-as-mounter': flag('new entries belong to the mounter'),
  'create-for-user': str('new entries belong to USER'),
  'create-for-group': str('new entries belong to GROUP'),
  'create-with-perms': str('chmod-like change applied to every new entry'),
  'chown-normal': flag('chown changes the owner on disk (default)'),
  'chown-ignore': flag('chown succeeds and changes nothing'),
  'chown-deny': flag('chown fails with EPERM'),
  'chgrp-normal': flag('chgrp changes the group on disk (default)'),
  'chgrp-ignore': flag('chgrp succeeds and changes nothing'),
  'chgrp-deny': flag('chgrp fails with EPERM'),
  'chmod-normal': flag('chmod changes the bits on disk (default)'),
  'chmod-ignore': flag('chmod succeeds and changes nothing'),
  'chmod-deny': flag('chmod fails with EPERM'),
  'chmod-filter': str('chmod-like change applied to every chmod'),
  'chmod-allow-x': flag("with -ignore/-deny: a file's execute bits may still change"),
  'xattr-none': flag('no extended attributes (EOPNOTSUPP)'),
  'xattr-ro': flag('extended attributes read-only (EACCES)'),
  'xattr-rw': flag('extended attributes read-write (default)'),
  'delete-deny': flag('unlink and rmdir fail with EPERM'),
  'rename-deny': flag('rename fails with EPERM'),
  'hide-hard-links': flag('show every link count as 1'),
  'ctime-from-mtime': flag('show ctime = mtime'),
  'realistic-permissions': flag("hide the bits the mounter's own access lacks"),
  'read-rate': str('at most N bytes/s read (k, M, G, T suffixes); data then goes through the daemon'),
  'write-rate': str('at most N bytes/s written; data then goes through the daemon'),
  'allow-other': flag('--no-allow-other: only the mounting user may use the mount'),
  multithreaded: flag("accepted: requests are served in order, so bindfs's --multithreaded race cannot happen"),
  'disable-lock-forwarding': flag('accepted: locks are not forwarded to the source (the default)'),
  'read-only': flag('strictly read-only (EROFS, also for root)', 'r'),
} as const;

function withMountFlags<T>(y: Argv<T>) {
  return y
    .option('o', { type: 'string', describe: 'mount options, e.g. -o cache=auto,attr_timeout=2', requiresArg: true })
    .option('transport', {
      choices: ['auto', 'wire', 'fuse-native'] as const,
      // LAYERFS_TRANSPORT: for callers that cannot add arguments (a mount_program run by podman).
      default: (process.env.LAYERFS_TRANSPORT ?? 'auto') as TransportChoice,
      describe: 'wire: FUSE spoken on /dev/fuse (root; kernel passthrough); fuse-native: libfuse 2; auto: wire where it can mount',
    })
    .option('foreground', { alias: 'f', type: 'boolean', describe: 'stay in the foreground until unmounted (Ctrl-C unmounts)' })
    .option('debug', { alias: 'd', type: 'boolean', describe: 'log every decision to stderr (implies nothing else)' })
    .option('log', { type: 'string', describe: "daemon mode: append the daemon's log to this file", requiresArg: true })
    .option('quiet', {
      alias: 'q',
      type: 'boolean',
      describe: 'no line on success (as mount(8) helpers are; errors still say what is wrong)',
    });
}

export async function run(argv: string[]): Promise<number> {
  let result: Promise<number> = Promise.resolve(0);
  const debug = argv.includes('--debug') || argv.includes('-d');
  setLogSink((line) => process.stderr.write(`${line}\n`), { debug });
  const parser = yargs(argv)
    .scriptName('layerfs')
    .usage('$0 <command> [options]\n\nOverlay and passthrough FUSE filesystems on one backing-file core.')
    .command(
      'passthrough <source> <mountpoint>',
      'mirror the directory SOURCE at MOUNTPOINT',
      (y) =>
        withMountFlags(y)
          .positional('source', { type: 'string', describe: 'directory to mirror', demandOption: true })
          .positional('mountpoint', { type: 'string', describe: 'empty directory to mount on', demandOption: true })
          .options(BINDFS_FLAGS)
          // bindfs's options layerfs refuses: known here, so the refusal says why (a value, if any,
          // goes with =, as bindfs's --forward-odirect=N), instead of yargs taking the next operand.
          .options(
            Object.fromEntries(
              Object.keys(BINDFS_REFUSED).map((n) => [
                n,
                {
                  type: n === 'forward-odirect' || n === 'resolved-symlink-deletion' ? ('string' as const) : ('boolean' as const),
                  hidden: true,
                },
              ]),
            ),
          )
          .group(Object.keys(BINDFS_FLAGS), 'bindfs policies (also as -o NAME=VALUE; see bindfs(1)):')
          .epilogue(OPTIONS_HELP)
          .example('$0 passthrough ./data /mnt/data', 'mount, return once ready (daemon)')
          .example('$0 passthrough -u www -g nogroup -p 0000,u=rD ~/site /srv/site', 'bindfs-style: owned by www, read-only bits')
          .example('$0 passthrough ./data /mnt/data -f -o cache=none', 'stay in the foreground, no page cache'),
      (a) => {
        result = passthroughCommand(a as never, argv);
      },
    )
    .command(
      'overlay <mountpoint>',
      'union of lower layers (and an upper one) at MOUNTPOINT, in the kernel overlayfs format',
      (y) =>
        withMountFlags(y)
          .positional('mountpoint', { type: 'string', describe: 'empty directory to mount on', demandOption: true })
          .option('lower', { type: 'string', describe: 'a lower layer (repeat; the first is the top)', requiresArg: true })
          .option('upper', { type: 'string', describe: 'the writable upper layer (needs --work)', requiresArg: true })
          .option('work', { type: 'string', describe: "an empty directory on the upper layer's filesystem", requiresArg: true })
          .option('options-file', { type: 'string', describe: 'read -o options from a file (one per line)', requiresArg: true })
          .epilogue(
            `Overlay options: lowerdir=A:B:C (A on top; \\: escapes a colon), or lowerdir+=A,lowerdir+=B
(each path as it is), upperdir=U, workdir=W. Without upperdir/workdir the overlay is read-only
(writes fail with EROFS). lowerdir=A::D1::D2 (or datadir+=D1): data-only layers, never shown by
name, holding the data of A's metadata-only files by their absolute redirects (composefs's form).
  volatile      do not fsync copied-up data before it is renamed into place (the kernel's volatile)
  userxattr     write the overlay's xattrs as user.overlay.* (default when not root; no redirects)
  redirect_dir=on|follow|off|nofollow
                on (default as root): a renamed directory with lower parts gets a redirect;
                follow/off: redirects followed, none written (such renames: EXDEV, mv copies);
                nofollow: a directory reached through a redirect answers EPERM
  metacopy=on   read and make metadata-only copy-ups as the kernel does (a chmod/chown/utimens/xattr
                change copies up metadata alone; the data follows at the first write); without it
                such files answer EPERM, as on the kernel
  uuid=auto|null|off, xino=auto|off|on (on: one filesystem), index=off, metacopy=off,
  verity=off, nfs_export=off
                the kernel's options, accepted where they describe what layerfs does
  fuse-overlayfs's: uidmapping=, gidmapping=, squash_to_root, squash_to_uid=, squash_to_gid=,
  static_nlink, fsync=0|1, timeout=S, writeback=0|1, noxattrs=1, noacl,
  xattr_permissions=1|2 (owners and modes kept in a security.* or user.* xattr: force_mask)\n\n${OPTIONS_HELP}`,
          )
          .example('$0 overlay -o lowerdir=/base:/extra,upperdir=/rw/up,workdir=/rw/work /mnt/o', 'like mount -t overlay')
          .example('$0 overlay --lower /base --lower /extra /mnt/o', 'read-only union of two layers'),
      (a) => {
        result = overlayCommand(a as never, argv);
      },
    )
    .command(
      ['umount <mountpoint>', 'unmount <mountpoint>'],
      'unmount a layerfs mount (its daemon then exits)',
      (y) =>
        y
          .positional('mountpoint', { type: 'string', demandOption: true })
          .option('lazy', {
            alias: 'l',
            type: 'boolean',
            describe: 'detach now even if busy; the kernel finishes when the last user leaves',
          })
          .option('force', { type: 'boolean', describe: "abort a hung daemon's connection (fusectl), then detach" }),
      (a) => {
        result = umountCommand(a as never);
      },
    )
    .command(
      'demo [kind]',
      'show layerfs at work on a bundled sample tree: an overlay (default) or a passthrough',
      (y) => y.positional('kind', { choices: ['overlay', 'passthrough'] as const, default: 'overlay' as const }),
      (a) => {
        result = a.kind === 'passthrough' ? runPassthroughDemo() : runOverlayDemo();
      },
    )
    .demandCommand(1, 'say which command to run')
    .strict()
    .help()
    .alias('h', 'help')
    .version(VERSION)
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
    // A daemon started without its parent's checks (layerfs-overlay) tells the parent what was wrong.
    reportReady(failed(err));
    return exitCodeFor(err);
  }
}

export function main(argv: string[]): void {
  run(argv).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`${describeError(err)}\n`);
      process.exitCode = EXIT_BUG;
    },
  );
}
