// The overlay's inodes: the shape of the kernel's struct ovl_inode. A node is one name of the merged
// view as the kernel looked it up; it holds what that lookup found (its upper entry, if any, and its
// lower stack), so no later request looks the name up again, and every request, open file and open
// directory refers to the node — a rename moves the node, never redirects it.
//
// Where the real entries are:
// - the upper entry's path in the upper layer is always the node's path in the merged view (every
//   rename and removal goes through this mount, which keeps the upper layer shaped as the view), so
//   it is computed from the parent chain, never stored: a directory rename moves every node below it;
// - the lower stack is stored: lower layers never change while mounted (overlayfs.rst), and a renamed
//   directory's lower stack stays where its redirect points.
//
// Invariants:
// - One node per (parent, name) known to the kernel; a node whose name was unlinked or replaced is
//   detached (no path: it lives on, for the kernel's lookups and the opens it still has).
// - `ino` (the reported st_ino) is found once, at lookup, and kept across renames and copy-up, as
//   the kernel's overlay inode keeps its number while cached — except the copy-up of a lower file
//   with hard links, which becomes a file of its own with its own number, as with the kernel's
//   overlay without index=on (ovl_getattr maps st_ino to the lower one only for nlink 1).
// - Ids are never reused (2^53 lookups), so (nodeid, generation) never repeats; generation is 0.
import { close, closeSync } from 'node:fs';
import { FsError } from '@layerfs/backing-io';
import { ROOT_NODE } from '@layerfs/fuse-bridge';
import type { BackingFile } from '@layerfs/backing-io';
import type { RealRef } from './namei';

/** An open file: its node, and the real file it reads and writes (the upper one after a copy-up). */
export interface OvlFile {
  readonly node: OvlInode;
  backing: BackingFile;
}

const ROOT_ID: number = ROOT_NODE;
const NO_FILES: ReadonlySet<OvlFile> = new Set();

/** What a lookup found for a name: the node's view of its real entries. */
export interface OvlState {
  /** S_IFMT bits of the entry that shows. */
  type: number;
  /** Whether the upper layer has the entry (copied up or created there). */
  hasUpper: boolean;
  /**
   * Lower layers' entries, top first: for a directory, every lower directory merged into it; for
   * anything else, the lower entry it shows (or was copied up from in this mount), at most one.
   */
  lower: RealRef[];
  /** Some lower layer holds the name: removing it needs a whiteout. */
  inLower: boolean;
  /**
   * A metadata-only copy (namei.ts OvlEntry.data): the lower file its data is read from until the
   * first write copies the data up (copy-up.ts); the upper or lower[0] entry gives all the rest.
   */
  lowerData: RealRef | undefined;
  /** Where the lower layers hold it (its path, unless a redirect says otherwise). */
  lowerPath: string;
  /**
   * The shown lower entry's xattr names, listed at the first xattr request (xattr.ts); meaningful
   * only while `hasUpper` is false. Lives in the state so a new lookup's state starts without it.
   * Present (undefined) from the start in every state: one object shape for V8, no property added
   * later to 100 000 states of a walk.
   */
  lowerXattrNames: readonly string[] | undefined;
}

/**
 * Bumped whenever a directory's parent or name changes or a directory loses its name (every table's
 * #place and #detach): a directory's cached path (OvlInode.path) is good while this has not moved. Global, not
 * per table: a change in another mount only costs a recomputation.
 */
let pathGeneration = 0;

export class OvlInode {
  nlookup = 0;
  detached = false;
  /**
   * A directory's path as path() last built it, and the pathGeneration it was built at. Every lookup
   * in a directory asks for its path (and a merged one for its upper path too), which walked to the
   * root and concatenated a string per level each time. Directories only: they are the parents, and
   * a tenth of the nodes of a walk.
   */
  #path: string | undefined = undefined;
  #pathAt = -1;
  // Both made at first use: most nodes of a walk are files nobody opens, and an empty Map or Set
  // with its hash table is ~240 bytes: 45 MB of a daemon's heap after `ls -lR` of 100 000 files.
  /** Names below a directory that the kernel looked up. */
  #children: Map<string, OvlInode> | undefined = undefined;
  /** Open handles of this node: fstat, ftruncate and xattrs go through one when it has no name. */
  #openFiles: Set<OvlFile> | undefined = undefined;
  /**
   * The real file of a node whose name went while no handle had it open, held by an O_PATH fd (and
   * the real path it had, which says which layer it is in): the kernel may still stat or open the
   * node through a lookup made before (an open(O_CREAT) racing an unlink, a reopen through
   * /proc/self/fd). Closed when the kernel forgets the node.
   */
  pinned: { fd: number; real: string } | undefined = undefined;

  constructor(
    readonly id: number,
    public parent: OvlInode | null,
    public name: string,
    public state: OvlState,
    /** The st_ino reported for it. */
    public ino: bigint,
  ) {}

  get openFiles(): ReadonlySet<OvlFile> {
    return this.#openFiles ?? NO_FILES;
  }

  opened(f: OvlFile): void {
    (this.#openFiles ??= new Set()).add(f);
  }

  closed(f: OvlFile): void {
    if (this.#openFiles?.delete(f) && this.#openFiles.size === 0) this.#openFiles = undefined;
  }

  child(name: string): OvlInode | undefined {
    return this.#children?.get(name);
  }

  setChild(name: string, n: OvlInode): void {
    (this.#children ??= new Map()).set(name, n);
  }

  /** Drops `name` if it still names `n` (any node when `n` is omitted). */
  dropChild(name: string, n?: OvlInode): void {
    const c = this.#children;
    if (c === undefined || (n !== undefined && c.get(name) !== n)) return;
    c.delete(name);
    if (c.size === 0) this.#children = undefined;
  }

  get isDir(): boolean {
    return this.state.type === 0o040000;
  }

  /** The mount-relative path, "/" for the root; ENOENT once detached (the name is gone). */
  path(): string {
    if (this.id === ROOT_ID) return '/';
    if (this.#pathAt === pathGeneration) return this.#path!;
    let p = '';
    for (let n: OvlInode | null = this; n && n.id !== ROOT_ID; n = n.parent) {
      if (n.detached || !n.parent) throw new FsError('ENOENT', 'path', this.name);
      p = `/${n.name}${p}`;
    }
    if (this.isDir) {
      this.#path = p;
      this.#pathAt = pathGeneration;
    }
    return p;
  }

  childPath(name: string): string {
    const p = this.path();
    return p === '/' ? `/${name}` : `${p}/${name}`;
  }
}

export class OvlInodeTable {
  readonly #nodes = new Map<number, OvlInode>();
  #next = ROOT_ID + 1;
  #changes = 0;
  readonly root: OvlInode;

  constructor(rootState: OvlState, rootIno: bigint) {
    this.root = new OvlInode(ROOT_ID, null, '', rootState, rootIno);
    this.root.nlookup = 1;
    this.#nodes.set(ROOT_ID, this.root);
  }

  get size(): number {
    return this.#nodes.size;
  }

  /** Names removed, replaced or moved through this mount so far (every change of the view is one). */
  get changes(): number {
    return this.#changes;
  }

  /** The node for a kernel node id; ESTALE for an id never given or already forgotten. */
  get(id: number): OvlInode {
    const n = this.#nodes.get(id);
    if (!n) throw new FsError('ESTALE', 'nodeid', String(id));
    return n;
  }

  /** The node `parent` holds for `name`, if the kernel has looked it up and it is still that name. */
  child(parent: OvlInode, name: string): OvlInode | undefined {
    return parent.child(name);
  }

  /** Count one lookup of `name`: its node, made from `found` on first sight. */
  lookup(parent: OvlInode, name: string, found: () => { state: OvlState; ino: bigint }): OvlInode {
    let n = parent.child(name);
    if (!n) {
      const { state, ino } = found();
      n = new OvlInode(this.#next++, parent, name, state, ino);
      parent.setChild(name, n);
      this.#nodes.set(n.id, n);
    }
    n.nlookup++;
    return n;
  }

  /** A node for a file without a name (O_TMPFILE), with one lookup: detached until a link names it. */
  anonymous(state: OvlState, ino: bigint): OvlInode {
    const n = new OvlInode(this.#next++, null, '(tmpfile)', state, ino);
    n.detached = true;
    n.nlookup = 1;
    this.#nodes.set(n.id, n);
    return n;
  }

  forget(id: number, count: number): void {
    const n = this.#nodes.get(id);
    if (!n || id === ROOT_ID) return;
    n.nlookup -= count;
    if (n.nlookup > 0) return;
    this.#detach(n);
    this.#nodes.delete(id);
    // The last reference to an unlinked file: its blocks are freed on the threadpool, nobody waiting.
    if (n.pinned) close(n.pinned.fd, () => undefined);
    n.pinned = undefined;
  }

  /**
   * After unmount: the fds nodes hold for files whose names went (OvlInode.pinned). The kernel sends
   * no FORGET for what it still knew when the connection ended, so without this they would hold the
   * upper layer's filesystem busy for as long as the process lives (a shared daemon: long after).
   */
  closePinned(): void {
    for (const n of this.#nodes.values()) {
      if (!n.pinned) continue;
      try {
        closeSync(n.pinned.fd);
      } catch {
        // already gone
      }
      n.pinned = undefined;
    }
  }

  /** The name went away (unlink, rmdir): its node, if any, loses its path. */
  unlinked(parent: OvlInode, name: string): void {
    this.#changes++;
    const n = parent.child(name);
    if (n) this.#detach(n);
  }

  /**
   * The name answers a fresh node at its next lookup; this one lives on for the kernel's opens
   * (fuse-wire's passthrough modes: its kernel I/O is pinned to the file it had before a copy-up).
   * It is the same file, so it keeps its state and its path; a later rename of the name moves only
   * the fresh node (this one then names whatever has its old path, as a path-named node would).
   */
  supersede(n: OvlInode): void {
    n.parent?.dropChild(n.name, n);
  }

  renamed(from: OvlInode, fromName: string, to: OvlInode, toName: string, exchange: boolean): void {
    this.#changes++;
    const moving = from.child(fromName);
    const target = to.child(toName);
    if (exchange) {
      from.dropChild(fromName);
      to.dropChild(toName);
      if (moving) this.#place(moving, to, toName);
      if (target) this.#place(target, from, fromName);
      return;
    }
    if (target && target !== moving) this.#detach(target);
    if (moving) {
      from.dropChild(fromName);
      this.#place(moving, to, toName);
    }
  }

  // Only a directory's move or loss changes a cached path: the cache holds directories' paths, built
  // from their ancestors, and those are directories too. A file's (most FORGETs of a walk) leaves it.
  #place(n: OvlInode, parent: OvlInode, name: string): void {
    if (n.isDir) pathGeneration++;
    n.parent = parent;
    n.name = name;
    parent.setChild(name, n);
  }

  #detach(n: OvlInode): void {
    if (n.isDir) pathGeneration++;
    n.parent?.dropChild(n.name, n);
    n.detached = true;
  }
}
