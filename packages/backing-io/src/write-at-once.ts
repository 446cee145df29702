// Whether a small write may run on the request thread instead of the threadpool.
//
// A queued write costs two thread wakeups across the vCPUs: a daemon-served WRITE of a few bytes
// took 235 µs from send to reply against fuse-overlayfs's 60 (tar -x of 200 small files through an
// overlay without kernel passthrough, as every rootless mount is; fuse tracepoints), where the
// pwrite itself copies a few KiB into the page cache. The kernel's own answer, IOCB_NOWAIT, cannot
// be asked here: ext4 answers buffered RWF_NOWAIT writes EOPNOTSUPP. So the request thread writes
// itself only where a buffered write has nothing to wait for:
// - a local filesystem (local-fs.ts) and at most MAX_LEN bytes (a larger copy is worth a hop);
// - no page to read first: a write that covers only part of a page makes ext4 read that page
//   from disk unless the cache holds it, so the byte at each end of the write (within the file's
//   size; past it there is nothing to read) is probed with a one-byte RWF_NOWAIT read;
// - not throttled: balance_dirty_pages() puts a writer to sleep (up to 200 ms) once the machine's
//   dirty pages pass their limit, and a journal commit can hold a writer too. A write done here
//   that took longer than SLOW_NS sends every write to the threadpool for a while (slow-backoff.ts).
import * as fs from 'node:fs';
import { localFileStat } from './local-fs';
import { SlowBackoff } from './slow-backoff';
import { preadNowait } from './syscalls';

/** Above this a write's copy is long enough that the request thread had better hand it off. */
const MAX_LEN = 64 << 10;
/** A write that took this long waited for something (a page read, throttling, the journal). */
const SLOW_NS = 1_000_000n;
const probe = Buffer.alloc(1);

/**
 * What the decision reads of the host: a monotonic clock (ns) for the backoff, and whether the page
 * holding byte `pos` of `fd` is in the page cache (a one-byte RWF_NOWAIT read; one that misses also
 * starts a readahead there). A unit test swaps in fakes: the page cache of a real machine is not
 * the test's to decide.
 */
export const writeAtOnceHost = {
  now: (): bigint => process.hrtime.bigint(),
  pageCached: (fd: number, pos: number): boolean => preadNowait(fd, probe, 0, 1, pos) === 1,
};

const backoff = new SlowBackoff(SLOW_NS);

/** Whether the byte at `pos` of `fd` needs no disk read to be there: past the end, or cached. */
function cached(fd: number, pos: number, size: number): boolean {
  return pos >= size || writeAtOnceHost.pageCached(fd, pos);
}

/**
 * The write done on the calling thread where it cannot wait (see above), with the byte count
 * pwrite(2) returned; undefined where it must be queued. Never throws: a failed write wrote
 * nothing, and the queued one does it again and reports the error. `pos` null: at the file
 * position (an O_APPEND fd: its end).
 */
export function writeAtOnce(fd: number, buf: Uint8Array, off: number, len: number, pos: number | null): number | undefined {
  if (len > MAX_LEN) return undefined;
  const start = writeAtOnceHost.now();
  if (backoff.queued(start)) return undefined;
  const st = localFileStat(fd);
  if (!st?.isFile) return undefined;
  const at = pos ?? st.size;
  if (!cached(fd, at, st.size) || !cached(fd, at + len - 1, st.size)) return undefined;
  let n: number;
  try {
    n = fs.writeSync(fd, buf, off, len, pos);
  } catch {
    return undefined;
  }
  backoff.took(start, writeAtOnceHost.now());
  return n;
}
