// Request decoding and reply encoding for /dev/fuse. Pure functions over Buffers, no I/O, so every
// layout is unit-tested against hand-built bytes (test/codec.test.ts). Attributes are written by one
// function, putAttr(), from the one Attr record every transport uses: no reply can carry half a set.
import { nameFromBytes } from '@layerfs/backing-io';
import type { Attr, StatFs } from '@layerfs/fuse-bridge';
import {
  ATTR_OUT_SIZE,
  DIRENTPLUS_NAME_OFFSET,
  DIRENT_NAME_OFFSET,
  ENTRY_OUT_SIZE,
  INIT_OUT_SIZE,
  IN_HEADER_SIZE,
  KSTATFS_SIZE,
  NotifyCode,
  OPEN_OUT_SIZE,
  OUT_HEADER_SIZE,
} from './abi';

export interface InHeader {
  len: number;
  opcode: number;
  unique: bigint;
  nodeid: number;
  uid: number;
  gid: number;
  pid: number;
}

/** One request as read from the device: its header and its argument bytes (a view into the read buffer). */
export interface Request extends InHeader {
  body: Buffer;
}

export function u64(buf: Buffer, off: number): number {
  // Node ids, handles and offsets we hand out or accept stay below 2^53.
  return buf.readUInt32LE(off) + buf.readUInt32LE(off + 4) * 0x1_0000_0000;
}

export function decodeRequest(buf: Buffer, n: number): Request {
  if (n < IN_HEADER_SIZE) throw new Error(`short FUSE request: ${n} bytes`);
  const len = buf.readUInt32LE(0);
  if (len !== n) throw new Error(`FUSE request length ${len} but ${n} bytes read`);
  const extlen = buf.readUInt16LE(36) * 8;
  return {
    len,
    opcode: buf.readUInt32LE(4),
    unique: buf.readBigUInt64LE(8),
    nodeid: u64(buf, 16),
    uid: buf.readUInt32LE(24),
    gid: buf.readUInt32LE(28),
    pid: buf.readUInt32LE(32),
    // Extensions (security context, supplementary groups) trail the arguments; we negotiate none,
    // but never let one be read as part of a name.
    body: buf.subarray(IN_HEADER_SIZE, n - extlen),
  };
}

/**
 * A NUL-terminated name starting at `off`; returns the name and the offset after its NUL. Names are
 * bytes: those that are not UTF-8 come out escaped (backing-io's host-names.ts), so they reach the
 * layers unchanged.
 */
export function cstring(body: Buffer, off = 0): [string, number] {
  let end = body.indexOf(0, off);
  if (end < 0) end = body.length;
  return [nameFromBytes(body, off, end), end + 1];
}

// -- argument structs ---------------------------------------------------------------------------

export const decode = {
  init: (b: Buffer) => ({
    major: b.readUInt32LE(0),
    minor: b.readUInt32LE(4),
    maxReadahead: b.readUInt32LE(8),
    flags: BigInt(b.readUInt32LE(12)) | (b.length >= 20 ? BigInt(b.readUInt32LE(16)) << 32n : 0n),
  }),
  forget: (b: Buffer) => u64(b, 0),
  batchForget: (b: Buffer) => {
    const count = b.readUInt32LE(0);
    const out: { nodeid: number; nlookup: number }[] = [];
    for (let i = 0, off = 8; i < count && off + 16 <= b.length; i++, off += 16) out.push({ nodeid: u64(b, off), nlookup: u64(b, off + 8) });
    return out;
  },
  getattr: (b: Buffer) => ({ flags: b.readUInt32LE(0), fh: u64(b, 8) }),
  setattr: (b: Buffer) => ({
    valid: b.readUInt32LE(0),
    fh: u64(b, 8),
    size: u64(b, 16),
    atime: b.readBigInt64LE(32),
    mtime: b.readBigInt64LE(40),
    atimensec: b.readUInt32LE(56),
    mtimensec: b.readUInt32LE(60),
    mode: b.readUInt32LE(68),
    uid: b.readUInt32LE(76),
    gid: b.readUInt32LE(80),
  }),
  mknod: (b: Buffer) => ({ mode: b.readUInt32LE(0), rdev: b.readUInt32LE(4), umask: b.readUInt32LE(8), name: cstring(b, 16)[0] }),
  mkdir: (b: Buffer) => ({ mode: b.readUInt32LE(0), umask: b.readUInt32LE(4), name: cstring(b, 8)[0] }),
  symlink: (b: Buffer) => {
    const [name, next] = cstring(b, 0);
    return { name, target: cstring(b, next)[0] };
  },
  rename: (b: Buffer) => {
    const [from, next] = cstring(b, 8);
    return { newdir: u64(b, 0), flags: 0, from, to: cstring(b, next)[0] };
  },
  rename2: (b: Buffer) => {
    const [from, next] = cstring(b, 16);
    return { newdir: u64(b, 0), flags: b.readUInt32LE(8), from, to: cstring(b, next)[0] };
  },
  link: (b: Buffer) => ({ oldnodeid: u64(b, 0), name: cstring(b, 8)[0] }),
  open: (b: Buffer) => ({ flags: b.readUInt32LE(0), openFlags: b.readUInt32LE(4) }),
  create: (b: Buffer) => ({
    flags: b.readUInt32LE(0),
    mode: b.readUInt32LE(4),
    umask: b.readUInt32LE(8),
    openFlags: b.readUInt32LE(12),
    name: cstring(b, 16)[0],
  }),
  read: (b: Buffer) => ({ fh: u64(b, 0), offset: u64(b, 8), size: b.readUInt32LE(16) }),
  /** The payload stays a view into the request buffer: whoever answers asynchronously owns that buffer. */
  write: (b: Buffer) => {
    const size = b.readUInt32LE(16);
    return { fh: u64(b, 0), offset: u64(b, 8), size, writeFlags: b.readUInt32LE(20), data: b.subarray(40, 40 + size) };
  },
  release: (b: Buffer) => ({ fh: u64(b, 0), flags: b.readUInt32LE(8), releaseFlags: b.readUInt32LE(12) }),
  flush: (b: Buffer) => ({ fh: u64(b, 0) }),
  fsync: (b: Buffer) => ({ fh: u64(b, 0), fsyncFlags: b.readUInt32LE(8) }),
  /** Without SETXATTR_EXT negotiated the struct is 8 bytes (size, flags). */
  setxattr: (b: Buffer) => {
    const size = b.readUInt32LE(0);
    const [name, next] = cstring(b, 8);
    return { flags: b.readUInt32LE(4), name, value: Buffer.from(b.subarray(next, next + size)) };
  },
  getxattr: (b: Buffer) => ({ size: b.readUInt32LE(0), name: cstring(b, 8)[0] }),
  listxattr: (b: Buffer) => ({ size: b.readUInt32LE(0) }),
  access: (b: Buffer) => ({ mask: b.readUInt32LE(0) }),
  interrupt: (b: Buffer) => b.readBigUInt64LE(0),
  fallocate: (b: Buffer) => ({ fh: u64(b, 0), offset: u64(b, 8), length: u64(b, 16), mode: b.readUInt32LE(24) }),
  lseek: (b: Buffer) => ({ fh: u64(b, 0), offset: u64(b, 8), whence: b.readUInt32LE(16) }),
  copyFileRange: (b: Buffer) => ({
    fhIn: u64(b, 0),
    offIn: u64(b, 8),
    nodeidOut: u64(b, 16),
    fhOut: u64(b, 24),
    offOut: u64(b, 32),
    len: u64(b, 40),
    flags: u64(b, 48),
  }),
  name: (b: Buffer) => cstring(b, 0)[0],
};

// -- replies --------------------------------------------------------------------------------------

/** A reply buffer with its out header filled in; the caller writes the body at OUT_HEADER_SIZE. */
export function replyBuffer(unique: bigint, bodySize: number): Buffer {
  return replyHeader(Buffer.allocUnsafe(OUT_HEADER_SIZE + bodySize), unique, bodySize);
}

/** The out header of a successful reply with `bodySize` bytes of body, written into `buf`. */
export function replyHeader(buf: Buffer, unique: bigint, bodySize: number): Buffer {
  buf.writeUInt32LE(OUT_HEADER_SIZE + bodySize, 0);
  buf.writeInt32LE(0, 4);
  buf.writeBigUInt64LE(unique, 8);
  return buf;
}

/** An error reply: header only, error as a negative errno. */
export function errorReply(unique: bigint, errno: number): Buffer {
  const buf = Buffer.allocUnsafe(OUT_HEADER_SIZE);
  buf.writeUInt32LE(OUT_HEADER_SIZE, 0);
  buf.writeInt32LE(-Math.abs(errno), 4);
  buf.writeBigUInt64LE(unique, 8);
  return buf;
}

export function emptyReply(unique: bigint): Buffer {
  return replyBuffer(unique, 0);
}

const U32 = 0x1_0000_0000;

/**
 * A u64 field. Most values (node ids, sizes, block counts) fit 32 bits: written as two u32s, which
 * costs a third of writeBigUInt64LE's BigInt shifts (every attribute reply writes three).
 */
export function putU64(buf: Buffer, off: number, v: number | bigint): void {
  if (typeof v === 'bigint' ? v <= 0xffff_ffffn : v < U32) {
    buf.writeUInt32LE(Number(v), off);
    buf.writeUInt32LE(0, off + 4);
  } else buf.writeBigUInt64LE(BigInt(v), off);
}

const NS = 1_000_000_000n;

/**
 * A time as seconds and nanoseconds. The seconds fit a double exactly (|sec| < 2^53), so one BigInt
 * division splits the time and the rest is number arithmetic; before 1970 the nanoseconds stay
 * positive and the seconds one lower, as the kernel stores them.
 */
function putTime(buf: Buffer, secOff: number, nsecOff: number, ns: bigint): void {
  const whole = ns / NS;
  let sec = Number(whole);
  let nsec = Number(ns - whole * NS);
  if (nsec < 0) {
    sec -= 1;
    nsec += 1e9;
  }
  // Two's complement by halves: the low half is sec mod 2^32, the high half floor(sec / 2^32).
  const high = Math.floor(sec / U32);
  buf.writeUInt32LE(sec - high * U32, secOff);
  buf.writeInt32LE(high, secOff + 4);
  buf.writeUInt32LE(nsec, nsecOff);
}

/** struct fuse_attr. The one place attributes meet the wire. */
export function putAttr(buf: Buffer, off: number, a: Attr): void {
  putU64(buf, off, a.ino);
  putU64(buf, off + 8, a.size);
  putU64(buf, off + 16, a.blocks);
  putTime(buf, off + 24, off + 48, a.atimeNs);
  putTime(buf, off + 32, off + 52, a.mtimeNs);
  putTime(buf, off + 40, off + 56, a.ctimeNs);
  buf.writeUInt32LE(a.mode >>> 0, off + 60);
  buf.writeUInt32LE(a.nlink >>> 0, off + 64);
  buf.writeUInt32LE(a.uid >>> 0, off + 68);
  buf.writeUInt32LE(a.gid >>> 0, off + 72);
  buf.writeUInt32LE(a.rdev >>> 0, off + 76);
  buf.writeUInt32LE(a.blksize >>> 0, off + 80);
  buf.writeUInt32LE(0, off + 84);
}

/** Seconds (may be fractional) as a fuse timeout pair. */
function putTimeout(buf: Buffer, secOff: number, nsecOff: number, seconds: number): void {
  const whole = Math.floor(seconds);
  putU64(buf, secOff, whole);
  buf.writeUInt32LE(Math.round((seconds - whole) * 1e9), nsecOff);
}

export interface EntryParams {
  nodeid: number;
  generation: number;
  entryTimeout: number;
  attrTimeout: number;
  attr: Attr;
}

/** struct fuse_entry_out at `off`. nodeid 0 is a negative entry, cached for entryTimeout. */
export function putEntry(buf: Buffer, off: number, e: EntryParams): void {
  putU64(buf, off, e.nodeid);
  putU64(buf, off + 8, e.generation);
  putTimeout(buf, off + 16, off + 32, e.entryTimeout);
  putTimeout(buf, off + 24, off + 36, e.attrTimeout);
  putAttr(buf, off + 40, e.attr);
}

export function entryReply(unique: bigint, e: EntryParams): Buffer {
  const buf = replyBuffer(unique, ENTRY_OUT_SIZE);
  putEntry(buf, OUT_HEADER_SIZE, e);
  return buf;
}

/** A negative entry: the kernel caches "no such name" for `timeout` seconds (0 = not at all). */
export function negativeEntryReply(unique: bigint, timeout: number): Buffer {
  const buf = replyBuffer(unique, ENTRY_OUT_SIZE);
  buf.fill(0, OUT_HEADER_SIZE);
  putTimeout(buf, OUT_HEADER_SIZE + 16, OUT_HEADER_SIZE + 32, timeout);
  return buf;
}

export function attrReply(unique: bigint, attr: Attr, timeout: number): Buffer {
  const buf = replyBuffer(unique, ATTR_OUT_SIZE);
  putTimeout(buf, OUT_HEADER_SIZE, OUT_HEADER_SIZE + 8, timeout);
  buf.writeUInt32LE(0, OUT_HEADER_SIZE + 12);
  putAttr(buf, OUT_HEADER_SIZE + 16, attr);
  return buf;
}

export interface OpenParams {
  fh: number;
  openFlags: number;
  backingId: number;
}

export function putOpen(buf: Buffer, off: number, o: OpenParams): void {
  putU64(buf, off, o.fh);
  buf.writeUInt32LE(o.openFlags >>> 0, off + 8);
  buf.writeInt32LE(o.backingId, off + 12);
}

export function openReply(unique: bigint, o: OpenParams): Buffer {
  const buf = replyBuffer(unique, OPEN_OUT_SIZE);
  putOpen(buf, OUT_HEADER_SIZE, o);
  return buf;
}

/** CREATE answers fuse_entry_out followed by fuse_open_out. */
export function createReply(unique: bigint, e: EntryParams, o: OpenParams): Buffer {
  const buf = replyBuffer(unique, ENTRY_OUT_SIZE + OPEN_OUT_SIZE);
  putEntry(buf, OUT_HEADER_SIZE, e);
  putOpen(buf, OUT_HEADER_SIZE + ENTRY_OUT_SIZE, o);
  return buf;
}

/** fuse_write_out (WRITE, COPY_FILE_RANGE) or fuse_getxattr_out (a size query): one u32 and padding. */
export function sizeReply(unique: bigint, size: number): Buffer {
  const buf = replyBuffer(unique, 8);
  buf.writeUInt32LE(size >>> 0, OUT_HEADER_SIZE);
  buf.writeUInt32LE(0, OUT_HEADER_SIZE + 4);
  return buf;
}

export function u64Reply(unique: bigint, v: number): Buffer {
  const buf = replyBuffer(unique, 8);
  putU64(buf, OUT_HEADER_SIZE, v);
  return buf;
}

export function dataReply(unique: bigint, data: Buffer): Buffer {
  const buf = replyBuffer(unique, data.length);
  data.copy(buf, OUT_HEADER_SIZE);
  return buf;
}

export function statfsReply(unique: bigint, s: StatFs): Buffer {
  const buf = replyBuffer(unique, KSTATFS_SIZE);
  buf.fill(0, OUT_HEADER_SIZE);
  const o = OUT_HEADER_SIZE;
  buf.writeBigUInt64LE(s.blocks, o);
  buf.writeBigUInt64LE(s.bfree, o + 8);
  buf.writeBigUInt64LE(s.bavail, o + 16);
  buf.writeBigUInt64LE(s.files, o + 24);
  buf.writeBigUInt64LE(s.ffree, o + 32);
  buf.writeUInt32LE(s.bsize, o + 40);
  buf.writeUInt32LE(s.namemax, o + 44);
  buf.writeUInt32LE(s.frsize, o + 48);
  return buf;
}

export interface InitReplyParams {
  major: number;
  minor: number;
  maxReadahead: number;
  flags: bigint;
  maxBackground: number;
  congestionThreshold: number;
  maxWrite: number;
  timeGran: number;
  maxPages: number;
  maxStackDepth: number;
}

/**
 * fuse_init_out. The kernel reads only as many bytes as its minor knows (24 before 7.23), but a
 * longer reply is accepted by every kernel that has INIT_EXT; older ones get the length they expect.
 */
export function initReply(unique: bigint, p: InitReplyParams): Buffer {
  const size = p.minor < 23 ? 24 : INIT_OUT_SIZE;
  const buf = replyBuffer(unique, size);
  const o = OUT_HEADER_SIZE;
  buf.fill(0, o);
  buf.writeUInt32LE(p.major, o);
  buf.writeUInt32LE(p.minor, o + 4);
  buf.writeUInt32LE(p.maxReadahead, o + 8);
  buf.writeUInt32LE(Number(p.flags & 0xffff_ffffn), o + 12);
  buf.writeUInt16LE(p.maxBackground, o + 16);
  buf.writeUInt16LE(p.congestionThreshold, o + 18);
  buf.writeUInt32LE(p.maxWrite, o + 20);
  if (size > 24) {
    buf.writeUInt32LE(p.timeGran, o + 24);
    buf.writeUInt16LE(p.maxPages, o + 28);
    buf.writeUInt32LE(Number(p.flags >> 32n), o + 32);
    buf.writeUInt32LE(p.maxStackDepth, o + 36);
  }
  return buf;
}

/**
 * FUSE_NOTIFY_INVAL_INODE for attributes only (offset -1: the page cache stays). A notice is a reply
 * with unique 0 and the notify code in the error field.
 */
export function invalInodeNotice(nodeid: number): Buffer {
  const buf = Buffer.alloc(OUT_HEADER_SIZE + 24);
  buf.writeUInt32LE(buf.length, 0);
  buf.writeInt32LE(NotifyCode.INVAL_INODE, 4);
  putU64(buf, OUT_HEADER_SIZE, nodeid);
  buf.writeBigInt64LE(-1n, OUT_HEADER_SIZE + 8);
  buf.writeBigInt64LE(0n, OUT_HEADER_SIZE + 16);
  return buf;
}

// -- directory listings ---------------------------------------------------------------------------

const align8 = (n: number) => (n + 7) & ~7;

export function direntSize(nameBytes: number): number {
  return align8(DIRENT_NAME_OFFSET + nameBytes);
}

export function direntplusSize(nameBytes: number): number {
  return align8(DIRENTPLUS_NAME_OFFSET + nameBytes);
}

/** struct fuse_dirent at `off`; `next` is the offset the kernel passes back to continue after it. */
export function putDirent(buf: Buffer, off: number, ino: bigint, next: number, type: number, name: Buffer): number {
  buf.writeBigUInt64LE(ino, off);
  putU64(buf, off + 8, next);
  buf.writeUInt32LE(name.length, off + 16);
  buf.writeUInt32LE(type, off + 20);
  name.copy(buf, off + DIRENT_NAME_OFFSET);
  const size = direntSize(name.length);
  buf.fill(0, off + DIRENT_NAME_OFFSET + name.length, off + size);
  return size;
}

/** struct fuse_direntplus: an entry_out (nodeid 0 when the kernel should not instantiate it) and a dirent. */
export function putDirentplus(
  buf: Buffer,
  off: number,
  e: EntryParams | null,
  ino: bigint,
  next: number,
  type: number,
  name: Buffer,
): number {
  if (e) putEntry(buf, off, e);
  else buf.fill(0, off, off + ENTRY_OUT_SIZE);
  putDirent(buf, off + ENTRY_OUT_SIZE, ino, next, type, name);
  return direntplusSize(name.length);
}
