// Whether closing a file opened for writing may run on the request thread instead of the threadpool.
//
// A queued close costs two thread wakeups, and on a 2-vCPU machine the worker preempts the request
// thread on its own CPU: 100-200 µs before the next request is read (perf sched trace of a sqlite
// transaction loop: every RELEASE delayed the GETATTR behind it that much). A close on a local disk
// filesystem takes microseconds — except in three cases, which stay on the threadpool:
// - a filesystem that talks to a server or a daemon at close (NFS's close-to-open flush, a FUSE
//   layer's FLUSH): only ext2/3/4, xfs, btrfs, f2fs, tmpfs and the kernel's overlay are trusted
//   (found in mountinfo once per device: statfs would ask the very server that may hang);
// - a file that was truncated and rewritten: ext4 (auto_da_alloc), xfs and btrfs start writeback of
//   all its dirty pages at close (0.4 s of a 1 GiB copy-up's 0.8, measured): bounded here by size;
// - the last reference to an unlinked file: its blocks are freed at close (0.2-0.5 ms here).
import * as fs from 'node:fs';

/** The filesystems (mountinfo's type) whose close(2) does no I/O it waits for. */
const LOCAL_FS = new Set([
  'ext2',
  'ext3',
  'ext4',
  'xfs',
  'btrfs',
  'f2fs',
  'tmpfs',
  'overlay', // the kernel's: the close is its upper or lower file's, and NFS cannot be an upper
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
    local = LOCAL_FS.has(fsTypeOf(st.dev) ?? '');
    localByDev.set(st.dev, local);
  }
  return local;
}

/**
 * The type of the filesystem with device number `dev`, from /proc/self/mountinfo: not statfs(2),
 * which asks an NFS or FUSE server and can hang with it — on the request thread.
 */
function fsTypeOf(dev: number): string | undefined {
  const d = BigInt(dev);
  // glibc's gnu_dev_major/minor, the encoding Node's st_dev uses.
  const major = ((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn);
  const minor = (d & 0xffn) | ((d >> 12n) & ~0xffn);
  const want = ` ${major}:${minor} `;
  let info: string;
  try {
    info = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return undefined;
  }
  for (const line of info.split('\n')) {
    if (!line.includes(want)) continue;
    // "ID PARENT MAJOR:MINOR ROOT MOUNTPOINT OPTIONS [TAGS...] - TYPE SOURCE SUPEROPTIONS"
    const sep = line.indexOf(' - ');
    if (sep >= 0 && line.split(' ')[2] === want.trim()) return line.slice(sep + 3).split(' ')[0];
  }
  return undefined;
}
