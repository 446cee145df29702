// A copy-up's data: the bytes of a lower regular file into its copy, by the cheapest route that
// keeps what the kernel's copy-up keeps (ovl_copy_up_file: a clone where the filesystem can, holes
// skipped).
//
// - A small file whose data the page cache holds: copied in the request, a read that cannot wait
//   (RWF_NOWAIT) and one write. The threadpool copy costs two thread hops and a wakeup of the event
//   loop, more than the copy itself (a `chmod -R` of a lower tree is a copy-up per file).
// - A sparse file (fewer blocks than its size): its data segments only (SEEK_DATA/SEEK_HOLE), read
//   and written on the threadpool, so its holes stay holes — libuv's copy (copy_file_range) writes
//   zeros into them, and a 10 GiB disk image with 1 GiB of data would take 10 GiB of the upper layer.
// - Anything else: libuv's copyFile on the threadpool (FICLONE, a reflink, where the filesystem has
//   it; else copy_file_range or sendfile); other requests go on meanwhile.
//
// The source is an fd of our own, opened through no symlink and held until the copy is done;
// O_NONBLOCK and a regular file only: a lower file swapped for a FIFO behind the mount must hold
// neither the request thread in open(2) nor a threadpool thread in the copy.
import * as fs from 'node:fs';
import { FsError, errnoOf, fdPath, syscalls } from '@layerfs/backing-io';
import type { HostPath } from '@layerfs/backing-io';
import type { LayerPaths } from './layer-paths';

/** Where the data goes: a new file to make (`name` in the directory fd `dir`, `path` naming it), or an open file's fd. */
export type CopyTarget = { dir: number; name: string; path: HostPath } | { fd: number };

/** A file made by a copy: fresh (EXCL), for writing, not inherited by children. */
export const NEW_FILE = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | 0o2000000; /* O_CLOEXEC */
/** The largest file copied in the request (when cached); also the chunk of a sparse file's copy. */
const SMALL_COPY = 128 * 1024;
const SPARSE_CHUNK = 1 << 20;
let smallBuf: Buffer | undefined;

/**
 * The data of the regular file `real` into `to`. A new file is made by the copy: answers its fd
 * (open for writing; the caller closes it), or undefined when libuv's copy made it by path. An open
 * `to` must hold nothing but holes (a metadata-only copy): it gets the data (answers undefined).
 */
export async function copyData(paths: LayerPaths, real: string, to: CopyTarget): Promise<number | undefined> {
  const from = paths.open(real, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  try {
    const st = fs.fstatSync(from, { bigint: true });
    if (!st.isFile()) throw new FsError('ESTALE', 'copy-up', real, 'no longer a regular file');
    const sparse = st.blocks * 512n < st.size;
    if ('fd' in to) {
      if (sparse) await copySparse(from, to.fd, Number(st.size));
      else await fs.promises.copyFile(fdPath(from), fdPath(to.fd), fs.constants.COPYFILE_FICLONE);
      return undefined;
    }
    const small = !sparse && st.size <= BigInt(SMALL_COPY) ? copySmall(from, to.dir, to.name) : undefined;
    if (small !== undefined) return small;
    if (sparse) {
      const fd = syscalls.openat(to.dir, to.name, NEW_FILE, 0o600);
      try {
        await copySparse(from, fd, Number(st.size));
      } catch (err) {
        fs.closeSync(fd);
        throw err;
      }
      return fd;
    }
    // EXCL (the name is fresh) also spares the ftruncate(0) libuv does otherwise, after which ext4's
    // auto_da_alloc flushes the whole file at close: 0.4 s of a 1 GiB copy-up's 0.8.
    await fs.promises.copyFile(fdPath(from), to.path, fs.constants.COPYFILE_FICLONE | fs.constants.COPYFILE_EXCL);
    return undefined;
  } finally {
    fs.closeSync(from);
  }
}

/** A small file the page cache holds, copied into a new file `name` in `dir`: its fd, or undefined. */
function copySmall(from: number, dir: number, name: string): number | undefined {
  smallBuf ??= Buffer.allocUnsafe(SMALL_COPY);
  const got = readCached(from, smallBuf);
  if (got === undefined) return undefined;
  const to = syscalls.openat(dir, name, NEW_FILE, 0o600);
  try {
    for (let off = 0; off < got;) off += fs.writeSync(to, smallBuf, off, got - off, off);
  } catch (err) {
    fs.closeSync(to);
    throw err;
  }
  return to;
}

/** All of `fd`'s data into `buf` if the page cache holds it and it fits, else undefined. */
function readCached(fd: number, buf: Buffer): number | undefined {
  let got = 0;
  for (;;) {
    const n = syscalls.preadNowait(fd, buf, got, buf.length - got, got);
    if (n === undefined) return undefined;
    if (n === 0) return got;
    got += n;
    // Full: the file grew past the buffer behind the mount; the threadpool copy takes it whole.
    if (got === buf.length) return undefined;
  }
}

/**
 * The data segments of `from` written at the same offsets of `to`, the holes between them skipped,
 * then `to` cut or extended to `size` (a trailing hole). SEEK_DATA/SEEK_HOLE ask the filesystem's
 * extent map, cheap enough for the request thread; the reads and writes go to the threadpool.
 */
async function copySparse(from: number, to: number, size: number): Promise<void> {
  const buf = Buffer.allocUnsafe(SPARSE_CHUNK);
  for (let pos = 0; pos < size;) {
    let data: number;
    try {
      data = syscalls.lseek(from, pos, syscalls.SeekWhence.DATA);
    } catch (err) {
      if (errnoOf(err) === 6 /* ENXIO: no data past pos */) break;
      throw err;
    }
    const hole = Math.min(syscalls.lseek(from, data, syscalls.SeekWhence.HOLE), size);
    for (let off = data; off < hole;) {
      const n = await readAt(from, buf, Math.min(buf.length, hole - off), off);
      if (n === 0) break; // it shrank behind the mount
      for (let w = 0; w < n;) w += await writeAt(to, buf.subarray(w, n), off + w);
      off += n;
    }
    pos = hole;
  }
  fs.ftruncateSync(to, size);
}

function readAt(fd: number, buf: Buffer, len: number, pos: number): Promise<number> {
  return new Promise((res, rej) => fs.read(fd, buf, 0, len, pos, (err, n) => (err ? rej(err) : res(n))));
}

function writeAt(fd: number, buf: Buffer, pos: number): Promise<number> {
  return new Promise((res, rej) => fs.write(fd, buf, 0, buf.length, pos, (err, n) => (err ? rej(err) : res(n))));
}
