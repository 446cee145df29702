// The fuse-native transport: NodeHandlers served through libfuse 2's high-level API. The only file in
// layerfs that touches fuse-native.
//
// We subclass fuse-native's Fuse and replace every `_op_*` method, because its own adapters lose
// information on the way (fgetattr calls getattr without the handle, getxattr/listxattr ignore the
// caller's buffer size, uid_t -1 arrives as 4294967295). Each request is answered exactly once
// through reply(): positive errno inside, negated here and nowhere else; a handler that throws
// something without an errno answers EIO and is logged as a bug.
//
// fuse-native's own per-op timer is switched off: when it fires it answers for us and detaches the
// read/write buffer that a threadpool read may still be filling. Long operations are made safe by
// doing them asynchronously, never by answering early.
import Fuse from 'fuse-native';
import nodeGypBuild from 'node-gyp-build';
import * as path from 'node:path';
import { constants as fsConstants } from 'node:fs';
import { FsError, nameFromBytes, nameListBytes, nameToBytes, thenMaybe } from '@layerfs/backing-io';
import type { Entry, Fh, NodeHandlers, NodeId, OpenReply, Reply, RequestContext, SetattrTimes } from '../handler';
import { PathCache } from './path-cache';
import { STAT_SLOTS, decodeTimespec, encodeDirEntry, encodeStat, encodeStatfs, joinU64, msToNs } from './codec';
import { errnoForReply } from '../errno';
import { createLogger } from '../logger';

const log = createLogger('fuse-native');

/** The stock binding gives no caller context: the fields stay undefined. */
const NO_CTX: RequestContext = Object.freeze({});
const ERANGE = 34;
const ETIMEDOUT = 110;
/** op_timeout in ms; one per process, like fuse-native's own timer. */
let opTimeoutMs = 0;
const UNCHANGED_ID = 0xffff_ffff;

type Signal = (res: number, ...rest: unknown[]) => void;

function isPromise<T>(v: Reply<T>): v is Promise<T> {
  return typeof (v as Promise<T> | undefined)?.then === 'function';
}

/**
 * Run one handler and answer its request exactly once. `encode` turns the result into fuse-native's
 * signal arguments (result slot first); a synchronous result is answered without awaiting anything.
 * `failRest` are the arguments an error answer still needs (the buffer fuse-native detaches).
 */
function serve<T>(
  op: string,
  path: string,
  signal: Signal,
  run: () => Reply<T>,
  encode: (v: T) => unknown[],
  failRest: unknown[] = [],
): void {
  let answered = false;
  let timer: NodeJS.Timeout | undefined;
  const answer = (args: unknown[]) => {
    if (answered) {
      if (timer === undefined) log.warn(`bug: ${op} ${path} answered twice; the second answer was dropped`);
      return;
    }
    answered = true;
    if (timer) clearTimeout(timer);
    signal(...(args as [number, ...unknown[]]));
  };
  if (opTimeoutMs > 0 && op !== 'read' && op !== 'write') {
    timer = setTimeout(() => {
      log.warn(`${op} ${path} took longer than op_timeout; answered ETIMEDOUT (the operation itself goes on)`);
      answer([-ETIMEDOUT, ...failRest]);
    }, opTimeoutMs);
  }
  const fail = (err: unknown) => answer([-errnoForReply(err, op, path), ...failRest]);
  const succeed = (v: T) => {
    let args: unknown[];
    try {
      args = encode(v);
    } catch (err) {
      fail(err);
      return;
    }
    answer(args);
  };
  let result: Reply<T>;
  try {
    result = run();
  } catch (err) {
    fail(err);
    return;
  }
  if (isPromise(result)) result.then(succeed, fail);
  else succeed(result);
}

const done = (): unknown[] => [0];

/**
 * libfuse 2 keeps a file that is unlinked while open reachable by renaming it to .fuse_hiddenNNNNNNNN
 * in its directory and unlinking that name at the last close (its hard_remove alternative serves such
 * a file with no path at all, and fstat then fails ENOENT, because the kernel asks by node, not by
 * handle). Done in the filesystem, that rename would leave the stand-in in the backing directory,
 * where it keeps the directory from being removed (rmdir: ENOTEMPTY where POSIX allows it) and shows
 * to anyone looking there. The handlers serve an open node that has no name, so the transport does it
 * the kernel's way: the name is unlinked for real, and the stand-in names the node in the path cache
 * only, until libfuse unlinks it.
 */
const FUSE_HIDDEN = /^\.fuse_hidden[0-9a-f]{16}$/;
const isFuseHidden = (path: string) => {
  const name = path.slice(path.lastIndexOf('/') + 1);
  return name.startsWith('.fuse_hidden') && FUSE_HIDDEN.test(name);
};

/** getxattr/listxattr semantics: a zero-size buffer asks for the size; one too small is ERANGE. */
function intoCallerBuffer(data: Buffer, out: Buffer): unknown[] {
  if (out.length === 0) return [data.length, out.buffer];
  if (data.length > out.length) return [-ERANGE, out.buffer];
  data.copy(out);
  return [data.length, out.buffer];
}

/** chown's "leave unchanged" arrives as (uid_t)-1 through a uint32. */
const idArg = (id: number) => (id === UNCHANGED_ID ? -1 : id);

export interface FuseNativeOptions {
  /** libfuse -o options, already resolved (see options.ts). */
  fuseOptions: string[];
  debug?: boolean;
  /** See BridgeOptions.opTimeout; seconds, 0 = never. */
  opTimeout?: number;
  /** How long a resolved path is trusted, seconds (the kernel's entry_timeout). */
  entryTimeout: number;
}

/** Dentries the path cache keeps (each holds one node of the filesystem). */
const PATH_CACHE_MAX = 20000;

let bytesBinding: boolean | undefined;
/** Whether the loaded binding passes names as bytes (Latin-1 strings): the patched one, version 6 on. */
function namesAsBytes(): boolean {
  return (bytesBinding ??= (fuseNativeBinding().layerfs_patch ?? 0) >= 6);
}

/** Latin-1 characters above ASCII: where a binding string's bytes differ from its UTF-16. */
const HIGH_LATIN1 = /[\u0080-\u00ff]/;

/** A path or name from the binding (its bytes as a Latin-1 string): ASCII, the usual case, as it is. */
function fromBinding(s: string): string {
  return HIGH_LATIN1.test(s) ? nameFromBytes(Buffer.from(s, 'latin1')) : s;
}

/** Anything beyond ASCII, whose UTF-8 is not its UTF-16. */
const NON_ASCII = /[\u0080-\uffff]/;

/** A name or link target as the binding takes it back: its bytes as a Latin-1 string where it speaks bytes. */
function toBinding(name: string): string {
  return namesAsBytes() && NON_ASCII.test(name) ? nameToBytes(name).toString('latin1') : name;
}

export class FuseNativeTransport extends Fuse {
  readonly #h: NodeHandlers;
  readonly #fuseOptions: string[];
  readonly #paths: PathCache;
  /** Open file handles → the node each was opened on. */
  readonly #opened = new Map<number, NodeId>();

  constructor(mountpoint: string, handlers: NodeHandlers, opts: FuseNativeOptions) {
    super(mountpoint, implementedOps(handlers), { timeout: false, debug: opts.debug ?? false });
    this.#h = handlers;
    this.#paths = new PathCache(handlers, { ttlMs: opts.entryTimeout * 1000, max: PATH_CACHE_MAX });
    this.#fuseOptions = opts.fuseOptions;
    opTimeoutMs = (opts.opTimeout ?? 0) * 1000;
    if (fuseNativeBinding().layerfs_patch === undefined) {
      log.warnOnce(
        'stock-binding',
        'the stock fuse-native binding is loaded: utimens loses mtime, create loses its ' +
          'open flags, inodes are 32-bit. Run `npm run setup` to build the patched binding.',
      );
    }
  }

  /** Whether the layerfs-patched binding is loaded (see native/patch-fuse-native.js). */
  static get patched(): boolean {
    return fuseNativeBinding().layerfs_patch !== undefined;
  }

  /**
   * The patched binding (version 6 on) hands every path, name and link target over as a Latin-1
   * string, one character per byte, and takes readdir's names and readlink's target back the same
   * way: every string argument becomes a name here (host-names.ts), whatever its bytes. The stock
   * binding speaks UTF-8, which cannot carry a byte that is not UTF-8 (such a name arrives as
   * U+FFFD and is not found).
   */
  protected override _makeHandlerArray(): Array<((...args: unknown[]) => unknown) | undefined> {
    const handlers = super._makeHandlerArray();
    if (!namesAsBytes()) return handlers;
    return handlers.map((h) => h && ((...args: unknown[]) => h(...args.map((a) => (typeof a === 'string' ? fromBinding(a) : a)))));
  }

  protected override _fuseOptions(): string {
    return this.#fuseOptions.length ? `-o${this.#fuseOptions.join(',')}` : '';
  }

  /**
   * fuse-native's own close shells out to `fusermount -uz` and, when that binary is missing (it is
   * not part of libfuse2), never releases its loop handle, so the process cannot exit. The unmount
   * itself is done by mount.ts (umount2 as root); here we only release the native side.
   */
  protected override _close(cb: (err: Error | null) => void): void {
    try {
      fuseNativeBinding().fuse_native_unmount(this.mnt, this._thread);
    } catch (err) {
      cb(err as Error);
      return;
    }
    cb(null);
  }

  // Each _op_* below has fuse-native's calling convention: (signal, ...args from the C side). The
  // path becomes a node first (path-cache.ts); an operation on an open handle uses the node the
  // handle was opened on.

  /** Run `op` on the node at `path`. */
  #at<T>(ctx: RequestContext, path: string, op: (node: NodeId) => Reply<T>): Reply<T> {
    return thenMaybe(this.#paths.resolve(ctx, path), op);
  }

  /** Run `op` on the directory holding `path` and its last component. */
  #in<T>(ctx: RequestContext, path: string, op: (parent: NodeId, name: string) => Reply<T>): Reply<T> {
    return thenMaybe(this.#paths.resolveParent(ctx, path), ({ parent, name }) => op(parent, name));
  }

  /** A create-like operation: its entry joins the path cache. */
  #made(ctx: RequestContext, path: string, op: (parent: NodeId, name: string) => Reply<Entry>): Reply<void> {
    return this.#in(ctx, path, (parent, name) => thenMaybe(op(parent, name), (e) => this.#paths.entered(parent, path, e)));
  }

  /** The node an open handle was opened on (libfuse hands its path along; the handle is the identity). */
  #ofHandle(ctx: RequestContext, path: string, fh: number): Reply<NodeId> {
    return this.#opened.get(fh) ?? this.#paths.resolve(ctx, path);
  }

  #opening(node: NodeId, r: OpenReply): OpenReply {
    this.#paths.pin(node);
    this.#opened.set(r.fh, node);
    return r;
  }

  _op_getattr(signal: Signal, path: string): void {
    const ctx = caller();
    serve(
      'getattr',
      path,
      signal,
      () => this.#at(ctx, path, (n) => this.#h.getattr(ctx, n)),
      (a) => [0, encodeStat(a)],
      [emptyStat()],
    );
  }

  _op_fgetattr(signal: Signal, path: string, fh: number): void {
    const ctx = caller();
    serve(
      'fgetattr',
      path,
      signal,
      () => thenMaybe(this.#ofHandle(ctx, path, fh), (n) => this.#h.getattr(ctx, n, fh ? (fh as Fh) : undefined)),
      (a) => [0, encodeStat(a)],
      [emptyStat()],
    );
  }

  _op_access(signal: Signal, path: string, mask: number): void {
    const ctx = caller();
    const h = this.#h;
    serve('access', path, signal, () => this.#at(ctx, path, (n) => h.access?.(ctx, n, mask)), done);
  }

  _op_statfs(signal: Signal, path: string): void {
    const ctx = caller();
    serve(
      'statfs',
      path,
      signal,
      () => this.#at(ctx, path, (n) => this.#h.statfs(ctx, n)),
      (s) => [0, encodeStatfs(s)],
    );
  }

  _op_opendir(signal: Signal, path: string, _fh: number, flags: number): void {
    const ctx = caller();
    const h = this.#h;
    serve(
      'opendir',
      path,
      signal,
      () => this.#at(ctx, path, (n) => h.opendir?.(ctx, n, flags) ?? (0 as Fh)),
      (fh) => [0, fh],
    );
  }

  _op_readdir(signal: Signal, path: string, fh: number): void {
    const ctx = caller();
    // libfuse 2's filler reads only st_ino and the type bits of each entry's stat, so d_ino equals
    // the st_ino that getattr reports (use_ino) without a stat per entry.
    serve(
      'readdir',
      path,
      signal,
      () => this.#at(ctx, path, (n) => this.#h.readdir(ctx, n, fh ? (fh as Fh) : undefined)),
      (entries) => [0, entries.map((e) => toBinding(e.name)), entries.map(encodeDirEntry)],
    );
  }

  _op_releasedir(signal: Signal, path: string, fh: number): void {
    const ctx = caller();
    const h = this.#h;
    serve(
      'releasedir',
      path,
      signal,
      () => (fh && h.releasedir ? this.#at(ctx, path, (n) => h.releasedir!(ctx, n, fh as Fh)) : undefined),
      done,
    );
  }

  _op_fsyncdir(signal: Signal, path: string, datasync: number, fh: number): void {
    const ctx = caller();
    const h = this.#h;
    serve(
      'fsyncdir',
      path,
      signal,
      () => this.#at(ctx, path, (n) => h.fsyncdir?.(ctx, n, datasync !== 0, fh ? (fh as Fh) : undefined)),
      done,
    );
  }

  _op_open(signal: Signal, path: string, flags: number): void {
    const ctx = caller();
    serve(
      'open',
      path,
      signal,
      () => this.#at(ctx, path, (n) => thenMaybe(this.#h.open(ctx, n, flags), (r) => this.#opening(n, r))),
      (r) => [0, r.fh],
    );
  }

  _op_create(signal: Signal, path: string, mode: number, flags?: number): void {
    const ctx = caller();
    // The patched binding passes the open flags; the stock one does not, and a create is then served
    // as O_RDWR (O_APPEND on a creating open only takes effect at the next open).
    if (flags === undefined) flags = fsConstants.O_RDWR | fsConstants.O_CREAT;
    const f = flags;
    serve(
      'create',
      path,
      signal,
      () =>
        this.#in(ctx, path, (parent, name) =>
          thenMaybe(this.#h.create(ctx, parent, name, mode, f), (c) => {
            this.#paths.entered(parent, path, c.entry);
            return this.#opening(c.entry.node, c.open);
          }),
        ),
      (r) => [0, r.fh],
    );
  }

  _op_read(signal: Signal, path: string, fh: number, buf: Buffer, len: number, offLow: number, offHigh: number): void {
    const ctx = caller();
    // `buf` is libfuse's own memory, valid until we answer; the handler reads straight into it.
    const target = buf.length === len ? buf : buf.subarray(0, len);
    serve(
      'read',
      path,
      signal,
      () => thenMaybe(this.#ofHandle(ctx, path, fh), (n) => this.#h.read(ctx, n, fh as Fh, target, joinU64(offLow, offHigh))),
      (n) => [n, 0, buf.buffer],
      [0, buf.buffer],
    );
  }

  _op_write(signal: Signal, path: string, fh: number, buf: Buffer, len: number, offLow: number, offHigh: number): void {
    const ctx = caller();
    const data = buf.length === len ? buf : buf.subarray(0, len);
    serve(
      'write',
      path,
      signal,
      () => thenMaybe(this.#ofHandle(ctx, path, fh), (n) => this.#h.write(ctx, n, fh as Fh, data, joinU64(offLow, offHigh))),
      (n) => [n, 0, buf.buffer],
      [0, buf.buffer],
    );
  }

  _op_flush(signal: Signal, path: string, fh: number): void {
    const ctx = caller();
    const h = this.#h;
    serve(
      'flush',
      path,
      signal,
      () => (h.flush ? thenMaybe(this.#ofHandle(ctx, path, fh), (n) => h.flush!(ctx, n, fh as Fh)) : undefined),
      done,
    );
  }

  _op_release(signal: Signal, path: string, fh: number): void {
    const ctx = caller();
    const node = this.#opened.get(fh);
    if (node === undefined) {
      serve(
        'release',
        path,
        signal,
        () => {
          throw new FsError('EBADF', 'release', path);
        },
        done,
      );
      return;
    }
    this.#opened.delete(fh);
    serve(
      'release',
      path,
      signal,
      () => {
        try {
          return thenMaybe(this.#h.release(ctx, node, fh as Fh), () => this.#paths.unpin(node));
        } catch (err) {
          this.#paths.unpin(node);
          throw err;
        }
      },
      done,
    );
  }

  _op_fsync(signal: Signal, path: string, datasync: number, fh: number): void {
    const ctx = caller();
    const h = this.#h;
    serve(
      'fsync',
      path,
      signal,
      () => thenMaybe(this.#ofHandle(ctx, path, fh), (n) => h.fsync?.(ctx, n, datasync !== 0, fh ? (fh as Fh) : undefined)),
      done,
    );
  }

  _op_truncate(signal: Signal, path: string, low: number, high: number): void {
    const ctx = caller();
    serve('truncate', path, signal, () => this.#at(ctx, path, (n) => this.#h.truncate(ctx, n, joinU64(low, high))), done);
  }

  _op_ftruncate(signal: Signal, path: string, fh: number, low: number, high: number): void {
    const ctx = caller();
    serve(
      'ftruncate',
      path,
      signal,
      () => thenMaybe(this.#ofHandle(ctx, path, fh), (n) => this.#h.truncate(ctx, n, joinU64(low, high), fh as Fh)),
      done,
    );
  }

  _op_chmod(signal: Signal, path: string, mode: number): void {
    const ctx = caller();
    serve('chmod', path, signal, () => this.#at(ctx, path, (n) => this.#h.chmod(ctx, n, mode)), done);
  }

  _op_chown(signal: Signal, path: string, uid: number, gid: number): void {
    const ctx = caller();
    serve('chown', path, signal, () => this.#at(ctx, path, (n) => this.#h.chown(ctx, n, idArg(uid), idArg(gid))), done);
  }

  _op_utimens(signal: Signal, path: string, ...t: number[]): void {
    const ctx = caller();
    // Patched binding: (atime sec low, high, nsec, mtime sec low, high, nsec). Stock fuse-native
    // 2.2.6 sends atime twice in milliseconds: mtime is lost and UTIME_NOW/OMIT arrive as garbage.
    const times: SetattrTimes =
      t.length >= 6
        ? { atime: decodeTimespec(t[0]!, t[1]!, t[2]!), mtime: decodeTimespec(t[3]!, t[4]!, t[5]!) }
        : { atime: msToNs(joinU64(t[0]!, t[1]!)), mtime: msToNs(joinU64(t[2]!, t[3]!)) };
    serve('utimens', path, signal, () => this.#at(ctx, path, (n) => this.#h.utimens(ctx, n, times)), done);
  }

  _op_readlink(signal: Signal, path: string): void {
    const ctx = caller();
    serve(
      'readlink',
      path,
      signal,
      () => this.#at(ctx, path, (n) => this.#h.readlink(ctx, n)),
      (target) => [0, toBinding(target)],
    );
  }

  _op_symlink(signal: Signal, target: string, path: string): void {
    const ctx = caller();
    serve('symlink', path, signal, () => this.#made(ctx, path, (parent, name) => this.#h.symlink(ctx, parent, name, target)), done);
  }

  _op_mknod(signal: Signal, path: string, mode: number, rdev: number): void {
    const ctx = caller();
    serve('mknod', path, signal, () => this.#made(ctx, path, (parent, name) => this.#h.mknod(ctx, parent, name, mode, rdev)), done);
  }

  _op_mkdir(signal: Signal, path: string, mode: number): void {
    const ctx = caller();
    serve('mkdir', path, signal, () => this.#made(ctx, path, (parent, name) => this.#h.mkdir(ctx, parent, name, mode)), done);
  }

  _op_unlink(signal: Signal, path: string): void {
    const ctx = caller();
    serve(
      'unlink',
      path,
      signal,
      () =>
        isFuseHidden(path) && this.#paths.unhide(path)
          ? undefined
          : this.#in(ctx, path, (parent, name) => thenMaybe(this.#h.unlink(ctx, parent, name), () => this.#paths.removed(path))),
      done,
    );
  }

  _op_rmdir(signal: Signal, path: string): void {
    const ctx = caller();
    serve(
      'rmdir',
      path,
      signal,
      () => this.#in(ctx, path, (parent, name) => thenMaybe(this.#h.rmdir(ctx, parent, name), () => this.#paths.removed(path))),
      done,
    );
  }

  _op_rename(signal: Signal, from: string, to: string): void {
    const ctx = caller();
    if (isFuseHidden(to)) {
      serve('rename', from, signal, () => this.#hide(ctx, from, to), done);
      return;
    }
    serve(
      'rename',
      from,
      signal,
      () =>
        this.#in(ctx, from, (parent, name) =>
          this.#in(ctx, to, (newParent, newName) =>
            thenMaybe(this.#h.rename(ctx, parent, name, newParent, newName, 0), () => this.#paths.renamed(from, to)),
          ),
        ),
      done,
    );
  }

  /** libfuse hides the open file at `from` as `to` (see FUSE_HIDDEN): unlinked, named by the cache alone. */
  #hide(ctx: RequestContext, from: string, to: string): Reply<void> {
    return thenMaybe(this.#paths.resolve(ctx, from), () =>
      this.#in(ctx, from, (parent, name) => thenMaybe(this.#h.unlink(ctx, parent, name), () => this.#paths.hidden(from, to))),
    );
  }

  _op_link(signal: Signal, existing: string, newPath: string): void {
    const ctx = caller();
    serve(
      'link',
      newPath,
      signal,
      () => this.#at(ctx, existing, (node) => this.#made(ctx, newPath, (parent, name) => this.#h.link(ctx, node, parent, name))),
      done,
    );
  }

  _op_setxattr(signal: Signal, path: string, name: string, value: Buffer, _position: number, flags: number): void {
    const ctx = caller();
    const h = this.#h;
    // `value` is libfuse's memory, valid until we answer: copy it if a handler keeps it longer.
    serve(
      'setxattr',
      path,
      signal,
      () => this.#at(ctx, path, (n) => h.setxattr!(ctx, n, name, value, flags)),
      () => [0, value.buffer],
      [value.buffer],
    );
  }

  _op_getxattr(signal: Signal, path: string, name: string, out: Buffer): void {
    const ctx = caller();
    const h = this.#h;
    serve(
      'getxattr',
      path,
      signal,
      () => this.#at(ctx, path, (n) => h.getxattr!(ctx, n, name)),
      (value) => {
        if (value === undefined) throw new FsError('ENODATA', 'getxattr', path);
        return intoCallerBuffer(value, out);
      },
      [out.buffer],
    );
  }

  _op_listxattr(signal: Signal, path: string, out: Buffer): void {
    const ctx = caller();
    const h = this.#h;
    serve(
      'listxattr',
      path,
      signal,
      () => this.#at(ctx, path, (n) => h.listxattr!(ctx, n)),
      (names) => intoCallerBuffer(nameListBytes(names), out),
      [out.buffer],
    );
  }

  _op_removexattr(signal: Signal, path: string, name: string): void {
    const ctx = caller();
    const h = this.#h;
    serve('removexattr', path, signal, () => this.#at(ctx, path, (n) => h.removexattr!(ctx, n, name)), done);
  }
}

/** fuse-native registers a libfuse operation only when `ops[name]` is truthy. */
function implementedOps(h: NodeHandlers): Record<string, true> {
  const ops: Record<string, true> = {
    getattr: true,
    fgetattr: true,
    statfs: true,
    readdir: true,
    open: true,
    create: true,
    read: true,
    write: true,
    release: true,
    truncate: true,
    ftruncate: true,
    chmod: true,
    chown: true,
    utimens: true,
    readlink: true,
    symlink: true,
    mknod: true,
    mkdir: true,
    unlink: true,
    rmdir: true,
    rename: true,
    link: true,
  };
  const optional = [
    'access',
    'opendir',
    'releasedir',
    'fsyncdir',
    'flush',
    'fsync',
    'setxattr',
    'getxattr',
    'listxattr',
    'removexattr',
  ] as const;
  for (const name of optional) if (h[name]) ops[name] = true;
  return ops;
}

interface FuseNativeBinding {
  fuse_native_unmount(mnt: string, thread: Buffer | null): void;
  /** Present only in the layerfs-patched build. */
  layerfs_patch?: number;
  /** Patched build: uid, gid, pid, umask of the request being dispatched (see patch-fuse-native.js). */
  layerfs_caller_buffer?(): ArrayBuffer;
}

let callerView: Uint32Array | null | undefined;

/**
 * Who sent the request being dispatched. Read synchronously at the start of a request: the patched
 * binding writes the array just before it calls into JavaScript, one request at a time.
 */
function caller(): RequestContext {
  if (callerView === undefined) {
    const b = fuseNativeBinding();
    callerView = b.layerfs_caller_buffer ? new Uint32Array(b.layerfs_caller_buffer()) : null;
  }
  if (callerView === null) return NO_CTX;
  return { uid: callerView[0], gid: callerView[1], pid: callerView[2], umask: callerView[3] };
}

/** The stat an error answer still carries (fuse-native reads it before libfuse drops it). */
const emptyStat = () => new Uint32Array(STAT_SLOTS);

let binding: FuseNativeBinding | undefined;
/** The same native module instance fuse-native loaded (node-gyp-build caches by path). */
function fuseNativeBinding(): FuseNativeBinding {
  binding ??= nodeGypBuild(path.dirname(require.resolve('fuse-native/package.json'))) as FuseNativeBinding;
  return binding;
}
