// Watching an fd from Node's main loop: a FUSE device for requests, /proc/self/mounts for mount
// table changes.
//
// Preferred: a uv_poll handle on Node's own event loop (libuv's functions, which the node binary
// exports to addons, called through koffi). The main thread then sleeps in epoll on the fd and
// wakes straight into the callback: no thread hop between the kernel and the callback. Each hop
// costs 20-90 µs on these VMs (a threadpool poll round trip is ~90 µs here), several times the
// work of a FUSE metadata request. The poll is level-triggered: a callback that stops reading
// before EAGAIN is simply called again on the next loop iteration.
//
// Fallback, where libuv's symbols cannot be found: one poll() parked on the threadpool, re-armed
// after each callback.
//
// libc is bound in syscalls.ts; only libuv (the node binary's own symbols) is bound here.
import type { IKoffiCType } from 'koffi';
import koffi from './koffi-native';
import { FsError } from './errors';
import { pollAsync } from './syscalls';

export interface FdWatch {
  /** How the watch works, for the log: 'uv_poll' (main loop), 'threadpool poll', or 'none'. */
  readonly kind: string;
  stop(): void;
}

/**
 * `readable`: data to read (or the fd is broken). `priority`: an exceptional condition (POLLPRI), as
 * /proc/self/mounts reports a change of the mount table (with POLLERR, which epoll always reports).
 */
export type FdWatchEvent = 'readable' | 'priority';

const UV_READABLE = 1;
const UV_PRIORITIZED = 8;
const POLLIN = 0x1;
const POLLPRI = 0x2;
/** sizeof(uv_poll_t) is 160 on x86_64/arm64 Linux; room to spare. */
const UV_POLL_T_SIZE = 512;

/**
 * Call `cb` on the main thread whenever `fd` shows `event` (err: the poll itself failed). With
 * `keepAlive: false` the watch alone does not keep the process running (an unref'd handle, as an
 * unref'd timer). `path` names the fd in a failed poll's message.
 */
export function watchFd(
  fd: number,
  event: FdWatchEvent,
  cb: (err: Error | null) => void,
  opts: { keepAlive?: boolean; path?: string } = {},
): FdWatch {
  const uv = libuv();
  if (uv) {
    stopAllAtExit();
    const handle = koffi.alloc('uint8_t', UV_POLL_T_SIZE);
    const registered = koffi.register((_h: unknown, status: number) => {
      cb(status < 0 ? new FsError(-status, 'uv_poll', opts.path) : null);
    }, koffi.pointer(uv.PollCb));
    let rc = uv.init(uv.loop(), handle, fd);
    if (rc === 0) rc = uv.start(handle, event === 'readable' ? UV_READABLE : UV_PRIORITIZED, registered);
    if (rc === 0) {
      if (opts.keepAlive === false) uv.unref(handle);
      let stopped = false;
      const stop = () => {
        if (stopped) return;
        stopped = true;
        liveWatches.delete(stop);
        uv.stop(handle);
        // The handle stays allocated (a few hundred bytes per watch): freeing it would need uv_close's callback.
        koffi.unregister(registered);
      };
      liveWatches.add(stop);
      return { kind: 'uv_poll', stop };
    }
    koffi.unregister(registered);
  }
  // A poll() parked on the threadpool keeps the process running until it returns: a watch that must
  // not is no watch at all there (the caller keeps its own timer).
  if (opts.keepAlive === false) return { kind: 'none', stop: () => undefined };
  let stopped = false;
  const arm = () => {
    if (stopped) return;
    pollAsync(fd, event === 'readable' ? POLLIN : POLLPRI, -1, (err) => {
      if (stopped) return;
      cb(err);
      arm();
    });
  };
  arm();
  return {
    kind: 'threadpool poll',
    stop: () => {
      stopped = true;
    },
  };
}

/**
 * Watches still polling. Node runs the loop once more while it tears down after 'exit'
 * (Environment::CleanupHandles); a poll that fires then would call into JavaScript that can no
 * longer run, and koffi aborts the process. So every watch stops at 'exit'.
 */
const liveWatches = new Set<() => void>();
let exitHook = false;
function stopAllAtExit(): void {
  if (exitHook) return;
  exitHook = true;
  process.once('exit', () => {
    for (const stop of [...liveWatches]) stop();
  });
}

interface Libuv {
  PollCb: IKoffiCType;
  loop(): unknown;
  init(loop: unknown, handle: unknown, fd: number): number;
  start(handle: unknown, events: number, cb: unknown): number;
  stop(handle: unknown): number;
  unref(handle: unknown): void;
}

let uvCache: Libuv | null | undefined;

function libuv(): Libuv | null {
  if (uvCache !== undefined) return uvCache;
  try {
    const self = koffi.load(null as unknown as string);
    const PollCb = koffi.proto('void layerfs_uv_poll_cb(void *handle, int status, int events)');
    const loop = self.func('void *uv_default_loop()');
    const init = self.func('int uv_poll_init(void *loop, void *handle, int fd)');
    const start = self.func('uv_poll_start', 'int', ['void *', 'int', koffi.pointer(PollCb)]);
    const stop = self.func('int uv_poll_stop(void *handle)');
    const unref = self.func('void uv_unref(void *handle)');
    uvCache = { PollCb, loop, init, start, stop, unref };
  } catch {
    uvCache = null;
  }
  return uvCache;
}
