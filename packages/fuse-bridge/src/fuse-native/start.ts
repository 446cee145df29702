// The fuse-native transport as the mount lifecycle sees it. The binding itself (transport.ts, which
// loads fuse-native and libfuse) is required only when this transport starts: a process that serves
// only the wire transport never loads it.
import { closeSync, openSync, readFileSync } from 'node:fs';
import type { Transport, TransportSession } from '../transport';
import { MountError } from '../mount-error';
import { libfuseOptions } from '../options';
import { createLogger } from '../logger';
import { findFusermount } from '../mountpoint';
import { startUnmountSentinel } from '../sentinel';
import { privilege, watchFd } from '@layerfs/backing-io';
import type { FdWatch } from '@layerfs/backing-io';

const log = createLogger('fuse-native');
/** How long names are trusted where nothing but the mount changes the backing store (the overlay). */
const EXCLUSIVE_TIMEOUT = 86400;

export const fuseNativeTransport: Transport = {
  name: 'fuse-native',
  async start(abs, handlers, opts): Promise<TransportSession> {
    if (opts.passthrough === 'require') {
      throw new MountError(
        `-o passthrough=require needs the wire transport (libfuse 2 has no kernel passthrough): ${
          privilege().kind === 'root'
            ? 'use --transport wire (or auto)'
            : 'the wire transport with CAP_SYS_ADMIN in the initial user namespace (root)'
        }, or drop the option`,
        { usage: true },
      );
    }
    const fuseOptions = libfuseOptions(opts);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { FuseNativeTransport } = require('./transport') as typeof import('./transport');
    const entryTimeout = opts.entryTimeout ?? (handlers.exclusive ? EXCLUSIVE_TIMEOUT : 1);
    const fuse = new FuseNativeTransport(abs, handlers, { fuseOptions, debug: opts.debug, opTimeout: opts.opTimeout, entryTimeout });
    log.debug(`libfuse options ${fuseOptions.join(',')}`);
    try {
      await new Promise<void>((resolve, reject) => fuse.mount((err) => (err ? reject(err) : resolve())));
    } catch (err) {
      throw new MountError(`mounting ${abs} failed (${(err as Error).message}): check that /dev/fuse exists and libfuse2 is installed`);
    }
    // As a user, libfuse 2 mounted through fusermount: a sentinel unmounts if this process is killed.
    const helper = privilege().kind === 'user' ? findFusermount() : undefined;
    const releaseSentinel = helper ? startUnmountSentinel(abs, helper) : () => undefined;
    const ended = watchForUnmount(abs);
    void ended.then(releaseSentinel);
    return {
      ended,
      // Releases fuse-native's loop handle; its thread exits when the kernel closes the channel.
      close: () => new Promise<void>((resolve) => fuse.unmount(() => resolve())),
      description: 'libfuse 2, the daemon serves file data',
    };
  },
};

/**
 * libfuse 2 ends its loop when someone else unmounts us (`layerfs umount`, `umount`) but tells
 * JavaScript nothing, so we look at the mount table whenever it changes: /proc/self/mounts polls
 * POLLPRI on every change in this mount namespace (a uv_poll on the main loop), and once a second
 * where it cannot be watched. Only then does the daemon close its layer fds and exit: until it
 * has, the filesystems under the layers stay busy, and `umount MNT && umount LAYER-FS` (as test
 * suites do) fails EBUSY — for up to the poll interval before (a second).
 */
function watchForUnmount(abs: string): Promise<void> {
  return new Promise((resolve) => {
    let done = false;
    let fd: number | undefined;
    let watch: FdWatch | undefined;
    const finish = () => {
      done = true;
      clearInterval(timer);
      watch?.stop();
      if (fd !== undefined) closeSync(fd);
      resolve();
    };
    // Synchronous: a read of the mount table (~0.1 ms), only when it changed (or once a second);
    // a threadpool hop would only delay letting the layers go.
    /** Whether the mount table lists the mount; undefined when it cannot be read. */
    const listed = (): boolean | undefined => {
      try {
        return mountTableHas(readFileSync('/proc/self/mounts', 'utf8'), abs);
      } catch {
        return undefined;
      }
    };
    // The table is read in several read(2)s of a seq_file, and a mount made or removed between
    // them can leave another entry out of that reading; a daemon taking that for its own unmount
    // would exit under a live mount, its callers getting ENOTCONN (seen once in a full CI run, two
    // fuse-native daemons idle in a one-second sleep of their test; not reproduced). Only a second
    // reading without the entry ends the daemon: a real unmount stays unmounted.
    const check = () => {
      if (done || listed() !== false) return;
      if (listed() === false) finish();
    };
    const timer = setInterval(check, 1000);
    timer.unref();
    try {
      fd = openSync('/proc/self/mounts', 'r');
      // Neither the watch nor the interval keeps the process running (the mount itself does).
      watch = watchFd(fd, 'priority', check, { keepAlive: false });
    } catch {
      // No watch: the interval alone.
    }
  });
}

function mountTableHas(table: string, abs: string): boolean {
  const escaped = abs.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
  return table.includes(` ${escaped} fuse`);
}
