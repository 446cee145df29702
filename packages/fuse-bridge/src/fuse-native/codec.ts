// fuse-native's wire format between JS and its C threads: attributes and statfs travel as flat
// Uint32Arrays (64-bit values as low/high pairs, times as milliseconds). No other file knows the
// layout. The patched binding (native/patch-fuse-native.js) reads four more slots: st_ino's high
// half and the nanoseconds of each time; the stock binding ignores them (32-bit inodes, ms times).
import type { Attr, StatFs } from '../attr';
import type { DirEntry } from '../handler';
import type { TimeSpec } from '@layerfs/backing-io';

const TWO32 = 0x1_0000_0000;

/** Low and high halves of a 64-bit value; a negative bigint goes as its two's complement. */
function setU64(arr: Uint32Array, i: number, v: bigint | number): void {
  const n = typeof v === 'bigint' ? v : BigInt(Math.max(0, Math.trunc(v)));
  arr[i] = Number(n & 0xffff_ffffn);
  arr[i + 1] = Number((n >> 32n) & 0xffff_ffffn);
}

/** Slots in one stat array: 18 of fuse-native's own + 4 of the layerfs patch. */
export const STAT_SLOTS = 22;

export function encodeStat(a: Attr): Uint32Array {
  const ints = new Uint32Array(STAT_SLOTS);
  ints[0] = a.mode;
  ints[1] = a.uid;
  ints[2] = a.gid;
  setU64(ints, 3, a.size);
  ints[5] = 0; // st_dev: the kernel assigns the mount's own
  ints[6] = a.nlink;
  ints[7] = Number(a.ino & 0xffff_ffffn);
  ints[8] = a.rdev;
  ints[9] = a.blksize;
  setU64(ints, 10, a.blocks);
  setU64(ints, 12, floorMs(a.atimeNs));
  setU64(ints, 14, floorMs(a.mtimeNs));
  setU64(ints, 16, floorMs(a.ctimeNs));
  ints[18] = Number((a.ino >> 32n) & 0xffff_ffffn);
  ints[19] = nsecOf(a.atimeNs);
  ints[20] = nsecOf(a.mtimeNs);
  ints[21] = nsecOf(a.ctimeNs);
  return ints;
}

const clamp32 = (v: bigint) => (v > 0xffff_ffffn ? 0xffff_ffff : Number(v));

export function encodeStatfs(s: StatFs): Uint32Array {
  const ints = new Uint32Array(11);
  ints[0] = s.bsize;
  ints[1] = s.frsize;
  ints[2] = clamp32(s.blocks);
  ints[3] = clamp32(s.bfree);
  ints[4] = clamp32(s.bavail);
  ints[5] = clamp32(s.files);
  ints[6] = clamp32(s.ffree);
  ints[7] = clamp32(s.ffree);
  ints[8] = 0;
  ints[9] = 0;
  ints[10] = s.namemax;
  return ints;
}

/** fuse-native splits 64-bit offsets and sizes into two uint32 arguments. */
export function joinU64(low: number, high: number): number {
  return low + high * TWO32;
}

/** Milliseconds, rounded towards minus infinity (a time before 1970 stays before its second). */
const floorMs = (ns: bigint) => (ns >= 0n ? ns / 1_000_000n : -((-ns + 999_999n) / 1_000_000n));

const nsecOf = (ns: bigint) => Number(((ns % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n);

const UTIME_NOW = (1 << 30) - 1;
const UTIME_OMIT = (1 << 30) - 2;

/** A struct timespec from the patched utimens (seconds split in two, nanoseconds) as a TimeSpec. */
export function decodeTimespec(secLow: number, secHigh: number, nsec: number): TimeSpec {
  if (nsec === UTIME_NOW) return 'now';
  if (nsec === UTIME_OMIT) return 'omit';
  // tv_sec is signed: times before 1970 arrive as a two's-complement high half.
  const sec = BigInt.asIntN(64, (BigInt(secHigh) << 32n) | BigInt(secLow));
  return sec * 1_000_000_000n + BigInt(nsec);
}

/** The stock binding's utimens: milliseconds (and atime in both slots). */
export function msToNs(ms: number): bigint {
  return BigInt(Math.trunc(ms)) * 1_000_000n;
}

/** A readdir entry: full attributes when the filesystem has them, else inode and type only. */
export function encodeDirEntry(e: DirEntry): Uint32Array {
  if (e.attr) return encodeStat(e.attr);
  const ints = new Uint32Array(STAT_SLOTS);
  ints[0] = e.type;
  ints[6] = 1;
  ints[7] = Number(e.ino & 0xffff_ffffn);
  ints[18] = Number((e.ino >> 32n) & 0xffff_ffffn);
  return ints;
}
