// The syscalls the core issues on a backing fd, behind one small interface. The default is Node's
// callback fs API (one threadpool hop per call, no FileHandle bookkeeping), with reads first tried
// with RWF_NOWAIT on the request thread (a page-cache hit costs microseconds; a hop costs ~100 µs
// of wakeups on a loaded 2-core machine), and small writes and fsyncs done there where they cannot
// wait long. Tests inject a wrapper that holds requests in flight or counts syncs; nothing else
// should need to.
import * as fs from 'node:fs';
import { closesAtOnce } from './close-at-once';
import { fsyncAtOnce } from './fsync-at-once';
import { closeOrThrow, preadNowait } from './syscalls';
import { writeAtOnce } from './write-at-once';

export interface BackingIoOps {
  open(path: string, flags: number, mode: number): Promise<number>;
  /**
   * `readOnly`: the fd was opened for reading only. Such a close has nothing to write back and does
   * not wait for a disk, so the default closes it at once: queueing it cost two thread wakeups per
   * file in a loop of small reads (cat of 3000 files through a daemon-served overlay). A file open
   * for writing is closed at once too where that cannot wait for I/O (close-at-once.ts).
   */
  close(fd: number, readOnly?: boolean): Promise<void> | void;
  /** `pos === null` means "at the file position" (what O_APPEND writes need). */
  read(fd: number, buf: Uint8Array, off: number, len: number, pos: number | null): Promise<number>;
  /**
   * The kernel's IOCB_NOWAIT: the read done at once if it cannot block (the page cache holds the
   * data), else undefined and the caller queues read(). Never throws: a failure is undefined too,
   * and the queued read reports it. Optional: without it every read is queued.
   */
  readNowait?(fd: number, buf: Uint8Array, off: number, len: number, pos: number): number | undefined;
  write(fd: number, buf: Uint8Array, off: number, len: number, pos: number | null): Promise<number>;
  /**
   * The write done at once, on the calling thread, where it cannot wait for a disk (the default:
   * write-at-once.ts); else undefined and the caller queues write(). Never throws: a failure is
   * undefined too, and the queued write reports it. Optional: without it every write is queued.
   */
  writeAtOnce?(fd: number, buf: Uint8Array, off: number, len: number, pos: number | null): number | undefined;
  /**
   * Done at once, on the calling thread, where it should not wait long (fsync-at-once.ts: then
   * undefined, or the error thrown); else queued.
   */
  fsync(fd: number): Promise<void> | void;
  fdatasync(fd: number): Promise<void> | void;
  fstat(fd: number): Promise<fs.BigIntStats>;
}

function settle<T>(resolve: (v: T) => void, reject: (e: unknown) => void) {
  return (err: NodeJS.ErrnoException | null, value?: T) => (err ? reject(err) : resolve(value as T));
}

export const nodeIoOps: BackingIoOps = {
  open: (path, flags, mode) => new Promise((res, rej) => fs.open(path, flags, mode, settle(res, rej))),
  close: (fd, readOnly) => {
    if (!readOnly && !closesAtOnce(fd)) return new Promise((res, rej) => fs.close(fd, settle<void>(res, rej)));
    closeOrThrow(fd);
  },
  read: (fd, buf, off, len, pos) => new Promise((res, rej) => fs.read(fd, buf, off, len, pos, settle(res, rej))),
  readNowait: (fd, buf, off, len, pos) => preadNowait(fd, buf, off, len, pos),
  write: (fd, buf, off, len, pos) => new Promise((res, rej) => fs.write(fd, buf, off, len, pos, settle(res, rej))),
  writeAtOnce,
  fsync: (fd) => (fsyncAtOnce(fd, false) ? undefined : new Promise((res, rej) => fs.fsync(fd, settle<void>(res, rej)))),
  fdatasync: (fd) => (fsyncAtOnce(fd, true) ? undefined : new Promise((res, rej) => fs.fdatasync(fd, settle<void>(res, rej)))),
  fstat: (fd) => new Promise((res, rej) => fs.fstat(fd, { bigint: true }, settle(res, rej))),
};
