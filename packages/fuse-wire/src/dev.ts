// The device and the syscalls around it, through koffi (the binding backing-io already uses for the
// syscalls Node lacks: prebuilt, no compiler at install, loaded once by backing-io). Requests come in
// and replies go out through libc's read and write (below).
import * as fs from 'node:fs';
import { FsError, syscalls, watchFd } from '@layerfs/backing-io';
import type { FdWatch } from '@layerfs/backing-io';
import { DEV_IOC_BACKING_CLOSE, DEV_IOC_BACKING_OPEN } from './abi';

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

/**
 * One reply to the device: 0, or the errno of a failed write. Through libc rather than
 * fs.writeSync, whose argument checks a fresh daemon runs interpreted: 1.0 against 2.0 µs a call
 * over the first 3 000 (the same once optimized). A reply is written whole or not at all.
 */
export function writeReply(fd: number, buf: Uint8Array): number {
  for (;;) {
    const n = syscalls.writeOrErrno(fd, buf);
    if (n >= 0) return 0;
    if (-n !== EINTR) return -n;
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

/** Call `onReadable` on the main thread whenever the device has requests (or is broken): see backing-io's fd-watch.ts. */
export function watchReadable(fd: number, onReadable: (err: Error | null) => void): FdWatch {
  return watchFd(fd, 'readable', onReadable, { path: '/dev/fuse' });
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
