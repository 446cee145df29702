// The copy-up origin, in the kernel's on-disk format (fs/overlayfs/overlayfs.h, struct ovl_fb; the
// overlay.origin and overlay.impure xattrs). A copied-up entry names the lower inode it came from
// by that filesystem's file handle, so st_ino stays the lower one across copy-up and across
// remounts, here and under the kernel's overlay alike. A directory holding such entries is marked
// impure, so readdir knows which d_ino to look up.
//
//   u8 version (0) · u8 magic (0xfb) · u8 len (header + fid) · u8 flags · u8 fid type
//   · 16 bytes uuid of the lower filesystem · fid
//
// Decoding needs open_by_handle_at (CAP_DAC_READ_SEARCH): without it, as with userxattr mounts of an
// unprivileged user, st_ino of an entry copied up before this mount is the upper one.
import type { BigIntStats } from 'node:fs';
import * as fs from 'node:fs';
import { LRUCache } from 'lru-cache';
import { countBound } from './lru-bound';
import { FileHandle, syscalls } from '@layerfs/backing-io';
import type { HostPath } from '@layerfs/backing-io';
import { createLogger } from '@layerfs/fuse-bridge';
import { oneFilesystem } from './params';

const log = createLogger('overlay:origin');

const OVL_FB_VERSION = 0;
const OVL_FB_MAGIC = 0xfb;
const OVL_FB_HEADER = 21;
const OVL_FH_FLAG_BIG_ENDIAN = 1 << 0;
const OVL_FH_FLAG_ANY_ENDIAN = 1 << 1;
const OVL_FH_FLAG_PATH_UPPER = 1 << 2;
const OVL_FH_FLAG_ALL = OVL_FH_FLAG_BIG_ENDIAN | OVL_FH_FLAG_ANY_ENDIAN | OVL_FH_FLAG_PATH_UPPER;
const CPU_ENDIAN_FLAG = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 0 : OVL_FH_FLAG_BIG_ENDIAN;
const NULL_UUID = Buffer.alloc(16);
const O_PATH = 0o10000000; // not in Node's fs.constants

/** The lower inode an upper entry stands for, as getattr and readdir report it. */
interface Origin {
  ino: bigint;
  nlink: bigint;
}

export class OriginFh {
  /** Real layer roots, [upper?, ...lower], numbered as RealEntry.layer. */
  readonly #roots: readonly string[];
  readonly #firstLower: number;
  /** Per layer, opened on first use and kept for the mount's life: the uuid, the handle decoder. */
  readonly #uuid = new Map<number, Buffer>();
  readonly #mountFd = new Map<number, number>();
  /** Lower layers are read-only: a handle decodes to the same inode for the mount's life. */
  readonly #decoded = new LRUCache<string, Origin | false>(countBound(10_000));
  #decodeRefused = false;

  /**
   * uuid=off: origins carry a null uuid, so the layers still decode on a copy of their filesystem with
   * a new uuid — only where every layer is on one filesystem (else the uuid tells them apart), as the
   * kernel falls back to uuid=on there.
   */
  readonly #nullUuid: boolean;

  constructor(roots: readonly string[], hasUpper: boolean, uuidOff = false) {
    this.#roots = roots;
    this.#firstLower = hasUpper ? 1 : 0;
    this.#nullUuid = uuidOff && oneFilesystem(roots);
  }

  /**
   * The origin value for an upper copy of the lower entry `real` in `layer`: its file handle, or an
   * empty value where that filesystem has none (the kernel's "null" origin: still marks a copy-up).
   * `real` is a name in the directory fd `dir` when one is given.
   */
  encode(real: HostPath, layer: number, dir?: number): Buffer {
    let h: FileHandle;
    try {
      h = syscalls.nameToHandle(real, dir);
    } catch (err) {
      log.warnOnce(
        `encode:${layer}`,
        `layer ${this.#roots[layer]} gives no file handles (${(err as Error).message}): copied-up entries keep their own st_ino after a remount`,
      );
      return Buffer.alloc(0);
    }
    const fb = Buffer.alloc(OVL_FB_HEADER + h.fid.length);
    fb[0] = OVL_FB_VERSION;
    fb[1] = OVL_FB_MAGIC;
    fb[2] = fb.length;
    fb[3] = CPU_ENDIAN_FLAG;
    fb[4] = h.type;
    (this.#nullUuid ? NULL_UUID : this.#layerUuid(layer)).copy(fb, 5);
    h.fid.copy(fb, OVL_FB_HEADER);
    return fb;
  }

  /**
   * st_ino for an upper non-directory with origin value `fb`: the lower inode's number if it has one
   * link (the kernel's rule: lower hard links copied up separately would otherwise share a number
   * with different contents), else undefined (the upper inode's own number stands). An empty value
   * (the kernel's null origin) and a malformed one decode to nothing.
   */
  inoOf(fb: Buffer): bigint | undefined {
    const key = fb.toString('hex');
    let o = this.#decoded.get(key);
    if (o === undefined) {
      o = this.#decode(fb) ?? false;
      if (!this.#decodeRefused) this.#decoded.set(key, o);
    }
    return o && o.nlink === 1n ? o.ino : undefined;
  }

  #decode(fb: Buffer): Origin | undefined {
    if (fb.length < OVL_FB_HEADER || fb[0] !== OVL_FB_VERSION || fb[1] !== OVL_FB_MAGIC || fb[2] !== fb.length) return undefined;
    const flags = fb[3]!;
    if (flags & ~OVL_FH_FLAG_ALL) return undefined;
    if (flags & OVL_FH_FLAG_PATH_UPPER) return undefined; // an index entry's upper handle: not ours
    if (!(flags & OVL_FH_FLAG_ANY_ENDIAN) && (flags & OVL_FH_FLAG_BIG_ENDIAN) !== CPU_ENDIAN_FLAG) return undefined;
    const uuid = fb.subarray(5, 21);
    const h: FileHandle = { type: fb[4]!, fid: fb.subarray(OVL_FB_HEADER) };
    // The kernel tries each lower layer whose filesystem has that uuid (uuid=off writes a null one).
    for (let layer = this.#firstLower; layer < this.#roots.length; layer++) {
      const own = this.#layerUuid(layer);
      if (!own.equals(uuid) && !uuid.equals(NULL_UUID)) continue;
      let fd: number;
      try {
        fd = syscalls.openByHandle(this.#layerFd(layer), h, O_PATH);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EPERM') {
          this.#decodeRefused = true;
          log.warnOnce('decode', 'no CAP_DAC_READ_SEARCH: entries copied up before this mount show their upper st_ino');
          return undefined;
        }
        continue; // ESTALE: not on this layer's filesystem, or gone
      }
      try {
        const st: BigIntStats = fs.fstatSync(fd, { bigint: true });
        return { ino: st.ino, nlink: st.nlink };
      } finally {
        fs.closeSync(fd);
      }
    }
    return undefined;
  }

  #layerFd(layer: number): number {
    let fd = this.#mountFd.get(layer);
    if (fd === undefined) {
      fd = fs.openSync(this.#roots[layer]!, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
      this.#mountFd.set(layer, fd);
    }
    return fd;
  }

  #layerUuid(layer: number): Buffer {
    let uuid = this.#uuid.get(layer);
    if (uuid === undefined) {
      uuid = syscalls.fsUuid(this.#layerFd(layer));
      this.#uuid.set(layer, uuid);
    }
    return uuid;
  }

  close(): void {
    for (const fd of this.#mountFd.values()) fs.closeSync(fd);
    this.#mountFd.clear();
  }
}
