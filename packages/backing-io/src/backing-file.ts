// Models fs/backing-file.c: backing_file_open() and the lifetime of the backing struct file.
//
// A BackingFile owns one host fd. Its lifetime is a reference count, not the FUSE release: the opener
// holds one reference, every in-flight read/write holds one (taken when the request is built, dropped
// when its completion has finished every use of the fd), and the fd is closed at the last put. This is
// the fix the overlayfs AIO use-after-free needed: without it a release that races a completion closes
// the fd, a new open gets the same number, and the late completion reads or writes *another file*.
import { constants as fsConstants } from 'node:fs';
import * as path from 'node:path';
import { FsError } from './errors';
import { BackingIoOps, nodeIoOps } from './backing-io-ops';
import { checkNotStacked } from './own-mounts';
import { IocbFlagSet, iocbFlagsFromOpenFlags } from './kiocb';
import { O_ACCMODE, O_TMPFILE } from './syscalls';

/** Who asked for the open, as far as the transport knows. */
export interface Cred {
  uid?: number;
  gid?: number;
  pid?: number;
}

/**
 * Open flags the backing open must not see. O_SYNC/O_DSYNC are carried per request instead (the
 * Kiocb's SYNC/DSYNC), so durability is decided in one place; O_CREAT/O_EXCL/O_TRUNC/O_NOCTTY were
 * already acted on by the create/open that came before.
 */
const BACKING_OPEN_STRIP =
  fsConstants.O_SYNC | fsConstants.O_DSYNC | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_TRUNC | fsConstants.O_NOCTTY;

export interface BackingFileOpenOptions {
  /** Where `realPath` stands in the filesystem the user sees (for errors and hooks). */
  userPath: string;
  /** open(2) flags of the user's open; O_APPEND is kept so the host kernel appends atomically. */
  flags: number;
  /** The host file that holds the bytes. */
  realPath: string;
  cred?: Cred;
  /** Extra flags for the host open only (O_CREAT|O_EXCL for a create). */
  createFlags?: number;
  mode?: number;
  io?: BackingIoOps;
  /**
   * How the open(2) itself is issued (default `io.open`, asynchronous). A filesystem that answers
   * metadata synchronously passes its BackingMeta's open: then so does backingFileOpen().
   */
  openFile?: (path: string, flags: number, mode: number) => number | Promise<number>;
}

export class BackingFile {
  readonly userPath: string;
  readonly realPath: string;
  /** The user's open flags, unfiltered. */
  readonly flags: number;
  /** Request flags every I/O on this file starts from (APPEND, SYNC, DSYNC, DIRECT). */
  readonly iocbFlags: IocbFlagSet;
  readonly cred: Cred;
  readonly io: BackingIoOps;

  // Invariant: #fd is a live host fd while #refs > 0; after the last put it is closed and never used.
  #fd: number;
  #refs = 1;
  #closed: Promise<void> | undefined;

  /**
   * Use backingFileOpen(); this is for wrapping an fd that is already open. `realPath` and `io`
   * stand in for the options' own (backingFileOpen passes the resolved path without copying `opts`).
   */
  constructor(
    fd: number,
    opts: Omit<BackingFileOpenOptions, 'createFlags' | 'mode'>,
    realPath: string = opts.realPath,
    io: BackingIoOps = opts.io ?? nodeIoOps,
  ) {
    this.#fd = fd;
    this.userPath = opts.userPath;
    this.realPath = realPath;
    this.flags = opts.flags;
    this.iocbFlags = iocbFlagsFromOpenFlags(opts.flags);
    this.cred = opts.cred ?? {};
    this.io = io;
  }

  /** The host fd. Only valid for a holder of a reference. */
  get fd(): number {
    if (this.#refs <= 0) throw new FsError('EBADF', 'backing file', this.userPath, 'backing file used after its last reference was put');
    return this.#fd;
  }

  get refs(): number {
    return this.#refs;
  }

  get isClosed(): boolean {
    return this.#refs <= 0;
  }

  /** Take a reference. Fails if the file is already gone: a caller racing the last put has a bug. */
  get(): this {
    if (this.#refs <= 0) throw new FsError('EBADF', 'backing file', this.userPath, 'reference taken on a closed backing file');
    this.#refs++;
    return this;
  }

  /**
   * Drop a reference; the last one closes the fd. A promise only while that close is still running
   * (a file opened for writing closes on the threadpool); undefined when there is nothing to wait
   * for (not the last reference, or a read-only fd closed at once), so a release can be answered
   * without a promise round. A failed close is a rejection, never a throw.
   */
  put(): Promise<void> | undefined {
    if (this.#refs <= 0) throw new Error(`backing file ${this.userPath}: reference put more than taken`);
    if (--this.#refs > 0) return undefined;
    let closing: Promise<void> | void;
    try {
      closing = this.io.close(this.#fd, (this.flags & O_ACCMODE) === fsConstants.O_RDONLY);
    } catch (err) {
      closing = Promise.reject(err);
    }
    this.#closed = closing ?? Promise.resolve();
    return closing ?? undefined;
  }

  /** Resolves when the fd has been closed (after the last put). */
  whenClosed(): Promise<void> | undefined {
    return this.#closed;
  }
}

/**
 * backing_file_open(): open the host file behind a user-visible file. Synchronous when
 * `opts.openFile` is (so a filesystem that answers metadata in the request thread adds no hop).
 */
export function backingFileOpen(opts: BackingFileOpenOptions): BackingFile | Promise<BackingFile> {
  try {
    return openBacking(opts);
  } catch (err) {
    // An asynchronous open reports every failure as a rejection, never as a throw.
    if (!opts.openFile) return Promise.reject(err);
    throw err;
  }
}

/** The last component of an O_TMPFILE's realPath: it has no name of its own. */
export const TMPFILE_NAME = '(tmpfile)';

/**
 * An O_TMPFILE in host directory `dir`: a backing file without a name until syscalls.linkFd gives
 * it one. Its realPath is `dir/(tmpfile)`, the directory it would be named in, so callers that ask
 * where a backing file lives (which layer) get the right answer. O_EXCL in `flags` keeps it unlinkable.
 */
export function backingTmpfileOpen(
  opts: Omit<BackingFileOpenOptions, 'realPath' | 'createFlags'> & { dir: string },
): BackingFile | Promise<BackingFile> {
  const { dir, ...rest } = opts;
  const open = opts.openFile ?? (opts.io ?? nodeIoOps).open;
  return backingFileOpen({
    ...rest,
    realPath: path.join(dir, TMPFILE_NAME),
    flags: opts.flags & ~O_TMPFILE,
    createFlags: O_TMPFILE | (opts.flags & fsConstants.O_EXCL),
    openFile: (_tmpfile, flags, mode) => open(dir, flags, mode),
  });
}

function openBacking(opts: BackingFileOpenOptions): BackingFile | Promise<BackingFile> {
  const realPath = isNormalAbsolute(opts.realPath) ? opts.realPath : path.resolve(opts.realPath);
  checkNotStacked(realPath, 'open', true);
  const io = opts.io ?? nodeIoOps;
  const hostFlags = (opts.flags & ~BACKING_OPEN_STRIP) | (opts.createFlags ?? 0);
  // libuv (and Node's openSync) add O_CLOEXEC to every open: a forked helper never inherits backing fds.
  const fd = (opts.openFile ?? io.open)(realPath, hostFlags, opts.mode ?? 0o666);
  if (typeof fd === 'number') return new BackingFile(fd, opts, realPath, io);
  return fd.then((n) => new BackingFile(n, opts, realPath, io));
}

/**
 * Whether path.resolve() would give `p` back unchanged: absolute, no empty, "." or ".." component,
 * no trailing slash. Every open asks, and filesystems pass paths they built from clean parts. A
 * name that only starts with a dot (".bin", ".gitignore": thousands in a node_modules tree) is
 * normal; path.resolve, interpreted in a fresh daemon, cost microseconds per such open.
 */
function isNormalAbsolute(p: string): boolean {
  if (!p.startsWith('/')) return false;
  if (p.length === 1) return true;
  if (p.endsWith('/') || p.includes('//')) return false;
  for (let i = p.indexOf('/.'); i >= 0; i = p.indexOf('/.', i + 2)) {
    const next = p.charCodeAt(i + 2); // NaN past the end
    if (Number.isNaN(next) || next === SLASH) return false; // a "." component
    if (next === DOT && (i + 3 === p.length || p.charCodeAt(i + 3) === SLASH)) return false; // ".."
  }
  return true;
}

const SLASH = 0x2f;
const DOT = 0x2e;
