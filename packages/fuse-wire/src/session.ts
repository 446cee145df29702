// One FUSE connection: the request loop, INIT negotiation and the replies.
//
// The loop is shaped by what was measured (the README's Decisions, and dev.ts): every hop between threads
// costs 20-90 µs, so a request is answered in the thread that read it whenever the filesystem answers
// synchronously (µs-long metadata syscalls), and the main thread waits for the device in Node's own
// epoll (dev.ts watchReadable), so the kernel wakes it directly. The device fd is non-blocking; on
// wake the main thread reads requests until EAGAIN (returning to the event loop every DRAIN_BATCH
// requests so asynchronous completions are not starved) and dispatches each. Handlers that return a
// Promise (data I/O, copy-up, fsync) are answered when it settles.
//
// Buffers: a request's body is a view into the read buffer, which the next read overwrites. Every
// operation decodes its arguments before it first awaits; WRITE's payload is the exception, so a
// WRITE that goes asynchronous takes the buffer with it and the loop reads into another from a pool.
import * as fs from 'node:fs';
import { FsError, errnoOf } from '@layerfs/backing-io';
import type { FdWatch } from '@layerfs/backing-io';
import type { CacheMode, NodeHandlers, NodeId } from '@layerfs/fuse-bridge';
import { createLogger, errnoForReply, isDebugEnabled } from '@layerfs/fuse-bridge';
import {
  InitFlag,
  KERNEL_MINOR_VERSION,
  KERNEL_VERSION,
  MIN_MINOR_VERSION,
  OUT_HEADER_SIZE,
  Opcode,
  REQUEST_HEADROOM,
  opcodeName,
} from './abi';
import { Request, decode, decodeRequest, errorReply, initReply, invalInodeNotice, opcodeOf, replyBuffer } from './codec';
import { backingClose, backingOpen, readRequest, watchReadable, writeReply } from './dev';
import { KernelNodes } from './kernel-nodes';
import { OpResult, WireOps } from './ops';
import { PassthroughModes, PassthroughPolicy } from './passthrough-modes';
import { BufferPool } from './buffer-pool';
import { SpliceReads } from './splice-read';
import { opTable } from './op-table';

const log = createLogger('wire');

/** Request buffers kept for reuse after asynchronous WRITEs (each max_write plus headroom). */
const SPARE_BUFS = 8;
/**
 * A WRITE up to this size (request included) is copied out of the read buffer into one of these
 * instead of taking the 1 MiB read buffer along. Under the writeback cache the kernel keeps up to
 * max_background WRITEs of a page or a few in flight; each took a read buffer, the pool's spares ran
 * out, and every further one was a fresh 1 MiB allocation: 4k random writes through a daemon-served
 * overlay spent over half the daemon's CPU in V8's major collections (58 000 writes/s for
 * fuse-overlayfs, 16 000 for us). A copy of a few KiB costs well under a microsecond.
 */
const SMALL_WRITE = 64 * 1024 + 4096;
/** Small WRITE buffers kept: as many as WRITEs the kernel keeps in flight (max_background). */
const SPARE_SMALL_WRITES = 64;
/** READ reply buffers kept for reuse: as many as READs the kernel keeps in flight (max_background). */
const SPARE_READ_REPLIES = 16;

const DRAIN_BATCH = 64;
/**
 * Spins in a row that may find nothing before spinning stops (see #drain), and how many requests
 * later it is tried again. A caller that sends its next request at once (a tree walk, a stat loop)
 * is caught nearly every time; callers that think between requests, or many processes sharing two
 * vCPUs (a podman build: its commit walks two mounts while it tars), were not, and each miss was
 * spinMicros of a CPU the caller needed.
 */
const SPIN_CREDIT = 8;
const SPIN_RETRY_AFTER = 32;
const ENOSYS = 38;
const ENOENT = 2;
const ENODEV = 19;

export interface WireSessionOptions {
  attrTimeout: number;
  entryTimeout: number;
  negativeTimeout: number;
  cache: CacheMode;
  /** Largest WRITE the kernel may send (and READ size cap); 1 MiB unless set. */
  maxWrite: number;
  passthrough: PassthroughPolicy;
  /** How long to keep polling for the next request after answering one (µs; 0: sleep at once). */
  spinMicros: number;
  /** 2 when a backing file lives on a stacked filesystem (overlayfs, FUSE); 1 otherwise. */
  maxStackDepth: number;
  /** Ask for FUSE_POSIX_ACL (the kernel enforces ACLs from the system.posix_acl_* xattrs). */
  acl?: boolean;
  /** false: never ask for FUSE_WRITEBACK_CACHE. */
  writeback?: boolean;
}

/** What INIT settled, for the log, the tests and `--debug`. */
export interface WireInit {
  minor: number;
  flags: bigint;
  /** Kernel passthrough in use; when not, why. */
  passthrough: boolean;
  passthroughWhy: string;
}

const WANTED_FLAGS =
  InitFlag.ASYNC_READ |
  InitFlag.ATOMIC_O_TRUNC |
  InitFlag.BIG_WRITES |
  InitFlag.AUTO_INVAL_DATA |
  InitFlag.DO_READDIRPLUS |
  InitFlag.READDIRPLUS_AUTO |
  InitFlag.ASYNC_DIO |
  InitFlag.PARALLEL_DIROPS |
  InitFlag.MAX_PAGES |
  InitFlag.CACHE_SYMLINKS |
  InitFlag.INIT_EXT |
  InitFlag.POSIX_ACL |
  InitFlag.DONT_MASK;

/**
 * Requests counted by opcode: an array slot per opcode, as every request adds one (a Map keyed by
 * opcode name cost a name lookup and two string-hashed operations per request).
 */
export class OpCounts {
  readonly #n = new Array<number>(256).fill(0);

  add(opcode: number): void {
    if (opcode < 256) this.#n[opcode]++;
  }

  /** Requests of opcode `name` ("READ", …) so far; undefined for none. */
  get(name: string): number | undefined {
    const op = (Opcode as Record<string, number>)[name];
    return op === undefined ? undefined : this.#n[op] || undefined;
  }
}

export class WireSession {
  readonly nodes = new KernelNodes();
  /** Requests that reached the daemon, by opcode name (the tests prove passthrough with these). */
  readonly counts = new OpCounts();

  /** How many of the READs (counted in `counts`) were answered by splice from the filesystem's fd. */
  get splicedReads(): number {
    return this.#spliceReads?.spliced ?? 0;
  }
  readonly ready: Promise<WireInit>;
  readonly ended: Promise<void>;
  modes!: PassthroughModes;
  #ops!: WireOps;
  #readReplies!: BufferPool;
  #spliceReads: SpliceReads | undefined;
  /** Where the next request is read; an asynchronous WRITE takes it along and leaves one of #requestBufs. */
  #buf: Buffer;
  readonly #requestBufs: BufferPool;
  readonly #smallWrites = new BufferPool(SMALL_WRITE, SPARE_SMALL_WRITES);
  #ended = false;
  #watch: FdWatch | undefined;
  readonly #spinNs: bigint;
  /**
   * Requests whose answer waits for a promise (a READ from disk on the threadpool, an fsync, a
   * copy-up). While any is pending the loop does not spin: its caller is blocked on that answer, and
   * a spin would hold back the very completion it waits for (threadpool callbacks run only once the
   * loop returns to libuv). The last one to settle starts the spin instead (#settled).
   */
  #pending = 0;
  #spinScheduled = false;
  /** Spins that may still come back empty; a caught request refills it (SPIN_CREDIT). */
  #spinCredit = SPIN_CREDIT;
  /** Requests answered since spinning stopped for lack of credit. */
  #sinceSpinStopped = 0;
  /** Every request and reply on the debug log (`--debug`): the wire transport's `-o debug`. */
  readonly #trace = isDebugEnabled();
  #readyResolve!: (i: WireInit) => void;
  #readyReject!: (e: Error) => void;
  #endedResolve!: () => void;

  constructor(
    readonly devFd: number,
    readonly fs: NodeHandlers,
    readonly opts: WireSessionOptions,
  ) {
    this.#requestBufs = new BufferPool(opts.maxWrite + REQUEST_HEADROOM, SPARE_BUFS);
    this.#buf = this.#requestBufs.take();
    this.#spinNs = BigInt(Math.round(opts.spinMicros * 1000));
    this.ready = new Promise((res, rej) => {
      this.#readyResolve = res;
      this.#readyReject = rej;
    });
    this.ended = new Promise((res) => {
      this.#endedResolve = res;
    });
    // A session that ends before INIT never becomes ready; nobody else may be listening.
    this.ready.catch(() => undefined);
  }

  start(): void {
    this.#watch = watchReadable(this.devFd, (err) => {
      if (err) {
        // libuv reports POLLERR as EBADF, and an unmount is POLLERR: the read in #drain then fails
        // ENODEV and ends the session quietly. Anything else is worth a line.
        this.#drain();
        if (!this.#ended) {
          log.warn(`waiting on /dev/fuse failed: ${err.message}`);
          this.#end();
        }
        return;
      }
      this.#drain();
    });
    log.debug(`waiting for requests with ${this.#watch.kind}`);
  }

  /**
   * Read and dispatch until EAGAIN, at most DRAIN_BATCH requests; the watch calls again if more wait.
   *
   * After answering, keep polling the device for up to `spinMicros` before going back to sleep in
   * epoll. A caller working through files sends its next request a few µs after our reply; caught
   * while we are still awake, it costs no wakeup of ours — and a wakeup across vCPUs is most of a
   * request's cost on these VMs (measured: lstat with zero TTLs 278–338 → 122–138 µs; cold stat of
   * 300 files 20 % faster). Spinning starts only after a request, so an idle mount costs nothing,
   * and stops after SPIN_CREDIT empty spins in a row until a later try catches a request again.
   */
  #drain(spinFirst = false): void {
    let spinUntil = 0n;
    for (let i = 0; i < DRAIN_BATCH; i++) {
      if (this.#ended) return;
      let n: number;
      try {
        n = readRequest(this.devFd, this.#buf);
        while (n === 0 && (i > 0 || spinFirst) && this.#spinNs > 0n && this.#spinCredit > 0) {
          // A reply waits for a promise, and promises settle only once we return (an overlay
          // create or unlink settles in microtasks, a disk read on the threadpool): return, and
          // the last of them to settle spins for the caller's next request.
          if (this.#pending > 0) return;
          const now = process.hrtime.bigint();
          if (spinUntil === 0n) spinUntil = now + this.#spinNs;
          else if (now >= spinUntil) {
            this.#spinCredit--;
            break;
          }
          n = readRequest(this.devFd, this.#buf);
        }
        if (n > 0 && spinUntil !== 0n) this.#spinCredit = SPIN_CREDIT;
      } catch (err) {
        if (errnoOf(err) !== ENODEV /* unmounted */) log.warn(`reading /dev/fuse failed: ${(err as Error).message}`);
        this.#end();
        return;
      }
      if (n === 0) return; // drained; the watch calls again when more arrive
      if (n < 0) {
        this.#end();
        return;
      } // end of file: the connection is gone
      spinUntil = 0n;
      if (this.#spinCredit === 0 && ++this.#sinceSpinStopped >= SPIN_RETRY_AFTER) {
        this.#spinCredit = 1;
        this.#sinceSpinStopped = 0;
      }
      this.#dispatch(this.#decode(n));
    }
  }

  /** The request just read; a small WRITE comes in a copy of its own (SMALL_WRITE), the read buffer stays. */
  #decode(n: number): Request {
    if (n > SMALL_WRITE || opcodeOf(this.#buf) !== Opcode.WRITE) return decodeRequest(this.#buf, n);
    const own = this.#smallWrites.take();
    this.#buf.copy(own, 0, 0, n);
    return decodeRequest(own, n);
  }

  /** The splice path for READs, unless the host refuses a pipe (the copying path then answers all). */
  #splicer(maxRead: number): SpliceReads | undefined {
    try {
      return new SpliceReads(this.devFd, maxRead);
    } catch (err) {
      log.debug(`READs without splice: ${(err as Error).message}`);
      return undefined;
    }
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#spliceReads?.close();
    this.#watch?.stop();
    this.#readyReject(new Error('the FUSE connection ended before INIT'));
    this.#endedResolve();
  }

  #dispatch(req: Request): void {
    this.counts.add(req.opcode);
    if (this.#trace) log.debug(`> ${req.unique} ${opcodeName[req.opcode] ?? req.opcode} node ${req.nodeid} uid ${req.uid} pid ${req.pid}`);
    if (req.opcode === Opcode.INIT) {
      this.#init(req);
      return;
    }
    if (req.opcode === Opcode.INTERRUPT) {
      // Nothing we run can be cut short safely (a handler owns its buffers until it settles); the
      // request finishes and its reply, if the kernel gave up on it, fails ENOENT and is dropped.
      log.debug(`interrupt of ${decode.interrupt(req.body)}`);
      return;
    }
    // A small WRITE's body is in a buffer of its own (#decode): given back once the handler is done with it.
    const ownBuffer = req.opcode === Opcode.WRITE && req.body.buf.buffer !== this.#buf.buffer ? req.body.buf : undefined;
    let result: OpResult;
    try {
      result = this.#call(req);
    } catch (err) {
      if (ownBuffer) this.#smallWrites.give(ownBuffer);
      this.#write(errorReply(req.unique, this.#errno(err, req)));
      return;
    }
    if (ownBuffer) {
      const giveBack = () => this.#smallWrites.give(ownBuffer);
      if (result instanceof Promise) result.then(giveBack, giveBack);
      else giveBack();
    }
    if (result instanceof Promise) {
      this.#pending++;
      if (req.opcode === Opcode.WRITE && !ownBuffer) {
        const owned = this.#buf;
        this.#buf = this.#requestBufs.take();
        const giveBack = () => this.#requestBufs.give(owned);
        result.then(giveBack, giveBack);
      }
      result.then(
        (reply) => {
          if (reply) this.#reply(req, reply);
          this.#settled();
        },
        (err) => {
          this.#write(errorReply(req.unique, this.#errno(err, req)));
          this.#settled();
        },
      );
    } else if (result) {
      this.#reply(req, result);
    }
  }

  /** A promise-answered request was answered: with none left, spin for the next (immediates run after microtasks). */
  #settled(): void {
    if (--this.#pending > 0 || this.#spinScheduled || this.#spinNs === 0n || this.#spinCredit === 0) return;
    this.#spinScheduled = true;
    setImmediate(() => {
      this.#spinScheduled = false;
      if (!this.#ended) this.#drain(true);
    });
  }

  /** A handler's reply, written; a READ's buffer then goes back to the pool it came from. */
  #reply(req: Request, reply: Uint8Array): void {
    this.#write(reply);
    if (req.opcode === Opcode.READ) this.#readReplies.give(reply);
  }

  #call(req: Request): OpResult {
    const handler = opTable[req.opcode];
    if (handler === undefined) return errorReply(req.unique, ENOSYS); // op-table.ts says which and why
    return handler(this.#ops, req, { uid: req.uid, gid: req.gid, pid: req.pid }, req.nodeid as NodeId);
  }

  #errno(err: unknown, req: Request): number {
    return errnoForReply(err, opcodeName[req.opcode] ?? String(req.opcode), `node ${req.nodeid}`);
  }

  /** One reply, one write. ENOENT: the kernel gave up on the request (interrupted); ENODEV: unmounted. */
  #write(buf: Uint8Array): void {
    if (this.#trace) {
      const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
      log.debug(`< ${v.getBigUint64(8, true)} ${v.getInt32(4, true) < 0 ? `error ${-v.getInt32(4, true)}` : `${buf.length} bytes`}`);
    }
    const errno = writeReply(this.devFd, buf);
    if (errno !== 0 && errno !== ENOENT && errno !== ENODEV)
      log.warn(`writing a reply to /dev/fuse failed: ${new FsError(errno, 'write', '/dev/fuse').message}`);
  }

  /**
   * FUSE_NOTIFY_INVAL_INODE, attributes only, written from the request thread before the reply of
   * the request that changed the file, so the caller's next stat through another name already sees
   * it. Safe here, unlike INVAL_ENTRY (README, Decisions: it takes the parent directory's lock, which
   * the request being answered may hold): with offset -1 the kernel takes only the node's spinlock
   * (fuse_reverse_inval_inode), and the node is another name's kernel inode, not one the request
   * locked. ENOENT (the kernel no longer knows the node) is expected.
   */
  #invalInode(nodeid: number): void {
    this.#write(invalInodeNotice(nodeid));
  }

  // -- INIT -----------------------------------------------------------------------------------------

  #init(req: Request): void {
    const k = decode.init(req.body);
    if (k.major > KERNEL_VERSION) {
      // The kernel proposes a newer major: answer ours alone and it sends INIT again.
      const b = replyBuffer(req.unique, 8);
      const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
      v.setUint32(16, KERNEL_VERSION, true);
      v.setUint32(20, KERNEL_MINOR_VERSION, true);
      this.#write(b);
      return;
    }
    if (k.major < KERNEL_VERSION || k.minor < MIN_MINOR_VERSION) {
      this.#write(errorReply(req.unique, 71 /* EPROTO */));
      this.#readyReject(
        new Error(
          `the kernel speaks FUSE ${k.major}.${k.minor}; layerfs needs 7.${MIN_MINOR_VERSION} or later (use --transport fuse-native)`,
        ),
      );
      return;
    }
    const minor = Math.min(k.minor, KERNEL_MINOR_VERSION);
    let wanted = WANTED_FLAGS;
    // HANDLE_KILLPRIV_V2 spares each write(2) a GETXATTR of security.capability (killpriv.ts: the
    // daemon drops set-id bits itself); under the writeback cache the kernel then writes a file
    // without set-id bits to its page cache with no request at all.
    wanted |= InitFlag.HANDLE_KILLPRIV_V2;
    if (this.opts.passthrough !== 'off') wanted |= InitFlag.PASSTHROUGH;
    if (this.opts.acl === false) wanted &= ~InitFlag.POSIX_ACL;
    // The writeback cache where the daemon serves file data (it and passthrough exclude each
    // other), and only for a filesystem nothing else changes: the kernel then trusts its own size
    // and mtime, which a change behind the mount would never reach. Writes reach the daemon in
    // page-cache-sized batches instead of one request per write(2), and pages written stay cached
    // for the reads that follow.
    if (this.opts.passthrough === 'off' && this.fs.exclusive === true && this.opts.cache !== 'none' && this.opts.writeback !== false)
      wanted |= InitFlag.WRITEBACK_CACHE;
    const flags = k.flags & wanted;
    const maxPages = Math.min(256, Math.ceil(this.opts.maxWrite / 4096));
    this.#write(
      initReply(req.unique, {
        major: KERNEL_VERSION,
        minor,
        maxReadahead: k.maxReadahead,
        flags,
        maxBackground: 64,
        congestionThreshold: 48,
        maxWrite: this.opts.maxWrite,
        timeGran: 1,
        maxPages,
        maxStackDepth: flags & InitFlag.PASSTHROUGH ? this.opts.maxStackDepth : 0,
      }),
    );
    const [passthrough, why] = this.#probePassthrough(flags);
    if (!passthrough && this.opts.passthrough === 'require') {
      this.#readyReject(
        new Error(`kernel passthrough is not available (${why}); mount with -o passthrough=auto to let the daemon serve reads and writes`),
      );
      return;
    }
    this.modes = new PassthroughModes(this.devFd, passthrough);
    this.#ops = new WireOps(
      this.fs,
      this.nodes,
      this.modes,
      {
        ...this.opts,
        cacheDirs: this.fs.exclusive === true,
        dontMask: (flags & InitFlag.DONT_MASK) !== 0n,
        writeback: (flags & InitFlag.WRITEBACK_CACHE) !== 0n,
      },
      (nodeid) => this.#invalInode(nodeid),
      (this.#readReplies = new BufferPool(OUT_HEADER_SIZE + maxPages * 4096, SPARE_READ_REPLIES)),
      (this.#spliceReads = this.#splicer(maxPages * 4096)),
    );
    log.debug(
      `INIT: kernel 7.${k.minor} offered ${flagNames(k.flags)}; granted 7.${minor} ${flagNames(flags)}; passthrough ${passthrough ? 'on' : `off (${why})`}`,
    );
    this.#readyResolve({ minor, flags, passthrough, passthroughWhy: why });
  }

  /**
   * The kernel refuses passthrough silently at INIT and only says so (EPERM) at the first backing
   * registration, so register one file now and close it again.
   */
  #probePassthrough(flags: bigint): [boolean, string] {
    if (this.opts.passthrough === 'off') return [false, 'passthrough=off'];
    if (!(flags & InitFlag.PASSTHROUGH))
      return [false, 'the kernel did not offer FUSE_PASSTHROUGH (needs Linux 6.9+ with CONFIG_FUSE_PASSTHROUGH)'];
    let fd: number | undefined;
    try {
      fd = fs.openSync(process.execPath, 'r');
      backingClose(this.devFd, backingOpen(this.devFd, fd));
      return [true, 'granted'];
    } catch (err) {
      const errno = errnoOf(err);
      if (errno === 40 /* ELOOP */) return [true, 'granted (the probe file sits on a stacked filesystem)'];
      return [false, `backing registration failed: ${(err as Error).message}${errno === 1 ? ' (needs CAP_SYS_ADMIN)' : ''}`];
    } finally {
      if (fd !== undefined) fs.closeSync(fd);
    }
  }

  /** After unmount: put every reference the kernel can no longer release. */
  async close(): Promise<void> {
    this.#end();
    this.#ops?.closeAll();
    // The device first: the kernel keeps every backing file registered through it (BACKING_OPEN
    // whose RELEASE never came: a connection aborted by umount drops the requests it had queued)
    // until the last fd of the device closes, and those hold the layers' filesystems busy.
    try {
      fs.closeSync(this.devFd);
    } catch {
      // already closed
    }
    await this.modes?.closeAll();
  }
}

function flagNames(flags: bigint): string {
  return (
    Object.entries(InitFlag)
      .filter(([, bit]) => flags & bit)
      .map(([name]) => name)
      .join(',') || 'none'
  );
}
