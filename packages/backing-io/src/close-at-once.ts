// Whether closing a file opened for writing may run on the request thread instead of the threadpool.
//
// A queued close costs two thread wakeups, and on a 2-vCPU machine the worker preempts the request
// thread on its own CPU: 100-200 µs before the next request is read (perf sched trace of a sqlite
// transaction loop: every RELEASE delayed the GETATTR behind it that much). A close on a local disk
// filesystem takes microseconds — except in three cases, which stay on the threadpool:
// - a filesystem that talks to a server or a daemon at close (NFS's close-to-open flush, a FUSE
//   layer's FLUSH): only local ones are trusted (local-fs.ts);
// - a file that was truncated and rewritten: ext4 (auto_da_alloc), xfs and btrfs start writeback of
//   all its dirty pages at close (0.4 s of a 1 GiB copy-up's 0.8, measured): bounded here by size;
// - the last reference to an unlinked file: its blocks are freed at close (0.2-0.5 ms here).
import { localFileStat } from './local-fs';

/** Above this size a close may have to start the writeback of the whole file (see above). */
const MAX_SIZE = 1 << 20;

/** Whether `fd` (open for writing) may be closed at once; false whenever in doubt. */
export function closesAtOnce(fd: number): boolean {
  const st = localFileStat(fd);
  return st !== undefined && st.size <= MAX_SIZE && st.nlink !== 0;
}
