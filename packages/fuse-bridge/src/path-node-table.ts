// Node ids ↔ paths, for servePathHandlers() (path-adapter.ts): a path-based filesystem has no nodes
// of its own, so each id stands for one name looked up (one node per name, as libfuse's high-level
// layer keeps it: two hard links are two nodes that share st_ino), with its lookup count.
//
// Invariants:
// - A node's path is its parent's path plus its name, computed on demand, so a rename of a directory
//   moves every node below it at once and a node keeps its id (and its open files) across renames.
// - A node whose name was unlinked or replaced is detached: it stays (the kernel may still hold it
//   and open files through it) until its lookup count reaches zero, but no longer has a path.
// - Ids are recycled only after FORGET drops the count to zero, each time with a new generation, so
//   (nodeid, generation) never repeats within a mount.
import { FsError } from '@layerfs/backing-io';
import { ROOT_NODE } from './handler';

const ROOT_ID: number = ROOT_NODE;

export class PathNode {
  /** Kernel lookups not yet forgotten. */
  nlookup = 0;
  readonly children = new Map<string, PathNode>();
  /** Open file handles of this node, for getattr and ftruncate after its name is gone. */
  readonly openFhs = new Set<number>();
  detached = false;

  constructor(
    readonly id: number,
    readonly generation: number,
    public parent: PathNode | null,
    public name: string,
  ) {}

  /** The mount-relative path, "/" for the root; ENOENT once detached. */
  path(): string {
    if (this.id === ROOT_ID) return '/';
    let p = '';
    for (let n: PathNode | null = this; n && n.id !== ROOT_ID; n = n.parent) {
      if (n.detached || !n.parent) throw new FsError('ENOENT', 'path', this.name);
      p = `/${n.name}${p}`;
    }
    return p;
  }

  childPath(name: string): string {
    const p = this.path();
    return p === '/' ? `/${name}` : `${p}/${name}`;
  }
}

export class PathNodeTable {
  readonly #nodes = new Map<number, PathNode>();
  readonly #free: number[] = [];
  #next = ROOT_ID + 1;
  #generation = 0;
  readonly root: PathNode;

  constructor() {
    this.root = new PathNode(ROOT_ID, 0, null, '');
    this.root.nlookup = 1;
    this.#nodes.set(ROOT_ID, this.root);
  }

  get size(): number {
    return this.#nodes.size;
  }

  /** The node for a kernel node id; ESTALE for an id we never gave or already forgot (a kernel/daemon mismatch). */
  get(id: number): PathNode {
    const n = this.#nodes.get(id);
    if (!n) throw new FsError('ESTALE', 'nodeid', String(id));
    return n;
  }

  /** Count one kernel lookup of `name` in `parent`: the node for that name, created on first sight. */
  lookup(parent: PathNode, name: string): PathNode {
    let n = parent.children.get(name);
    if (!n) {
      const reuse = this.#free.pop();
      const id = reuse ?? this.#next++;
      n = new PathNode(id, reuse === undefined ? 0 : ++this.#generation, parent, name);
      parent.children.set(name, n);
      this.#nodes.set(id, n);
    }
    n.nlookup++;
    return n;
  }

  /**
   * A node for a file without a name (O_TMPFILE), with one kernel lookup: detached from birth, it
   * has no path until a LINK gives the file one — under a node of its own, as every name has.
   */
  anonymous(): PathNode {
    const reuse = this.#free.pop();
    const id = reuse ?? this.#next++;
    const n = new PathNode(id, reuse === undefined ? 0 : ++this.#generation, null, '(tmpfile)');
    n.detached = true;
    n.nlookup = 1;
    this.#nodes.set(id, n);
    return n;
  }

  forget(id: number, count: number): void {
    const n = this.#nodes.get(id);
    if (!n || id === ROOT_ID) return;
    n.nlookup -= count;
    if (n.nlookup > 0) return;
    this.#detach(n);
    this.#nodes.delete(id);
    this.#free.push(id);
  }

  /** The name went away (unlink, rmdir, replaced by a rename): its node loses its path. */
  unlinked(parent: PathNode, name: string): void {
    const n = parent.children.get(name);
    if (n) this.#detach(n);
  }

  /**
   * Give the name a fresh node on its next lookup while the old one lives on for the kernel's open
   * files (the overlay's copy-up under a passed-through open; see fuse-wire's passthrough-modes.ts).
   */
  supersede(n: PathNode): void {
    if (n.parent && n.parent.children.get(n.name) === n) n.parent.children.delete(n.name);
  }

  renamed(from: PathNode, fromName: string, to: PathNode, toName: string, exchange: boolean): void {
    const moving = from.children.get(fromName);
    const target = to.children.get(toName);
    if (exchange) {
      from.children.delete(fromName);
      to.children.delete(toName);
      if (moving) this.#place(moving, to, toName);
      if (target) this.#place(target, from, fromName);
      return;
    }
    if (target && target !== moving) this.#detach(target);
    if (moving) {
      from.children.delete(fromName);
      this.#place(moving, to, toName);
    }
  }

  #place(n: PathNode, parent: PathNode, name: string): void {
    n.parent = parent;
    n.name = name;
    parent.children.set(name, n);
  }

  #detach(n: PathNode): void {
    if (n.parent && n.parent.children.get(n.name) === n) n.parent.children.delete(n.name);
    n.detached = true;
  }
}
