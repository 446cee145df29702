// The device and the syscalls around it, through koffi (the binding backing-io already uses for the
// syscalls Node lacks: prebuilt, no compiler at install, loaded once by backing-io). Replies go out
// with Node's own fs.writeSync on the non-blocking fd; requests come in through libc's read (below).
import * as fs from 'node:fs';
import type { IKoffiCType } from 'koffi';
import { FsError, koffi, syscalls } from '@layerfs/backing-io';
import { DEV_IOC_BACKING_CLOSE, DEV_IOC_BACKING_OPEN } from './abi';

// libc itself is bound once, in backing-io's syscalls.ts; only libuv (below) is bound here.

const EAGAIN = 11;
const EINTR = 4;
const ENOENT = 2;

/**
 * One request from the device into `buf`: its length, or 0 when none is waiting (EAGAIN). Through
 * libc rather than fs.readSync because the empty read that ends every drain would otherwise throw
 * (an exception costs ~10 µs here, a tenth of a request). ENOENT: the request was interrupted before
 * we read it; read again.
 */
export function readRequest(fd: number, buf: Buffer): number {
  for (;;) {
    const n = syscalls.readOrErrno(fd, buf);
    if (n >= 0) return n === 0 ? -1 : n;
    const errno = -n;
    if (errno === EAGAIN) return 0;
    if (errno === EINTR || errno === ENOENT) continue;
    throw new FsError(errno, 'read', '/dev/fuse');
  }
}

export const MountFlags = {
  RDONLY: 1,
  NOSUID: 2,
  NODEV: 4,
  NOEXEC: 8,
  SYNCHRONOUS: 16,
  DIRSYNC: 128,
  NOATIME: 1024,
  NODIRATIME: 2048,
  RELATIME: 1 << 21,
  STRICTATIME: 1 << 24,
} as const;

const POLLIN = 0x1;

/** Open /dev/fuse non-blocking: the request loop parks in poll() on the threadpool, never in read(). */
export function openFuseDevice(): number {
  try {
    return fs.openSync('/dev/fuse', fs.constants.O_RDWR | fs.constants.O_NONBLOCK | 0o2000000 /* O_CLOEXEC */);
  } catch (err) {
    throw new FsError(-((err as NodeJS.ErrnoException).errno ?? -19 /* ENODEV */), 'open', '/dev/fuse');
  }
}

export function mountFuse(source: string, target: string, fstype: string, flags: number, data: string): void {
  syscalls.mount(source, target, fstype, flags, data);
}

export interface DeviceWatch {
  /** How the watch works, for the log: 'uv_poll' (main loop) or 'threadpool poll'. */
  readonly kind: string;
  stop(): void;
}

/**
 * Call `onReadable` on the main thread whenever the device has requests (or is broken).
 *
 * Preferred: a uv_poll handle on Node's own event loop (libuv's functions, which the node binary
 * exports to addons, called through koffi). The main thread then sleeps in epoll on /dev/fuse and
 * wakes straight into the callback: no thread hop between the kernel and the reply. Each hop costs
 * 20-90 µs on these VMs (measured: a threadpool poll round trip is ~90 µs here), several times the
 * work of a metadata request. The poll is level-triggered: a callback that stops reading before
 * EAGAIN is simply called again on the next loop iteration.
 *
 * Fallback, where libuv's symbols cannot be found: one poll() parked on the threadpool, re-armed
 * after each drain.
 */
export function watchReadable(fd: number, onReadable: (err: Error | null) => void): DeviceWatch {
  const uv = libuv();
  if (uv) {
    const handle = koffi.alloc('uint8_t', UV_POLL_T_SIZE);
    const cb = koffi.register((_h: unknown, status: number) => {
      onReadable(status < 0 ? new FsError(-status, 'uv_poll', '/dev/fuse') : null);
    }, koffi.pointer(uv.PollCb));
    let rc = uv.init(uv.loop(), handle, fd);
    if (rc === 0) rc = uv.start(handle, UV_READABLE, cb);
    if (rc === 0) {
      let stopped = false;
      return {
        kind: 'uv_poll',
        stop: () => {
          if (stopped) return;
          stopped = true;
          uv.stop(handle);
          // The handle stays allocated (a few hundred bytes per mount): freeing it would need uv_close's callback.
          koffi.unregister(cb);
        },
      };
    }
    koffi.unregister(cb);
  }
  let stopped = false;
  const arm = () => {
    if (stopped) return;
    syscalls.pollAsync(fd, POLLIN, -1, (err) => {
      if (stopped) return;
      onReadable(err);
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

const UV_READABLE = 1;
/** sizeof(uv_poll_t) is 160 on x86_64/arm64 Linux; room to spare. */
const UV_POLL_T_SIZE = 512;

interface Libuv {
  PollCb: IKoffiCType;
  loop(): unknown;
  init(loop: unknown, handle: unknown, fd: number): number;
  start(handle: unknown, events: number, cb: unknown): number;
  stop(handle: unknown): number;
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
    uvCache = { PollCb, loop, init, start, stop };
  } catch {
    uvCache = null;
  }
  return uvCache;
}

/** Register `fd` as a backing file for kernel passthrough; returns the backing id. */
export function backingOpen(devFd: number, fd: number): number {
  const map = Buffer.alloc(16);
  map.writeInt32LE(fd, 0);
  return syscalls.ioctl(devFd, DEV_IOC_BACKING_OPEN, map, 'FUSE_DEV_IOC_BACKING_OPEN');
}

export function backingClose(devFd: number, id: number): void {
  const arg = Buffer.alloc(4);
  arg.writeUInt32LE(id, 0);
  syscalls.ioctl(devFd, DEV_IOC_BACKING_CLOSE, arg, 'FUSE_DEV_IOC_BACKING_CLOSE');
}
