// A typed policy hook for programs that embed a filesystem: per request, with the caller's
// credentials and the path of what it names, allow or deny; rewrite the attributes shown; and decide
// per open whether the kernel's passthrough carries the data (the default: nothing of the bytes
// reaches JavaScript) or the daemon serves it, so the program sees (and may refuse or replace) every
// read and write of that open — for audit logs, quotas, transforms.
//
// A hook that throws an FsError (or returns an errno name) denies with that errno; one that throws
// anything else is a bug in the hook: the request answers EIO, the error is logged, and the mount
// keeps serving.
//
// Paths are the filesystem's own names for its nodes (`pathOf`), as of the node's last known name:
// a policy keyed on names sees a renamed file under its new name from the rename on.
import { constants } from 'node:os';
import { FsError, O_ACCMODE, thenMaybe, type ErrnoCode } from '@layerfs/backing-io';
import type { Attr } from '../attr';
import type { CreateReply, Entry, Fh, NodeHandlers, NodeId, OpenReply, RequestContext } from '../handler';
import { createLogger } from '../logger';
import { METADATA_CHANGES, wrapHandlers } from './wrap';

const log = createLogger('policy');

export type PolicyOp =
  | 'lookup'
  | 'getattr'
  | 'readdir'
  | 'readlink'
  | 'open'
  | 'create'
  | 'mkdir'
  | 'mknod'
  | 'symlink'
  | 'link'
  | 'unlink'
  | 'rmdir'
  | 'rename'
  | 'chmod'
  | 'chown'
  | 'utimens'
  | 'truncate'
  | 'getxattr'
  | 'listxattr'
  | 'setxattr'
  | 'removexattr';

export interface PolicyRequest {
  readonly op: PolicyOp;
  readonly ctx: RequestContext;
  /** What the request names, as a path inside the mount ('/' is the root; a new name for creates). */
  readonly path: string;
  /** rename and link: the name the file gets. */
  readonly newPath?: string;
  /** open and create: open(2)'s flags. */
  readonly flags?: number;
  /** chmod, create, mkdir, mknod: the mode asked for. */
  readonly mode?: number;
  /** chown: -1 leaves one unchanged. */
  readonly uid?: number;
  readonly gid?: number;
  /** truncate: the new size. */
  readonly size?: number;
  /** xattr operations: the attribute's name (listxattr: none). */
  readonly xattr?: string;
}

/** Allow (nothing, or true) or deny with an errno name ('EACCES', 'EPERM', 'EROFS', …). */
export type PolicyAnswer = void | boolean | string;

export interface DataEvent {
  readonly path: string;
  readonly ctx: RequestContext;
  readonly offset: number;
  /** The bytes read (after the read) or to be written (before the write). Valid during the call only. */
  readonly data: Buffer;
}

export interface FilePolicy {
  /** Every request (but reads and writes, see below): allow, or deny with an errno. */
  check?(req: PolicyRequest): PolicyAnswer | Promise<PolicyAnswer>;
  /** The attributes shown for `path` (lookups, stats, listings, new entries). */
  attr?(path: string, attr: Attr, ctx: RequestContext): Attr;
  /**
   * Per open (after check allowed it): true to have the daemon serve this open's data, so onRead and
   * onWrite see its bytes; false or absent keeps the kernel's passthrough where the transport has it.
   */
  serveData?(req: PolicyRequest): boolean | Promise<boolean>;
  /** A daemon-served read of `path` returned these bytes. */
  onRead?(ev: DataEvent): void;
  /** Before a daemon-served write: deny (throw FsError, e.g. EDQUOT), or return the bytes to write instead (same length). */
  onWrite?(ev: DataEvent): void | Buffer | Promise<void | Buffer>;
}

const S_IFLNK = 0o120000;
const O_TRUNC = 0o1000;

/** The operations that change the tree or a file's metadata (an open changes data when it may write). */
const CHANGING_OPS: ReadonlySet<PolicyOp> = new Set<PolicyOp>(METADATA_CHANGES);

/** True when `req` may change something: a changing operation, or an open for writing or truncating. */
export function changesSomething(req: PolicyRequest): boolean {
  if (CHANGING_OPS.has(req.op)) return true;
  return req.op === 'open' && ((req.flags! & O_ACCMODE) !== 0 || (req.flags! & O_TRUNC) !== 0);
}

// Which operations a policy needs to see: every one with `check`; with `attr` only those that answer
// attributes; with `serveData` only opens and the data of the opens it took. The others are not
// wrapped at all, so a policy costs nothing (not even a path) on requests it does not look at.
const ANSWERS_ATTRS = new Set(['lookup', 'getattr', 'readdir', 'create', 'mkdir', 'mknod', 'symlink', 'link']);
const DATA_OPS = new Set(['read', 'write', 'release']);
function wanted(policy: FilePolicy, op: string): boolean {
  if (DATA_OPS.has(op)) return policy.serveData !== undefined;
  if (policy.check) return true;
  if (op === 'open') return policy.serveData !== undefined;
  if (op === 'create' && policy.serveData) return true;
  return policy.attr !== undefined && ANSWERS_ATTRS.has(op);
}

function join(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

/**
 * `inner` with `policy` consulted on every request. `pathOf` names a node as a path inside the mount
 * (PassthroughFs.pathOf); it is called only while the node is alive.
 */
export function withPolicyHook(inner: NodeHandlers, policy: FilePolicy, pathOf: (node: NodeId) => string): NodeHandlers {
  const served = new Map<Fh, { path: string; ctx: RequestContext }>();

  // A hook's answer: an errno denies; a bug in the hook answers EIO and is logged.
  const guard = <T>(what: string, fn: () => T): T => {
    try {
      return fn();
    } catch (err) {
      throw hookFailure(what, err);
    }
  };
  const allowed = (req: PolicyRequest): void | Promise<void> => {
    if (!policy.check) return;
    const answer = guard(req.op, () => policy.check!(req));
    const verdict = (a: PolicyAnswer) => {
      if (a === undefined || a === true) return;
      const errno = a === false ? 'EACCES' : a;
      if (!(errno in constants.errno)) throw hookFailure(req.op, new Error(`check answered '${errno}', which is not an errno name`));
      throw new FsError(errno as ErrnoCode, req.op, req.path, 'refused by the mount policy');
    };
    return answer instanceof Promise ? answer.then(verdict, (err: unknown) => Promise.reject(hookFailure(req.op, err))) : verdict(answer);
  };
  const shown = (path: string, ctx: RequestContext, a: Attr): Attr => (policy.attr ? guard('attr', () => policy.attr!(path, a, ctx)) : a);
  const entryAt =
    (path: string, ctx: RequestContext) =>
    (e: Entry): Entry => ({ ...e, attr: shown(path, ctx, e.attr) });
  // `req` allowed, then `run`.
  const gated = <T>(req: PolicyRequest, run: () => T | Promise<T>): T | Promise<T> => thenMaybe(allowed(req), run);

  const opened = (req: PolicyRequest, o: OpenReply): OpenReply | Promise<OpenReply> => {
    if (!policy.serveData) return o;
    return thenMaybe(
      guard('serveData', () => policy.serveData!(req)),
      (serve) => {
        if (!serve) return o;
        served.set(o.fh, { path: req.path, ctx: req.ctx });
        return { ...o, backing: undefined, passedThrough: undefined };
      },
    );
  };

  const overrides: Partial<NodeHandlers> = {
    lookup: (ctx, parent, name) => {
      const path = join(pathOf(parent), name);
      return gated({ op: 'lookup', ctx, path }, () => thenMaybe(inner.lookup(ctx, parent, name), (e) => e && entryAt(path, ctx)(e)));
    },
    getattr: (ctx, node, fh) => {
      const path = pathOf(node);
      return gated({ op: 'getattr', ctx, path }, () => thenMaybe(inner.getattr(ctx, node, fh), (a) => shown(path, ctx, a)));
    },
    readdir: (ctx, node, fh) => {
      const path = pathOf(node);
      return gated({ op: 'readdir', ctx, path }, () =>
        thenMaybe(inner.readdir(ctx, node, fh), (list) =>
          policy.attr ? list.map((d) => (d.attr ? { ...d, attr: shown(join(path, d.name), ctx, d.attr) } : d)) : list,
        ),
      );
    },
    readlink: (ctx, node) => gated({ op: 'readlink', ctx, path: pathOf(node) }, () => inner.readlink(ctx, node)),
    open: (ctx, node, flags) => {
      const req: PolicyRequest = { op: 'open', ctx, path: pathOf(node), flags };
      return gated(req, () => thenMaybe(inner.open(ctx, node, flags), (o) => opened(req, o)));
    },
    create: (ctx, parent, name, mode, flags) => {
      const req: PolicyRequest = { op: 'create', ctx, path: join(pathOf(parent), name), mode, flags };
      return gated(req, () =>
        thenMaybe(inner.create(ctx, parent, name, mode, flags), (c: CreateReply) =>
          thenMaybe(opened(req, c.open), (open) => ({ entry: entryAt(req.path, ctx)(c.entry), open })),
        ),
      );
    },
    mkdir: (ctx, parent, name, mode) => {
      const path = join(pathOf(parent), name);
      return gated({ op: 'mkdir', ctx, path, mode }, () => thenMaybe(inner.mkdir(ctx, parent, name, mode), entryAt(path, ctx)));
    },
    mknod: (ctx, parent, name, mode, rdev) => {
      const path = join(pathOf(parent), name);
      return gated({ op: 'mknod', ctx, path, mode }, () => thenMaybe(inner.mknod(ctx, parent, name, mode, rdev), entryAt(path, ctx)));
    },
    symlink: (ctx, parent, name, target) => {
      const path = join(pathOf(parent), name);
      return gated({ op: 'symlink', ctx, path, mode: S_IFLNK | 0o777 }, () =>
        thenMaybe(inner.symlink(ctx, parent, name, target), entryAt(path, ctx)),
      );
    },
    link: (ctx, node, parent, name) => {
      const newPath = join(pathOf(parent), name);
      return gated({ op: 'link', ctx, path: pathOf(node), newPath }, () =>
        thenMaybe(inner.link(ctx, node, parent, name), entryAt(newPath, ctx)),
      );
    },
    unlink: (ctx, parent, name) => gated({ op: 'unlink', ctx, path: join(pathOf(parent), name) }, () => inner.unlink(ctx, parent, name)),
    rmdir: (ctx, parent, name) => gated({ op: 'rmdir', ctx, path: join(pathOf(parent), name) }, () => inner.rmdir(ctx, parent, name)),
    rename: (ctx, parent, name, newParent, newName, flags) =>
      gated({ op: 'rename', ctx, path: join(pathOf(parent), name), newPath: join(pathOf(newParent), newName), flags }, () =>
        inner.rename(ctx, parent, name, newParent, newName, flags),
      ),
    chmod: (ctx, node, mode) => gated({ op: 'chmod', ctx, path: pathOf(node), mode }, () => inner.chmod(ctx, node, mode)),
    chown: (ctx, node, uid, gid) => gated({ op: 'chown', ctx, path: pathOf(node), uid, gid }, () => inner.chown(ctx, node, uid, gid)),
    utimens: (ctx, node, times) => gated({ op: 'utimens', ctx, path: pathOf(node) }, () => inner.utimens(ctx, node, times)),
    truncate: (ctx, node, size, fh) => gated({ op: 'truncate', ctx, path: pathOf(node), size }, () => inner.truncate(ctx, node, size, fh)),
    read: (ctx, node, fh, buf, position) => {
      const s = policy.onRead ? served.get(fh) : undefined;
      if (!s) return inner.read(ctx, node, fh, buf, position);
      return thenMaybe(inner.read(ctx, node, fh, buf, position), (n) => {
        guard('onRead', () => policy.onRead!({ path: s.path, ctx, offset: position, data: buf.subarray(0, n) }));
        return n;
      });
    },
    write: (ctx, node, fh, buf, position) => {
      const s = policy.onWrite ? served.get(fh) : undefined;
      if (!s) return inner.write(ctx, node, fh, buf, position);
      const answer = guard('onWrite', () => policy.onWrite!({ path: s.path, ctx, offset: position, data: buf }));
      return thenMaybe(
        answer instanceof Promise ? answer.catch((err: unknown) => Promise.reject(hookFailure('onWrite', err))) : answer,
        (replaced) => {
          // Only bytes replace the write (a hook written as an arrow may return whatever its body did).
          if (!Buffer.isBuffer(replaced)) return inner.write(ctx, node, fh, buf, position);
          if (replaced.length !== buf.length) throw hookFailure('onWrite', new Error('onWrite must return bytes of the same length'));
          return inner.write(ctx, node, fh, replaced, position);
        },
      );
    },
    release: (ctx, node, fh) => {
      served.delete(fh);
      return inner.release(ctx, node, fh);
    },
  };
  const xattrOp = (op: 'getxattr' | 'setxattr' | 'removexattr') => {
    const fn = inner[op]?.bind(inner) as ((ctx: RequestContext, node: NodeId, name: string, ...a: unknown[]) => unknown) | undefined;
    if (!fn) return;
    (overrides as Record<string, unknown>)[op] = (ctx: RequestContext, node: NodeId, name: string, ...a: unknown[]) =>
      gated({ op, ctx, path: pathOf(node), xattr: name }, () => fn(ctx, node, name, ...a));
  };
  xattrOp('getxattr');
  xattrOp('setxattr');
  xattrOp('removexattr');
  if (inner.listxattr) {
    const list = inner.listxattr.bind(inner);
    overrides.listxattr = (ctx, node) => gated({ op: 'listxattr', ctx, path: pathOf(node) }, () => list(ctx, node));
  }
  for (const op of Object.keys(overrides)) if (!wanted(policy, op)) delete (overrides as Record<string, unknown>)[op];
  return wrapHandlers(inner, overrides);
}

/** What a throwing hook becomes: its own FsError as it is; anything else EIO, logged. */
function hookFailure(what: string, err: unknown): Error {
  if (err instanceof FsError) return err;
  if (
    typeof err === 'object' &&
    err !== null &&
    typeof (err as { code?: unknown }).code === 'string' &&
    /^E[A-Z]+$/.test((err as { code: string }).code)
  )
    return err as Error;
  log.warn(`policy hook ${what} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}; answering EIO`);
  return new FsError('EIO', what, '', 'the mount policy failed');
}
