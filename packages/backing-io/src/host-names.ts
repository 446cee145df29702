// Names are bytes. A Linux file name is any run of bytes but '/' and NUL; the kernel hands a FUSE
// daemon names in whatever encoding the caller used (Latin-1 tar archives, old Samba shares,
// stress-ng's `filename` probe of 255 × 0x80), and a layer may hold such names already. JS strings
// are UTF-16: decoding such bytes as UTF-8 replaces each bad byte with U+FFFD, so a name would be
// created under another name, listed as one nobody can open, and a 255-byte name would grow past
// NAME_MAX (ENAMETOOLONG).
//
// The handler interface keeps strings (what embedders and every comparison want) and carries the
// bytes that are not UTF-8 as lone surrogates U+DC80..U+DCFF, one per byte — Python's
// "surrogateescape" (PEP 383). Valid UTF-8 decodes as usual, so an ordinary name costs a scan for
// U+FFFD in, one for a lone low surrogate out. The round trip is exact: valid UTF-8 never decodes to
// a lone surrogate (UTF-8 cannot encode surrogates: ED A0..BF xx is invalid, so escaped byte by byte).
//
// Every place bytes become a name (a FUSE request, getdents, readlink, listxattr) decodes with
// nameFromBytes; every place a name becomes bytes (a syscall, a FUSE reply) encodes with
// nameToBytes, hostPath (Node's fs) or cString (koffi).

/** A path or name as the host takes it: the string when its UTF-8 is its bytes, else the bytes. */
export type HostPath = string | Buffer;

/** Any low surrogate in the escape range; the cheap first test before the exact one. */
const ESCAPE_RANGE = /[\uDC80-\uDCFF]/;
/** A low surrogate in the escape range that is not the second half of a pair: an escaped byte. */
const ESCAPED = /(?<![\uD800-\uDBFF])[\uDC80-\uDCFF]/;
const NUL = Buffer.alloc(1);

/** Whether `s` carries bytes that are not UTF-8 (escaped by nameFromBytes). */
export function hasEscapedBytes(s: string): boolean {
  return ESCAPE_RANGE.test(s) && ESCAPED.test(s);
}

/**
 * UTF-8 decoding of a byte range: Buffer's own utf8Slice (the native method its toString calls once
 * it has checked its arguments and looked up the encoding in JavaScript), which takes any
 * Uint8Array and checks the range itself. Every request that names a file decodes its name: a
 * fresh daemon, whose JavaScript runs interpreted, spent 1.9 µs a name in toString against 0.4 µs
 * here. toString where a Node lacks the method (it is not documented).
 */
const utf8Slice: (this: Uint8Array, start: number, end: number) => string =
  (Buffer.prototype as unknown as { utf8Slice?: (this: Uint8Array, start: number, end: number) => string }).utf8Slice ??
  function (this: Uint8Array, start: number, end: number): string {
    return Buffer.from(this.buffer, this.byteOffset, this.byteLength).toString('utf8', start, end);
  };

/** The name bytes `b[start, end)` stand for, bytes that are not UTF-8 escaped. */
export function nameFromBytes(b: Uint8Array, start = 0, end = b.length): string {
  const s = utf8Slice.call(b, start, end);
  // U+FFFD also decodes from its own valid encoding (EF BF BD): the slow path tells the two apart.
  return s.includes('\uFFFD') ? decodeEscaping(Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength), start, end) : s;
}

function decodeEscaping(b: Buffer, start: number, end: number): string {
  let out = '';
  let run = start; // start of the pending run of valid UTF-8
  let i = start;
  while (i < end) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    const len = sequenceLength(b, i, end);
    if (len > 0) {
      i += len;
      continue;
    }
    out += b.toString('utf8', run, i) + String.fromCharCode(0xdc00 | c);
    i++;
    run = i;
  }
  return out + b.toString('utf8', run, end);
}

/** The length of the well-formed UTF-8 sequence at b[i] (a lead byte ≥ 0x80), or 0. */
function sequenceLength(b: Buffer, i: number, end: number): number {
  const c = b[i]!;
  let need: number;
  let cp: number;
  let min: number;
  if (c >= 0xc2 && c <= 0xdf) [need, cp, min] = [1, c & 0x1f, 0x80];
  else if (c >= 0xe0 && c <= 0xef) [need, cp, min] = [2, c & 0x0f, 0x800];
  else if (c >= 0xf0 && c <= 0xf4) [need, cp, min] = [3, c & 0x07, 0x10000];
  else return 0;
  if (i + need >= end) return 0; // truncated
  for (let k = 1; k <= need; k++) {
    const cc = b[i + k]!;
    if ((cc & 0xc0) !== 0x80) return 0;
    cp = (cp << 6) | (cc & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return need + 1;
}

/** The bytes `name` stands for: its UTF-8, each escaped byte as itself. */
export function nameToBytes(name: string): Buffer {
  if (!hasEscapedBytes(name)) return Buffer.from(name, 'utf8');
  const parts: Buffer[] = [];
  let run = 0;
  for (let i = 0; i < name.length; i++) {
    const u = name.charCodeAt(i);
    if (u < 0xdc80 || u > 0xdcff) continue;
    const prev = i > 0 ? name.charCodeAt(i - 1) : 0;
    if (prev >= 0xd800 && prev <= 0xdbff) continue; // the low half of a pair
    parts.push(Buffer.from(name.slice(run, i), 'utf8'), Buffer.of(u & 0xff));
    run = i + 1;
  }
  parts.push(Buffer.from(name.slice(run), 'utf8'));
  return Buffer.concat(parts);
}

/** The length of the bytes `name` stands for (NAME_MAX checks): Buffer.byteLength counts an escaped byte as 3. */
export function nameByteLength(name: string): number {
  return hasEscapedBytes(name) ? nameToBytes(name).length : Buffer.byteLength(name);
}

/** A listxattr answer: each name's bytes, NUL-terminated. */
export function nameListBytes(names: readonly string[]): Buffer {
  return Buffer.concat(names.flatMap((n) => [nameToBytes(n), NUL]));
}

/** `p` as Node's fs takes it: the string itself, or its bytes where it carries escaped ones. */
export function hostPath(p: string): HostPath {
  return hasEscapedBytes(p) ? nameToBytes(p) : p;
}

/** `p` as a `const char *` argument (koffi): the string, or its bytes NUL-terminated. */
export function cString(p: HostPath): HostPath {
  if (typeof p !== 'string') return p[p.length - 1] === 0 ? p : Buffer.concat([p, NUL]);
  return hasEscapedBytes(p) ? Buffer.concat([nameToBytes(p), NUL]) : p;
}

/** A HostPath for messages: the name as a string (escaped bytes as they decode). */
export function shownPath(p: HostPath): string {
  return typeof p === 'string' ? p : nameFromBytes(p, 0, p[p.length - 1] === 0 ? p.length - 1 : p.length);
}

/**
 * The magic link of one of our own fds, /proc/self/fd/N: it names the fd's file whatever the fd was
 * opened for (an O_PATH fd too) and wherever that file has moved; followed, it goes there and no
 * further.
 */
export function fdPath(fd: number): string {
  return `/proc/self/fd/${fd}`;
}
