// What the wire transport itself knows of each node the kernel holds. The nodes are the filesystem's
// (NodeHandlers: it hands out the ids and counts lookups too); this is the transport's own ledger
// beside them, for what only a transport can know:
// - the st_ino the kernel was last told for a node, so that a change through one node can invalidate
//   the others that show the same file (a path-adapted filesystem has one node per hard-link name);
// - whether the node was superseded (passthrough-modes.ts): its data attributes are then those of the
//   backing file the kernel still reads, not those of the file its name now refers to.
//
// Invariant: a node is here from the first entry reply that named it until FORGET gives back the last
// lookup counted in those replies; the filesystem is told the same counts.
import { ROOT_NODE, type NodeId } from '@layerfs/fuse-bridge';

export interface KernelNode {
  lookups: number;
  ino: bigint | undefined;
  superseded: boolean;
}

export class KernelNodes {
  readonly #nodes = new Map<number, KernelNode>();
  /**
   * st_ino → the node that shows it, or the nodes (several only where the filesystem has a node per
   * name). A Set only for those: one per node would cost ~20 MB over 100 000 nodes.
   */
  readonly #byIno = new Map<bigint, number | Set<number>>();
  /** How many files show through more than one node. */
  #shared = 0;

  constructor() {
    this.#nodes.set(ROOT_NODE, { lookups: 1, ino: undefined, superseded: false });
  }

  get size(): number {
    return this.#nodes.size;
  }

  get(id: number): KernelNode | undefined {
    return this.#nodes.get(id);
  }

  /** One entry reply names `id` with st_ino `ino`. */
  entered(id: NodeId, ino: bigint): void {
    let n = this.#nodes.get(id);
    if (!n) this.#nodes.set(id, (n = { lookups: 0, ino: undefined, superseded: false }));
    n.lookups++;
    this.#setIno(id, n, ino);
  }

  /** Attributes of `id` were sent again (GETATTR): keep its st_ino current. */
  seen(id: number, ino: bigint): void {
    const n = this.#nodes.get(id);
    if (n) this.#setIno(id, n, ino);
  }

  /** The kernel gave back `count` lookups; true when the node is gone from the kernel. */
  forget(id: number, count: number): boolean {
    const n = this.#nodes.get(id);
    if (!n || id === ROOT_NODE) return false;
    n.lookups -= count;
    if (n.lookups > 0) return false;
    this.#dropIno(id, n);
    this.#nodes.delete(id);
    return true;
  }

  /** Whether any file shows through more than one node (else aliases() is always empty). */
  get hasAliases(): boolean {
    return this.#shared > 0;
  }

  /** The other nodes the kernel holds for the same file. */
  aliases(id: number): number[] {
    const n = this.#nodes.get(id);
    const set = n?.ino === undefined ? undefined : this.#byIno.get(n.ino);
    if (set === undefined || typeof set === 'number') return [];
    return [...set].filter((o) => o !== id);
  }

  /** The node no longer stands for the file its name refers to (see passthrough-modes.ts). */
  supersede(id: number): void {
    const n = this.#nodes.get(id);
    if (!n) return;
    n.superseded = true;
    // No longer another name of the file the name now refers to: that file's writers need not
    // invalidate it, and it must not make them daemon-served.
    this.#dropIno(id, n);
  }

  #setIno(id: number, n: KernelNode, ino: bigint): void {
    if (n.ino === ino || n.superseded) return;
    this.#dropIno(id, n);
    n.ino = ino;
    const cur = this.#byIno.get(ino);
    if (cur === undefined) {
      this.#byIno.set(ino, id);
    } else if (typeof cur === 'number') {
      if (cur === id) return;
      this.#byIno.set(ino, new Set([cur, id]));
      this.#shared++;
    } else {
      cur.add(id);
    }
  }

  #dropIno(id: number, n: KernelNode): void {
    if (n.ino === undefined) return;
    const cur = this.#byIno.get(n.ino);
    if (cur === id) {
      this.#byIno.delete(n.ino);
    } else if (cur !== undefined && typeof cur !== 'number' && cur.delete(id) && cur.size === 1) {
      this.#byIno.set(n.ino, cur.values().next().value as number);
      this.#shared--;
    }
    n.ino = undefined;
  }
}
