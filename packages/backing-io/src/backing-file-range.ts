// The ranged operations on backing files that overlayfs has beside read and write (ovl_fallocate,
// ovl_llseek's SEEK_DATA/SEEK_HOLE, ovl_copyfile): each under a reference of its own, so a release
// racing with the call cannot close (and recycle) the fd underneath it.
//
// They are issued synchronously: fallocate and lseek are extent-map updates and lookups (µs), and a
// copy is capped at COPY_CHUNK per call — copy_file_range may return a short count, and callers
// (cp, the kernel's own splice fallback) loop — so no call holds the request thread for long.
import type { BackingFile } from './backing-file';
import * as syscalls from './syscalls';

export const COPY_CHUNK = 8 << 20;

function withRef<T>(files: BackingFile[], fn: () => T): T {
  for (const f of files) f.get();
  try {
    return fn();
  } finally {
    // A put that drops the last reference closes the fd asynchronously; nothing to wait for here.
    for (const f of files) void f.put()?.catch(() => undefined);
  }
}

export function backingFileFallocate(file: BackingFile, mode: number, offset: number, length: number): void {
  withRef([file], () => syscalls.fallocate(file.fd, mode, offset, length));
}

export function backingFileLseek(file: BackingFile, offset: number, whence: number): number {
  return withRef([file], () => syscalls.lseek(file.fd, offset, whence));
}

export function backingFileCopyRange(src: BackingFile, srcOff: number, dst: BackingFile, dstOff: number, length: number): number {
  return withRef([src, dst], () => syscalls.copyFileRange(src.fd, srcOff, dst.fd, dstOff, Math.min(length, COPY_CHUNK)));
}
