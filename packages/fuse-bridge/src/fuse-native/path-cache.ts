// Paths → nodes for the fuse-native transport: libfuse 2's high-level API names files by path, the
// handlers by node. This is the one place a path becomes a node: one component at a time, each
// through the filesystem's own lookup, the way the kernel walks a path — so a path never reaches a
// filesystem, and a PATH_MAX-long one costs the filesystem nothing.
//
// The cache mirrors the kernel's dentry tree: a Dentry per name resolved, holding exactly one lookup
// of its node (given back by forget when the dentry goes). Renames and unlinks through the mount move
// and drop dentries as they happen; a dentry older than `ttlMs` is looked up again before use, as the
// kernel revalidates after entry_timeout, so a change behind the mount shows within that time.
//
// Invariants:
// - A dentry with children is never evicted (a child's node may need its parent to be reached again,
//   as the kernel never drops a dentry before its children); the LRU evicts childless ones first.
// - A node with open handles is never forgotten: its forgets are held until the last release
//   (pin/unpin), as the kernel keeps an inode with open files.
// - A hidden dentry (libfuse's .fuse_hidden stand-in) names a node the filesystem no longer has a name
//   for: it never expires and is never evicted (a lookup could not find it again); only libfuse's
//   unlink of the stand-in, or the removal of its directory, drops it.
import type { Entry, NodeHandlers, NodeId, Reply, RequestContext } from '../handler';
import { ROOT_NODE } from '../handler';
import { FsError } from '@layerfs/backing-io';

export class Dentry {
  // Made at the first child: most dentries are files, and an empty Map with its table is ~200 bytes.
  #children: Map<string, Dentry> | undefined = undefined;
  /** libfuse's stand-in name for an open file unlinked through the mount (see PathCache.hidden). */
  hidden = false;
  constructor(
    public node: NodeId,
    public parent: Dentry | null,
    public name: string,
    public validUntil: number,
  ) {}

  get hasChildren(): boolean {
    return this.#children !== undefined;
  }

  child(name: string): Dentry | undefined {
    return this.#children?.get(name);
  }

  setChild(name: string, d: Dentry): void {
    (this.#children ??= new Map()).set(name, d);
  }

  /** Drops `name` if it still names `d`. */
  dropChild(name: string, d: Dentry): void {
    const c = this.#children;
    if (c === undefined || c.get(name) !== d) return;
    c.delete(name);
    if (c.size === 0) this.#children = undefined;
  }

  /** Hands over every child, leaving none. */
  takeChildren(): Iterable<Dentry> {
    const c = this.#children;
    this.#children = undefined;
    return c?.values() ?? [];
  }
}

export interface PathCacheOptions {
  /** How long a resolved name is trusted, ms (the kernel's entry_timeout). */
  ttlMs: number;
  /** Dentries kept at most (childless ones beyond it are dropped, least recently used first). */
  max: number;
}

export class PathCache {
  readonly root: Dentry;
  readonly #fs: NodeHandlers;
  readonly #opts: PathCacheOptions;
  /** Every dentry but the root, least recently used first. */
  readonly #lru = new Set<Dentry>();
  /** Open handles per node, and forgets held back while there are any. */
  readonly #pins = new Map<NodeId, { opens: number; held: number }>();

  constructor(fs: NodeHandlers, opts: PathCacheOptions) {
    this.#fs = fs;
    this.#opts = opts;
    this.root = new Dentry(ROOT_NODE, null, '', Infinity);
  }

  get size(): number {
    return this.#lru.size;
  }

  /** The node at `path` ("/a/b"). */
  resolve(ctx: RequestContext, path: string): Reply<NodeId> {
    const d = this.#walk(ctx, this.root, splitPath(path), 0);
    return d instanceof Promise ? d.then((x) => x.node) : d.node;
  }

  /** The directory node holding `path`'s last component, and that component. */
  resolveParent(ctx: RequestContext, path: string): Reply<{ parent: NodeId; name: string }> {
    const parts = splitPath(path);
    const name = parts.pop() ?? '';
    const d = this.#walk(ctx, this.root, parts, 0);
    return d instanceof Promise ? d.then((x) => ({ parent: x.node, name })) : { parent: d.node, name };
  }

  #walk(ctx: RequestContext, start: Dentry, parts: string[], from: number): Reply<Dentry> {
    const now = Date.now();
    let d = start;
    for (let i = from; i < parts.length; i++) {
      const name = parts[i]!;
      const child = d.child(name);
      if (child && child.validUntil > now) {
        this.#touch(child);
        d = child;
        continue;
      }
      const found = this.#lookup(ctx, d, name, child);
      if (found instanceof Promise) return found.then((c) => this.#walk(ctx, c, parts, i + 1));
      d = found;
    }
    return d;
  }

  #lookup(ctx: RequestContext, parent: Dentry, name: string, stale: Dentry | undefined): Reply<Dentry> {
    const gone = (err: unknown): never => {
      if (stale) this.#drop(stale);
      throw err;
    };
    // libfuse 2 answers a name that is not there with an error, not a negative entry.
    const got = (x: Entry | undefined) => (x ? this.#install(parent, name, x) : gone(new FsError('ENOENT', 'lookup', name)));
    let e: Reply<Entry | undefined>;
    try {
      e = this.#fs.lookup(ctx, parent.node, name);
    } catch (err) {
      return gone(err);
    }
    return e instanceof Promise ? e.then(got, gone) : got(e);
  }

  /** A lookup or a create-like operation answered `e` for `name` in `parent`: it holds e's lookup. */
  #install(parent: Dentry, name: string, e: Entry): Dentry {
    const validUntil = Date.now() + this.#opts.ttlMs;
    const old = parent.child(name);
    if (old && old.node === e.node) {
      // Still the same node: the dentry already holds a lookup of it.
      this.#forget(e.node, 1);
      old.validUntil = validUntil;
      this.#touch(old);
      return old;
    }
    if (old) this.#drop(old);
    const d = new Dentry(e.node, parent, name, validUntil);
    parent.setChild(name, d);
    this.#lru.add(d);
    this.#evict();
    return d;
  }

  /** A create-like operation at `path` answered `e` (one lookup counted). */
  entered(parent: NodeId, path: string, e: Entry): void {
    const parts = splitPath(path);
    const name = parts.pop()!;
    const dir = this.#cached(parts);
    if (dir && dir.node === parent) this.#install(dir, name, e);
    else this.#forget(e.node, 1); // the parent's dentry went away meanwhile: nothing to hang it on
  }

  /** `path` was unlinked or removed through the mount. */
  removed(path: string): void {
    const d = this.#cached(splitPath(path));
    if (d && d !== this.root) this.#drop(d);
  }

  /** `from` was renamed to `to` through the mount (whatever was at `to` is gone). */
  renamed(from: string, to: string): void {
    const src = this.#cached(splitPath(from));
    const toParts = splitPath(to);
    const toName = toParts.pop()!;
    const dstDir = this.#cached(toParts);
    const replaced = dstDir?.child(toName);
    if (replaced && replaced !== src) this.#drop(replaced);
    if (!src || src === this.root) return;
    src.parent!.dropChild(src.name, src);
    if (!dstDir) {
      // The new parent is not cached: the moved dentry (and what hangs below it) is let go.
      this.#dropTree(src);
      return;
    }
    src.parent = dstDir;
    src.name = toName;
    dstDir.setChild(toName, src);
  }

  /**
   * libfuse hid the open file at `from` as `to` (its .fuse_hiddenNNN stand-in, same directory) after
   * the file's name was unlinked in the filesystem: `to` now names the node here only.
   */
  hidden(from: string, to: string): void {
    const d = this.#cached(splitPath(from));
    if (!d || d === this.root) return;
    this.renamed(from, to);
    d.hidden = true;
    d.validUntil = Infinity;
  }

  /** libfuse unlinks the stand-in `path`: true (and it is dropped) when it is one of ours. */
  unhide(path: string): boolean {
    const d = this.#cached(splitPath(path));
    if (!d?.hidden) return false;
    this.#drop(d);
    return true;
  }

  /** An open handle of `node` begins: its node stays until unpin. */
  pin(node: NodeId): void {
    const p = this.#pins.get(node);
    if (p) p.opens++;
    else this.#pins.set(node, { opens: 1, held: 0 });
  }

  unpin(node: NodeId): void {
    const p = this.#pins.get(node);
    if (!p || --p.opens > 0) return;
    this.#pins.delete(node);
    if (p.held > 0) this.#fs.forget(node, p.held);
  }

  /** The dentry at `parts` if every component is cached (no lookups). */
  #cached(parts: string[]): Dentry | undefined {
    let d: Dentry | undefined = this.root;
    for (const name of parts) {
      d = d.child(name);
      if (!d) return undefined;
    }
    return d;
  }

  #touch(d: Dentry): void {
    this.#lru.delete(d);
    this.#lru.add(d);
  }

  /** Unhook `d` from its parent and let it and everything below it go. */
  #drop(d: Dentry): void {
    d.parent?.dropChild(d.name, d);
    this.#dropTree(d);
  }

  #dropTree(d: Dentry): void {
    for (const c of d.takeChildren()) this.#dropTree(c);
    this.#lru.delete(d);
    this.#forget(d.node, 1);
  }

  #forget(node: NodeId, n: number): void {
    const p = this.#pins.get(node);
    if (p) p.held += n;
    else this.#fs.forget(node, n);
  }

  #evict(): void {
    if (this.#lru.size <= this.#opts.max) return;
    let excess = this.#lru.size - Math.floor(this.#opts.max * 0.9);
    for (const d of this.#lru) {
      if (excess <= 0) break;
      if (d.hasChildren || d.hidden) continue;
      this.#drop(d);
      excess--;
    }
  }
}

function splitPath(path: string): string[] {
  return path === '/' || path === '' ? [] : path.slice(1).split('/');
}
