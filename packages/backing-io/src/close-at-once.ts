// Whether closing a file opened for writing may run on the request thread instead of the threadpool.
//
// A queued close costs two thread wakeups, and on a 2-vCPU machine the worker preempts the request
// thread on its own CPU: 100-200 µs before the next request is read (perf sched trace of a sqlite
// transaction loop: every RELEASE delayed the GETATTR behind it that much). A close on a local disk
// filesystem takes microseconds — except in three cases, which stay on the threadpool:
// - a filesystem that talks to a server or a daemon at close (NFS's close-to-open flush, a FUSE
//   layer's FLUSH): only ext2/3/4, xfs, btrfs, f2fs, tmpfs and the kernel's overlay are trusted;
// - a file that was truncated and rewritten: ext4 (auto_da_alloc), xfs and btrfs start writeback of
//   all its dirty pages at close (0.4 s of a 1 GiB copy-up's 0.8, measured): bounded here by size;
// - the last reference to an unlinked file: its blocks are freed at close (0.2-0.5 ms here).
import * as fs from 'node:fs';

/** statfs f_type of the filesystems whose close(2) does no I/O it waits for. */
const LOCAL_FS = new Set([
  0xef53, // ext2, ext3, ext4
  0x58465342, // xfs
  0x9123683e, // btrfs
  0xf2f52010, // f2fs
  0x01021994, // tmpfs
  0x794c7630, // the kernel's overlay: the close is its upper or lower file's, and NFS cannot be an upper
]);

/** Above this size a close may have to start the writeback of the whole file (see above). */
const MAX_SIZE = 1 << 20;

/** st_dev → whether that filesystem is in LOCAL_FS; filesystems do not change type while mounted. */
const localByDev = new Map<number, boolean>();

/** Whether `fd` (open for writing) may be closed at once; false whenever in doubt. */
export function closesAtOnce(fd: number): boolean {
  let st: fs.Stats;
  try {
    st = fs.fstatSync(fd);
  } catch {
    return false;
  }
  if (st.size > MAX_SIZE || st.nlink === 0) return false;
  let local = localByDev.get(st.dev);
  if (local === undefined) {
    try {
      local = LOCAL_FS.has(fs.statfsSync(`/proc/self/fd/${fd}`).type);
    } catch {
      local = false;
    }
    localByDev.set(st.dev, local);
  }
  return local;
}
