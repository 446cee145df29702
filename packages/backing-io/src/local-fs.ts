// Whether a filesystem is a local disk (or memory) filesystem, whose syscalls on an open file wait
// for nothing but its own disk: no server, no daemon. The request thread may then do some of them
// itself (close-at-once.ts, write-at-once.ts, fsync-at-once.ts). Found in /proc/self/mountinfo once per device:
// statfs(2) would ask the very NFS or FUSE server that may hang — on the request thread.
import * as fs from 'node:fs';
import { statxAt, type StatxResult } from './syscalls';

/** The filesystems (mountinfo's type) trusted to wait for no server or daemon. */
const LOCAL_FS = new Set([
  'ext2',
  'ext3',
  'ext4',
  'xfs',
  'btrfs',
  'f2fs',
  'tmpfs',
  'overlay', // the kernel's: the call goes to its upper or lower file, and NFS cannot be an upper
]);

/** st_dev → whether that filesystem is in LOCAL_FS; filesystems do not change type while mounted. */
const localByDev = new Map<number, boolean>();

/** Whether the filesystem of device `dev` (a Stats' st_dev) is local; false whenever in doubt. */
export function isLocalFs(dev: number): boolean {
  let local = localByDev.get(dev);
  if (local === undefined) {
    local = LOCAL_FS.has(fsTypeOf(dev) ?? '');
    localByDev.set(dev, local);
  }
  return local;
}

/** What the at-once paths need of an open file: its size, link count and whether it is a regular file. */
export interface LocalFileStat {
  size: number;
  nlink: number;
  isFile: boolean;
}

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;

/**
 * fstat(2) of `fd` where its filesystem is local (isLocalFs); undefined where not, or on any error.
 * By statx through koffi: fs.fstatSync builds a Stats with four Dates, on every WRITE and RELEASE.
 */
export function localFileStat(fd: number): LocalFileStat | undefined {
  let st: StatxResult;
  try {
    st = statxAt(fd, '');
  } catch {
    return undefined;
  }
  if (!isLocalFs(Number(st.dev))) return undefined;
  return { size: Number(st.size), nlink: st.nlink, isFile: (st.mode & S_IFMT) === S_IFREG };
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
