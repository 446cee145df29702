// Whether an fsync may run on the request thread instead of the threadpool.
//
// A queued fsync costs two thread wakeups across the vCPUs (the worker's, then the request thread's
// for the completion), ~130 µs on these VMs on top of the fsync itself: FSYNC took 430 µs from send
// to reply against 300 done at once and fuse-overlayfs's 236, a sqlite database in rollback-journal
// mode through the overlay (603 FSYNCs a run; fuse tracepoints), and the run was 10-13% faster done at
// once. fuse-overlayfs runs every fsync on its only thread. We do so only where it should not hold
// the other requests up long:
// - a local filesystem (local-fs.ts): an NFS commit or a FUSE layer's FSYNC waits on a server;
// - at most MAX_SIZE bytes: the file's own dirty data to write back is bounded by its size (a
//   directory's size is a few blocks);
// - not slow lately: a journal commit can still wait on other files' data (ext4's ordered mode) or
//   on a busy disk. One done here that took longer than SLOW_NS sends every fsync to the threadpool
//   for a while (slow-backoff.ts), as write-at-once.ts does for writes.
//
// Unlike a write, an fsync that failed here is not tried again on the threadpool: the kernel reports
// a writeback error to each fd once (errseq), so a second try could answer success for lost data.
import * as fs from 'node:fs';
import { localFileStat } from './local-fs';
import { SlowBackoff } from './slow-backoff';

/** Above this size the file's own writeback could keep the request thread too long. */
const MAX_SIZE = 4 << 20;
/**
 * An fsync that took this long waited on a busy disk or on other files' writeback. (Here a sqlite
 * run's fsyncs took 64-512 µs, seven of 800 up to 4 ms.)
 */
const SLOW_NS = 10_000_000n;

/** The monotonic clock (ns) the backoff reads; a unit test swaps in a fake. */
export const fsyncAtOnceHost = {
  now: (): bigint => process.hrtime.bigint(),
};

const backoff = new SlowBackoff(SLOW_NS);

/**
 * fsync(2) (fdatasync(2) with `datasync`) of `fd` done on the calling thread where it should not
 * wait long (see above): true when done, false where the caller must queue it. Throws the error of
 * an fsync done here that failed (it must not be tried again).
 */
export function fsyncAtOnce(fd: number, datasync: boolean): boolean {
  const start = fsyncAtOnceHost.now();
  if (backoff.queued(start)) return false;
  const st = localFileStat(fd);
  if (st === undefined || st.size > MAX_SIZE) return false;
  try {
    if (datasync) fs.fdatasyncSync(fd);
    else fs.fsyncSync(fd);
  } finally {
    backoff.took(start, fsyncAtOnceHost.now());
  }
  return true;
}
