// The wire transport as the mount lifecycle sees it: open /dev/fuse, mount(2) with its fd, serve.
import * as fs from 'node:fs';
import type { BridgeOptions, NodeHandlers, Transport, TransportSession, VfsFlags } from '@layerfs/fuse-bridge';
import { MountError, createLogger, unmountPath, vfsOptionNames } from '@layerfs/fuse-bridge';
import { privilege } from '@layerfs/backing-io';
import { MountFlags, mountFuse, openFuseDevice } from './dev';
import { fusermountMount } from './fusermount';
import { WireSession } from './session';

const log = createLogger('wire');

const DEFAULT_MAX_WRITE = 1 << 20;
const EXCLUSIVE_TIMEOUT = 86400;
const STACKED_FS_MAGIC = new Set([0x794c7630 /* overlayfs */, 0x65735546 /* FUSE */, 0xf15f /* ecryptfs */]);

/** Sessions by mountpoint, for tests and diagnostics in this process (counters, backing ids). */
export const wireSessions = new Map<string, WireSession>();

export const wireTransport: Transport = {
  name: 'wire',
  async start(abs: string, handlers: NodeHandlers, opts: BridgeOptions): Promise<TransportSession> {
    const priv = privilege();
    let passthrough = opts.passthrough;
    let offWhy: string | undefined;
    if (priv.kind !== 'root' && passthrough !== 'off') {
      // FUSE_DEV_IOC_BACKING_OPEN checks CAP_SYS_ADMIN in the initial user namespace.
      const why = `kernel passthrough needs CAP_SYS_ADMIN in the initial user namespace (${priv.why})`;
      offWhy = 'no CAP_SYS_ADMIN in the initial user namespace';
      if (passthrough === 'require')
        throw new MountError(`${why}; mount with -o passthrough=auto to let the daemon serve reads and writes`);
      log.warn(`${why}; the daemon serves reads and writes`);
      passthrough = 'off';
    }
    // root (also root in a user namespace: FUSE may be mounted there since Linux 4.18) mounts with
    // mount(2); a user through the setuid fusermount3, which hands the device fd back.
    const mounted = priv.kind === 'user' ? await mountAsUser(abs, opts) : mountAsRoot(abs, opts);
    // An exclusive filesystem (the overlay) changes only through us, and every change through us
    // reaches the kernel's caches (replies, INVAL_INODE for other hard-link names), so the kernel may
    // keep what it learned for a day, as fuse-overlayfs lets it.
    const long = handlers.exclusive ? EXCLUSIVE_TIMEOUT : undefined;
    const session = new WireSession(mounted.devFd, handlers, {
      attrTimeout: opts.attrTimeout ?? long ?? 1,
      entryTimeout: opts.entryTimeout ?? long ?? 1,
      negativeTimeout: opts.negativeTimeout ?? long ?? 0,
      cache: opts.cache,
      maxWrite: opts.maxWrite ?? DEFAULT_MAX_WRITE,
      passthrough,
      spinMicros: opts.spinUs,
      maxStackDepth: stackDepthFor(handlers.backingRoots ?? []),
      acl: opts.acl,
      writeback: opts.writeback,
    });
    void session.ended.then(() => mounted.release());
    session.start();
    let init;
    try {
      init = await session.ready;
    } catch (err) {
      await unmountPath(abs, { lazyIfBusy: true }).catch(() => undefined);
      await session.close();
      throw new MountError(`${(err as Error).message}`);
    }
    if (!init.passthrough && passthrough === 'auto') {
      log.warn(`kernel passthrough unavailable (${init.passthroughWhy}); the daemon serves reads and writes`);
    }
    wireSessions.set(abs, session);
    void session.ended.then(() => wireSessions.delete(abs));
    return {
      ended: session.ended,
      close: () => session.close(),
      description: `FUSE 7.${init.minor}, ${init.passthrough ? 'kernel passthrough of file data' : `the daemon serves file data (passthrough off: ${offWhy ?? init.passthroughWhy})`}`,
    };
  },
};

/** mount(2)'s flags for `vfs`: nosuid and nodev unless asked otherwise, as libfuse mounts. */
function mountFlagsOf(vfs: VfsFlags): number {
  let f = 0;
  if (!vfs.suid) f |= MountFlags.NOSUID;
  if (!vfs.dev) f |= MountFlags.NODEV;
  if (vfs.exec === false) f |= MountFlags.NOEXEC;
  if (vfs.atime === 'noatime') f |= MountFlags.NOATIME;
  else if (vfs.atime === 'relatime') f |= MountFlags.RELATIME;
  else if (vfs.atime === 'strictatime') f |= MountFlags.STRICTATIME;
  if (vfs.diratime === false) f |= MountFlags.NODIRATIME;
  if (vfs.sync) f |= MountFlags.SYNCHRONOUS;
  if (vfs.dirsync) f |= MountFlags.DIRSYNC;
  return f;
}

interface Mounted {
  devFd: number;
  /** Called once the session has ended (unmounted): what the mount method still holds. */
  release(): void;
}

function mountAsRoot(abs: string, opts: BridgeOptions): Mounted {
  const devFd = openFuseDevice();
  const data = [`fd=${devFd}`, 'rootmode=40000', `user_id=${process.getuid?.() ?? 0}`, `group_id=${process.getgid?.() ?? 0}`];
  if (opts.allowOther) data.push('allow_other');
  if (opts.defaultPermissions) data.push('default_permissions');
  if (opts.maxRead) data.push(`max_read=${opts.maxRead}`);
  data.push(...(opts.securityContexts ?? []));
  try {
    mountFuse(opts.fsname, abs, `fuse.${opts.subtype}`, mountFlagsOf(opts.vfs) | (opts.readOnly ? MountFlags.RDONLY : 0), data.join(','));
  } catch (err) {
    fs.closeSync(devFd);
    throw new MountError(
      `mounting ${abs} failed (${(err as Error).message}): the wire transport needs root and /dev/fuse; try --transport fuse-native`,
    );
  }
  return { devFd, release: () => undefined };
}

/**
 * As a user: fusermount3 mounts, always with auto_unmount, so a daemon killed any way leaves no dead
 * mount (fusermount3 watches our socket and unmounts when it closes).
 */
async function mountAsUser(abs: string, opts: BridgeOptions): Promise<Mounted> {
  const o = ['nosuid', 'nodev', `fsname=${opts.fsname}`, `subtype=${opts.subtype}`, 'auto_unmount'];
  if (opts.readOnly) o.push('ro');
  o.push(...vfsOptionNames(opts.vfs, false));
  if (opts.allowOther) o.push('allow_other');
  if (opts.defaultPermissions) o.push('default_permissions');
  if (opts.maxRead) o.push(`max_read=${opts.maxRead}`);
  o.push(...(opts.securityContexts ?? []));
  const m = await fusermountMount(abs, o.join(','));
  return { devFd: m.devFd, release: m.close };
}

/**
 * The kernel refuses a backing file whose filesystem is itself stacked unless we announce depth 2
 * (and depth 2 forbids stacking anything on top of this mount), so announce 2 only when needed.
 */
function stackDepthFor(roots: readonly string[]): number {
  for (const r of roots) {
    try {
      if (STACKED_FS_MAGIC.has(Number(fs.statfsSync(r).type))) return 2;
    } catch {
      // checked by the filesystem's own mount checks
    }
  }
  return 1;
}
