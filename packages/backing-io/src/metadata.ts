// How a filesystem issues µs-long metadata syscalls (lstat, fstat, readlink) on local backing files.
//
// 'sync' answers in the thread that got the request: no threadpool hop (~20 µs each way here) for a
// ~2 µs syscall. 'async' goes through the libuv pool and never blocks the event loop, the right
// choice when the backing store can be slow (network filesystems, a spun-down disk).
// The benchmark (`npm run bench`) measures both; the README says which won and by how much.
import * as fs from 'node:fs';

export type MetadataMode = 'sync' | 'async';

export interface BackingMeta {
  readonly mode: MetadataMode;
  lstat(path: string): fs.BigIntStats | Promise<fs.BigIntStats>;
  fstat(fd: number): fs.BigIntStats | Promise<fs.BigIntStats>;
  readlink(path: string): string | Promise<string>;
}

const BIG = { bigint: true } as const;

export function backingMeta(mode: MetadataMode): BackingMeta {
  if (mode === 'sync') {
    return {
      mode,
      lstat: (p) => fs.lstatSync(p, BIG),
      fstat: (fd) => fs.fstatSync(fd, BIG),
      readlink: (p) => fs.readlinkSync(p),
    };
  }
  return {
    mode,
    lstat: (p) => fs.promises.lstat(p, BIG),
    fstat: (fd) => new Promise((res, rej) => fs.fstat(fd, BIG, (e, st) => (e ? rej(e) : res(st)))),
    readlink: (p) => fs.promises.readlink(p),
  };
}
