// Mounting a filesystem on a transport and the handle that unmounts it. The lifecycle is the same
// for every transport: check the mountpoint, start, and on unmount (ours or anyone's) close the
// session and let the filesystem put what it holds.
import * as fs from 'node:fs';
import { registerOwnMount, unregisterOwnMount } from '@layerfs/backing-io';
import type { NodeHandlers } from './handler';
import { BridgeOptions, defaultBridgeOptions } from './options';
import { prepareMountpoint, unmountPath } from './mountpoint';
import { fuseNativeTransport } from './fuse-native/start';
import type { Transport, TransportName } from './transport';
import { createLogger } from './logger';

const log = createLogger('mount');

export interface MountHandle {
  readonly mountpoint: string;
  readonly transport: TransportName;
  /** One line: the transport and what it negotiated (for the user and the log). */
  readonly description: string;
  /** Unmount and stop serving. Idempotent. A busy mount is detached lazily after a short retry. */
  unmount(): Promise<void>;
  /** Resolves when the mount is gone (unmounted by us or by someone else's umount). */
  readonly closed: Promise<void>;
}

export interface MountFsOptions extends Partial<BridgeOptions> {
  /** Default: fuse-native. `@layerfs/fuse-wire`'s chooseTransport() picks one by name or `auto`. */
  transport?: Transport;
}

let umaskCleared = false;

export async function mountFs(mountpoint: string, handlers: NodeHandlers, options: MountFsOptions = {}): Promise<MountHandle> {
  const { transport = fuseNativeTransport, ...rest } = options;
  const opts: BridgeOptions = { ...defaultBridgeOptions(), ...stripUndefined(rest) };
  const abs = prepareMountpoint(mountpoint, { nonempty: opts.nonempty });
  if (!umaskCleared) {
    // The kernel already applied the caller's umask to every mode it sends; ours on top would apply
    // the daemon's umask a second time. Process-global, so set once, before any request can run.
    process.umask(0);
    umaskCleared = true;
  }
  // libuv starts its threadpool at first use (~8 ms of thread creation on these VMs): without this,
  // the first request that goes asynchronous (a copy-up, a release) would pay for it.
  await fs.promises.access(abs);
  await handlers.init?.();
  registerOwnMount(abs);
  let session;
  try {
    session = await transport.start(abs, handlers, opts);
  } catch (err) {
    unregisterOwnMount(abs);
    throw err;
  }
  const description = `${transport.name} transport: ${session.description}`;
  log.debug(`mounted ${abs} (${description})`);

  let finishing: Promise<void> | undefined;
  let closedResolve!: () => void;
  const closed = new Promise<void>((r) => {
    closedResolve = r;
  });
  // `gone`: the kernel already ended our connection (someone else unmounted us). Then the path must
  // not be unmounted again: by now another mount may sit there, and it is not ours.
  // Once gone, no request can come any more: the layers are let go first (handlers.destroy closes
  // their fds), before the transport's own teardown, so the filesystems under them can be unmounted
  // as soon as possible after ours (`umount MNT && umount LAYER-FS`).
  const finish = (gone: boolean) => {
    finishing ??= (async () => {
      try {
        if (gone) {
          // The device's close drops the kernel's own references to backing files; both it and
          // the handlers' teardown start (in that order) before either waits for anything.
          await Promise.all([session.close(), handlers.destroy?.()]);
        } else {
          await unmountPath(abs, { lazyIfBusy: true });
          await session.close();
        }
      } finally {
        unregisterOwnMount(abs);
        if (!gone) await handlers.destroy?.();
        closedResolve();
      }
    })();
    return finishing;
  };
  const unmount = () => finish(false);
  void session.ended.then(() => finish(true));
  return { mountpoint: abs, transport: transport.name, description, unmount, closed };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
