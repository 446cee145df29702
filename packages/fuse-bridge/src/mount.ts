// Mounting a filesystem on a transport and the handle that unmounts it.
import { readFile } from 'node:fs/promises';
import { registerOwnMount, unregisterOwnMount } from '@layerfs/backing-io';
import type { FsHandlers } from './handler';
import { BridgeOptions, defaultBridgeOptions, libfuseOptions } from './options';
import { prepareMountpoint, unmountPath } from './mountpoint';
import { FuseNativeTransport } from './fuse-native/transport';
import { MountError } from './mount-error';
import { createLogger } from './logger';

const log = createLogger('mount');

export type TransportName = 'fuse-native';

export interface MountHandle {
  readonly mountpoint: string;
  readonly transport: TransportName;
  /** Unmount and stop serving. Idempotent. A busy mount is detached lazily after a short retry. */
  unmount(): Promise<void>;
  /** Resolves when the mount is gone (unmounted by us or by someone else's umount). */
  readonly closed: Promise<void>;
}

export interface MountFsOptions extends Partial<BridgeOptions> {
  transport?: TransportName | 'auto';
}

let umaskCleared = false;

export async function mountFs(mountpoint: string, handlers: FsHandlers, options: MountFsOptions = {}): Promise<MountHandle> {
  const opts: BridgeOptions = { ...defaultBridgeOptions(), ...stripUndefined(options) };
  const abs = prepareMountpoint(mountpoint, { nonempty: opts.nonempty });
  if (!umaskCleared) {
    // The kernel already applied the caller's umask to every mode it sends; ours on top would apply
    // the daemon's umask a second time. Process-global, so set once, before any request can run.
    process.umask(0);
    umaskCleared = true;
  }
  await handlers.init?.();
  registerOwnMount(abs);
  const fuse = new FuseNativeTransport(abs, handlers, { fuseOptions: libfuseOptions(opts), debug: opts.debug, opTimeout: opts.opTimeout });
  try {
    await new Promise<void>((resolve, reject) => fuse.mount((err) => (err ? reject(err) : resolve())));
  } catch (err) {
    unregisterOwnMount(abs);
    throw new MountError(`mounting ${abs} failed (${(err as Error).message}): check that /dev/fuse exists and libfuse2 is installed`);
  }
  log.debug(`mounted ${abs} (fuse-native; options ${libfuseOptions(opts).join(',')})`);

  let unmounting: Promise<void> | undefined;
  let closedResolve!: () => void;
  const closed = new Promise<void>((r) => { closedResolve = r; });
  const unmount = () => {
    unmounting ??= (async () => {
      try {
        await unmountPath(abs, { lazyIfBusy: true });
        // Releases fuse-native's loop handle; its thread exits when the kernel closes the channel.
        await new Promise<void>((resolve) => fuse.unmount(() => resolve()));
      } finally {
        unregisterOwnMount(abs);
        await handlers.destroy?.();
        closedResolve();
      }
    })();
    return unmounting;
  };
  watchForExternalUnmount(abs, unmount, closed);
  return { mountpoint: abs, transport: 'fuse-native', unmount, closed };
}

/**
 * libfuse 2 ends its loop when someone else unmounts us (`layerfs umount`, `umount`) but tells
 * JavaScript nothing, so we look at the mount table once a second and finish our side then.
 */
function watchForExternalUnmount(abs: string, unmount: () => Promise<void>, closed: Promise<void>): void {
  const timer = setInterval(() => {
    readFile('/proc/self/mounts', 'utf8').then((table) => {
      if (!mountTableHas(table, abs)) void unmount();
    }, () => undefined);
  }, 1000);
  timer.unref();
  void closed.then(() => clearInterval(timer));
}

function mountTableHas(table: string, abs: string): boolean {
  const escaped = abs.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
  return table.includes(` ${escaped} fuse`);
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
