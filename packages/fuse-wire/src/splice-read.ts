// READ answered with splice(2): the bytes go from the host's page cache through a pipe to the FUSE
// request by page reference, instead of being copied into the daemon (preadv2) and out again (the
// write to /dev/fuse). The two copies were a third of the daemon's time in a cold sequential read
// served by the daemon (perf: _copy_to_iter and memcpy), which fuse-overlayfs and libfuse avoid the
// same way.
//
// The reply's header goes into the pipe first, so it must state the length before the data is
// there: only ranges the file holds in full are spliced (a probe of the range's last byte), and a
// splice that moves less is undone (the pipe drained) and the copying path answers. splice(2) has no
// NOWAIT for the file side, so only ranges whose first and last pages the page cache holds are spliced;
// a read from disk keeps going to the threadpool and never holds up the request loop.
import * as fs from 'node:fs';
import { syscalls } from '@layerfs/backing-io';
import { OUT_HEADER_SIZE } from './abi';
import { replyHeader } from './codec';

const PAGE = 4096;
const ENOENT = 2;
const ENODEV = 19;
/** Below this a copy costs less than two probes and three splices. */
const SPLICE_MIN = 32 * 1024;

export class SpliceReads {
  readonly #r: number;
  readonly #w: number;
  /** Header page, data pages, one more for a range that does not start on a page. */
  readonly #maxData: number;
  readonly #hdr = Buffer.alloc(OUT_HEADER_SIZE);
  readonly #probe = Buffer.alloc(1);
  readonly #scratch = Buffer.alloc(64 * 1024);
  /** READs answered by splice so far (tests and the benchmark read it). */
  spliced = 0;

  constructor(
    readonly devFd: number,
    maxRead: number,
  ) {
    // A pipe holds a page per slot: the header takes one, the data a slot per page it touches.
    const { fds, capacity } = syscalls.pipeOfSize(maxRead + 2 * PAGE);
    [this.#r, this.#w] = fds;
    this.#maxData = capacity - 2 * PAGE;
  }

  /** Whether a READ of `size` bytes is worth splicing and fits the pipe. */
  fits(size: number): boolean {
    return size >= SPLICE_MIN && size <= this.#maxData;
  }

  /**
   * Answer READ `unique` with `size` bytes of `fd` at `pos`. False when the caller must answer it
   * (the range is not all in the page cache, ends past EOF, or a splice failed); then nothing was sent.
   */
  reply(unique: bigint, fd: number, pos: number, size: number): boolean {
    if (syscalls.preadNowait(fd, this.#probe, 0, 1, pos + size - 1) !== 1) return false;
    if (syscalls.preadNowait(fd, this.#probe, 0, 1, pos) !== 1) return false;
    replyHeader(this.#hdr, unique, size);
    if (syscalls.writeOrErrno(this.#w, this.#hdr) !== OUT_HEADER_SIZE) return this.#undo();
    if (syscalls.spliceFromFile(fd, pos, this.#w, size, syscalls.SPLICE_F_NONBLOCK) !== size) return this.#undo();
    const sent = syscalls.spliceOut(this.#r, this.devFd, OUT_HEADER_SIZE + size, syscalls.SPLICE_F_NONBLOCK);
    if (sent === OUT_HEADER_SIZE + size) {
      this.spliced++;
      return true;
    }
    this.#undo();
    // ENOENT: the kernel gave up on the request (interrupted), ENODEV: unmounted — as for a write,
    // there is nobody left to answer. Anything else: the copying path tries again.
    return sent === -ENOENT || sent === -ENODEV;
  }

  close(): void {
    fs.closeSync(this.#r);
    fs.closeSync(this.#w);
  }

  /** Empty the pipe of a reply that was not sent. */
  #undo(): false {
    while (syscalls.readOrErrno(this.#r, this.#scratch) > 0);
    return false;
  }
}
