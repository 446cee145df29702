// The device and the syscalls around it, through koffi (the binding backing-io already uses for the
// syscalls Node lacks: prebuilt, no compiler at install). Reads and writes of requests use Node's
// own fs.readSync/writeSync on the non-blocking fd: no FFI needed on the hot path.
import * as fs from 'node:fs';
import koffi from 'koffi';
import { FsError, syscalls } from '@layerfs/backing-io';
import { DEV_IOC_BACKING_CLOSE, DEV_IOC_BACKING_OPEN, DEV_IOC_CLONE } from './abi';

const libc = koffi.load('libc.so.6');

const PollFd = koffi.struct({ fd: 'int', events: 'short', revents: 'short' });

const c = {
  // ioctl is variadic in libc; the argument is always a pointer here.
  ioctlPtr: libc.func('int ioctl(int fd, unsigned long request, void *arg)'),
  poll: libc.func('poll', 'int', [koffi.inout(koffi.pointer(PollFd)), 'uint64', 'int']),
};

export const MountFlags = { NOSUID: 2, NODEV: 4, NOEXEC: 8, RDONLY: 1, NOATIME: 1024 } as const;

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

/**
 * Wait on the threadpool until the device is readable (or broken). One parked poll pins one libuv
 * thread for as long as the filesystem is idle; the callback runs on the main thread.
 */
export function pollReadable(fd: number, cb: (err: Error | null) => void): void {
  const pfd = { fd, events: POLLIN, revents: 0 };
  c.poll.async(pfd, 1, -1, (err: Error | null) => cb(err));
}

/** Register `fd` as a backing file for kernel passthrough; returns the backing id. */
export function backingOpen(devFd: number, fd: number): number {
  const map = Buffer.alloc(16);
  map.writeInt32LE(fd, 0);
  const id = c.ioctlPtr(devFd, DEV_IOC_BACKING_OPEN, map);
  if (id < 0) throw new FsError(koffi.errno(), 'FUSE_DEV_IOC_BACKING_OPEN');
  return id;
}

export function backingClose(devFd: number, id: number): void {
  const arg = Buffer.alloc(4);
  arg.writeUInt32LE(id, 0);
  if (c.ioctlPtr(devFd, DEV_IOC_BACKING_CLOSE, arg) < 0) throw new FsError(koffi.errno(), 'FUSE_DEV_IOC_BACKING_CLOSE');
}

/** A second fd on the same connection (FUSE_DEV_IOC_CLONE), for a second reader. */
export function cloneDevice(devFd: number): number {
  const fd = openFuseDevice();
  const arg = Buffer.alloc(4);
  arg.writeUInt32LE(devFd, 0);
  if (c.ioctlPtr(fd, DEV_IOC_CLONE, arg) < 0) {
    const errno = koffi.errno();
    fs.closeSync(fd);
    throw new FsError(errno, 'FUSE_DEV_IOC_CLONE');
  }
  return fd;
}
