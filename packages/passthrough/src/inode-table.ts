// The passthrough's nodes: one per host inode (st_dev, st_ino), as libfuse's passthrough_hp keeps
// them, so two hard links are one kernel inode (one page cache, one set of attributes).
//
// A node reaches its file through an O_PATH fd, never through a path: every operation is an *at call
// on that fd (or on `/proc/self/fd/N`, which names exactly the file the fd holds), so a directory
// swapped for a symlink behind the mount cannot redirect it. The fds are bounded (the process's fd
// limit is shared with open files and the kernel's backing files): beyond `fdBudget` the least
// recently used node closes its fd and re-opens it when next needed, from its parent's fd and the
// name it was last known by — one component, O_NOFOLLOW — and only if what it finds there is still
// the same (dev, ino); otherwise ESTALE (the file moved behind the mount while nothing held it).
//
// A node found by a lookup or a create gets its fd at first use, not at once (a `stat` of many
// files, or a create-write-close-unlink, then costs no open and close per file): until then its
// identity is the (dev, ino) the lookup saw, and the first open is checked against it, like a
// re-open. A node that has a file open reaches it through that file (`/proc/self/fd/N` of the open
// fd names it exactly), so an open file's node works with no name at all; a hard-linked node whose
// last known name is about to go is pinned first (PassthroughFs.unlink, rename).
//
// Lifetime: a node lives while the kernel holds lookups of it (nlookup) or a node below it names it
// as parent (children) — the kernel never forgets a directory before what it looked up inside it, and
// a child re-opens through its parent. Node ids are never reused, so every generation is 0.
//
// Everything here is synchronous: an fd handed out is used before the next request can evict it.
import * as fs from 'node:fs';
import { FsError, syscalls, type StatxResult } from '@layerfs/backing-io';
import { ROOT_NODE, type NodeId } from '@layerfs/fuse-bridge';

const O_PATH_NOFOLLOW = syscalls.O_PATH | 0o400000 /* O_NOFOLLOW */ | 0o2000000; /* O_CLOEXEC */
const O_NOFOLLOW = 0o400000;
const O_CLOEXEC = 0o2000000;
const O_TRUNC = 0o1000;
const O_DIR_NOFOLLOW = 0o200000 /* O_DIRECTORY */ | 0o400000 /* O_NOFOLLOW */ | 0o2000000; /* O_CLOEXEC, O_RDONLY */
const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;
const S_IFDIR = 0o040000;

export class PtInode {
  nlookup = 0;
  /** Nodes whose `parent` is this one. */
  children = 0;
  /** The O_PATH fd, or -1 while evicted or not opened yet. */
  fd = -1;
  /** An fd of a file open on this node (the daemon's own, held by an open handle), or -1. */
  openFd = -1;
  /** Open handles on this node. */
  opens = 0;
  /** Used since the fd eviction last passed it (the clock's reference bit). */
  used = false;
  /**
   * `fd` is a real (O_RDONLY) fd of a directory, not O_PATH: fgetxattr works on it, which spares a
   * walk through /proc for the default ACL the kernel asks of a directory at every create in it.
   */
  fdReadable = false;
  /**
   * Its last name went while `fd` held it: closing `fd` evicts the inode and frees its blocks (ext4:
   * 0.1-0.5 ms, journalled). That close runs at FORGET, on the request thread, where the next
   * request (the parent's GETATTR of every `rm`) would wait behind it: it goes to the threadpool.
   */
  freesAtClose = false;

  constructor(
    readonly id: NodeId,
    readonly dev: bigint,
    readonly ino: bigint,
    /** Birth time (0n: not kept by the filesystem), which a later file of the same number does not share. */
    readonly btime: bigint,
    readonly type: number,
    /** The directory and name it was last known by (for re-opening and messages); null for the root. */
    public parent: PtInode | null,
    public name: string,
  ) {}

  get isSymlink(): boolean {
    return this.type === S_IFLNK;
  }

  get isDir(): boolean {
    return this.type === S_IFDIR;
  }

  /** Where it was last seen, for messages only: never used to reach the file. */
  describe(): string {
    // Every open asks (a backing file's path for messages): concatenation, no array to shift into.
    let out = '';
    for (let n: PtInode | null = this; n?.parent; n = n.parent) out = `/${n.name || '(unnamed)'}${out}`;
    return out === '' ? '/' : out;
  }
}

export interface InodeTableOptions {
  /** O_PATH fds kept open at most. */
  fdBudget: number;
}

export class InodeTable {
  readonly root: PtInode;
  readonly #byId = new Map<number, PtInode>();
  /**
   * Nodes by host inode: st_dev, then st_ino, as BigInts (exact for any inode number, and hashed by
   * value). A "dev:ino" string key cost two BigInt-to-string conversions and a concatenation per
   * lookup: 0.85 µs against 0.19 in a fresh daemon.
   */
  readonly #byKey = new InodeKeys();
  /** Nodes holding an fd, in the clock's order (the root is not in it: its fd never closes). */
  readonly #withFd = new Set<PtInode>();
  readonly #budget: number;
  #next = ROOT_NODE + 1;

  constructor(rootDir: string, opts: InodeTableOptions) {
    this.#budget = Math.max(16, opts.fdBudget);
    let fd: number;
    let readable = true;
    try {
      fd = syscalls.openat(-100 /* AT_FDCWD */, rootDir, 0o200000 /* O_DIRECTORY */ | 0o2000000);
    } catch {
      fd = syscalls.openat(-100 /* AT_FDCWD */, rootDir, syscalls.O_PATH | 0o200000 /* O_DIRECTORY */ | 0o2000000);
      readable = false;
    }
    const st = syscalls.statxAt(fd, '');
    this.root = new PtInode(ROOT_NODE, st.dev, st.ino, st.btimeNs, st.mode & S_IFMT, null, '');
    this.root.fd = fd;
    this.root.fdReadable = readable;
    this.root.nlookup = 1;
    this.#byId.set(ROOT_NODE, this.root);
    this.#byKey.set(st.dev, st.ino, this.root);
  }

  get size(): number {
    return this.#byId.size;
  }

  get openFds(): number {
    return this.#withFd.size + 1;
  }

  /** The node for a kernel node id; ESTALE for one we never gave or already let go. */
  get(id: NodeId): PtInode {
    const n = this.#byId.get(id);
    if (!n) throw new FsError('ESTALE', 'nodeid', String(id));
    return n;
  }

  /** The node an inode already has, if any. */
  find(st: StatxResult): PtInode | undefined {
    return this.#byKey.get(st.dev, st.ino);
  }

  /**
   * `name` in `parent` is the file `st` (just looked up or made there): count one lookup of its node,
   * made on first sight with an fd of its own. The name becomes the one it is re-opened by.
   */
  found(parent: PtInode, name: string, st: StatxResult): PtInode {
    let n = this.find(st);
    // The inode number of a file removed behind the mount, given to a new one: another file.
    if (n && n.btime !== st.btimeNs && n.btime !== 0n && st.btimeNs !== 0n) {
      this.unhash(n);
      n = undefined;
    }
    if (!n) {
      n = this.#add(st, parent, name, -1);
    } else {
      this.#rename(n, parent, name);
    }
    n.nlookup++;
    return n;
  }

  /** A file without a name (O_TMPFILE) in `dir`, reached through `fd` (an O_PATH fd of it). */
  anonymous(dir: PtInode, st: StatxResult, fd: number): PtInode {
    const n = this.#add(st, dir, '', fd);
    n.nlookup++;
    return n;
  }

  #add(st: StatxResult, parent: PtInode, name: string, fd: number): PtInode {
    const n = new PtInode(this.#next++ as NodeId, st.dev, st.ino, st.btimeNs, st.mode & S_IFMT, parent, name);
    parent.children++;
    n.fd = fd;
    this.#byId.set(n.id, n);
    this.#byKey.set(st.dev, st.ino, n);
    if (fd >= 0) this.#holdFd(n);
    return n;
  }

  /** `n` is now known as `name` in `parent` (a lookup, link or rename through the mount). */
  #rename(n: PtInode, parent: PtInode, name: string): void {
    if (n === this.root) return;
    if (n.parent !== parent) {
      parent.children++;
      const old = n.parent;
      n.parent = parent;
      if (old) this.#release(old, 0);
    }
    n.name = name;
  }

  /**
   * `n` lost its last name through the mount (unlink, rmdir, replaced by a rename). The kernel may
   * still hold its node — an open directory, a cwd, a file not yet forgotten — and the host may give
   * its inode number to the next file made: that file is another, with a node of its own. Handing
   * the kernel this node for it made the kernel reuse its inode of the removed directory, dead, and
   * every create in the new directory failed ENOENT. Its fd (the caller pinned it) is all that
   * reaches it now: no name to re-open it by, never evicted (as a file made without a name).
   */
  unhash(n: PtInode): void {
    if (n === this.root) return;
    if (this.#byKey.get(n.dev, n.ino) === n) this.#byKey.delete(n.dev, n.ino);
    n.name = '';
  }

  /** A rename through the mount moved `n` to `name` in `parent`. */
  moved(n: PtInode, parent: PtInode, name: string): void {
    this.#rename(n, parent, name);
  }

  forget(id: NodeId, count: number): void {
    const n = this.#byId.get(id);
    if (!n || n === this.root) return;
    this.#release(n, count);
  }

  #release(n: PtInode, lookups: number): void {
    if (lookups > 0) n.nlookup -= lookups;
    else n.children--;
    if (n.nlookup > 0 || n.children > 0 || n === this.root) return;
    this.#byId.delete(n.id);
    if (this.#byKey.get(n.dev, n.ino) === n) this.#byKey.delete(n.dev, n.ino);
    this.#closeFd(n);
    const parent = n.parent;
    n.parent = null;
    if (parent) this.#release(parent, 0);
  }

  /**
   * statx of `n` without opening an fd for it when it has none: through an open file of it, or by its
   * name in its parent's fd, checked to be the same (dev, ino) — else through its fd as usual (which
   * re-opens or answers ESTALE).
   */
  stat(n: PtInode): StatxResult {
    if (n.fd < 0) {
      if (n.openFd >= 0) return syscalls.statxAt(n.openFd, '');
      if (n.parent && n.name !== '') {
        const st = syscalls.statxAt(this.fd(n.parent), n.name);
        if (st.ino === n.ino && st.dev === n.dev) return st;
      }
    }
    return syscalls.statxAt(this.fd(n), '');
  }

  /** The node's O_PATH fd, re-opened from its parent's if it was evicted. */
  fd(n: PtInode): number {
    if (n.fd >= 0) {
      n.used = true;
      return n.fd;
    }
    // An open file names its inode exactly, whatever happened to its names.
    const fd =
      n.openFd >= 0 ? syscalls.openat(-100 /* AT_FDCWD */, `/proc/self/fd/${n.openFd}`, syscalls.O_PATH | 0o2000000) : this.#openByName(n);
    n.fd = fd;
    this.#holdFd(n);
    return fd;
  }

  /**
   * A file descriptor of `n` opened for I/O with `flags` (an OPEN's: never O_CREAT). A node known by
   * its name only is opened by that name in its parent's fd and checked to be the same (dev, ino):
   * one openat instead of an O_PATH fd, its statx and an open of its /proc magic link (a walk
   * through procfs) — the open of every file `cat` or a compiler reads once. Anything else, or any
   * doubt (the name gone or replaced behind the mount, an error), takes the node's own fd, which
   * re-opens it or answers ESTALE. Never with O_TRUNC: a name replaced behind the mount would be
   * truncated before the check could see it is another file.
   */
  openFile(n: PtInode, flags: number, mode: number): number {
    if (n.fd < 0 && n.openFd < 0 && n.parent && n.name !== '' && !(flags & O_TRUNC)) {
      let fd = -1;
      try {
        fd = openatWithoutWaiting(this.fd(n.parent), n.name, flags | O_NOFOLLOW | O_CLOEXEC, mode);
        const st = syscalls.statxAt(fd, '');
        if (st.ino === n.ino && st.dev === n.dev) return fd;
      } catch {
        // the slow way below says what is wrong
      }
      if (fd >= 0) syscalls.close(fd);
    }
    // The magic link is itself a symlink: O_NOFOLLOW would refuse it (the kernel already did the
    // caller's O_NOFOLLOW check on the name it opened).
    return syscalls.openat(-100 /* AT_FDCWD */, `/proc/self/fd/${this.fd(n)}`, (flags & ~O_NOFOLLOW) | O_CLOEXEC, mode);
  }

  /** `n`'s last known name in its parent's fd, checked to still be the same (dev, ino). */
  #openByName(n: PtInode): number {
    if (!n.parent || n.name === '') throw new FsError('ESTALE', 'open', n.describe(), 'no name to re-open it by');
    const dir = this.fd(n.parent);
    let fd = -1;
    if (n.isDir) {
      try {
        fd = syscalls.openat(dir, n.name, O_DIR_NOFOLLOW);
      } catch {
        // not readable by the daemon (or no longer a directory): O_PATH below
      }
    }
    n.fdReadable = fd >= 0;
    if (fd < 0) fd = syscalls.openat(dir, n.name, O_PATH_NOFOLLOW);
    const st = syscalls.statxAt(fd, '');
    if (st.ino !== n.ino || st.dev !== n.dev) {
      syscalls.close(fd);
      throw new FsError('ESTALE', 'open', n.describe(), 'the file moved behind the mount');
    }
    return fd;
  }

  /** A file was opened on `n` (`fd` is the daemon's fd of it, valid until `closed`). */
  opened(n: PtInode, fd: number): void {
    n.opens++;
    n.openFd = fd;
  }

  /** An open handle of `n` (whose fd was `fd`) was released. */
  closed(n: PtInode, fd: number): void {
    n.opens--;
    if (n.opens === 0) n.openFd = -1;
    else if (n.openFd === fd) {
      // Another handle is still open, but its fd is not known here: pin the inode by its own fd now.
      this.fd(n);
      n.openFd = -1;
    }
  }

  // Eviction is a clock (second chance), not a strict LRU: a use only sets a bit, where moving the
  // node to the end of the set on every use cost microseconds on each request.
  #holdFd(n: PtInode): void {
    this.#withFd.add(n);
    if (this.#withFd.size <= this.#budget) return;
    for (const old of this.#withFd) {
      if (this.#withFd.size <= this.#budget) break;
      // A file without a name cannot be found again: it keeps its fd. Nor is the fd just opened for
      // `n` closed before its caller uses it (with every other fd unnamed or in use, the clock came
      // round to it: a READLINK answered EBADF). Past the budget then, until FORGETs free some.
      if (old.name === '' || old === n) continue;
      if (old.used) {
        old.used = false;
        this.#withFd.delete(old);
        this.#withFd.add(old);
        continue;
      }
      this.#closeFd(old);
    }
  }

  #closeFd(n: PtInode, now = false): void {
    if (n.fd < 0) return;
    if (n.freesAtClose && !now) fs.close(n.fd, () => undefined);
    else syscalls.close(n.fd);
    n.fd = -1;
    this.#withFd.delete(n);
  }

  /** Close every fd (after unmount), at once: the source's filesystem may be unmounted next. */
  closeAll(): void {
    for (const n of [...this.#withFd]) this.#closeFd(n, true);
    syscalls.close(this.root.fd);
    this.root.fd = -1;
  }
}

/** openat(2) that a FIFO put where a file was expected (behind the mount) cannot hold in open(2). */
export function openatWithoutWaiting(dir: number, name: string, flags: number, mode: number): number {
  return syscalls.openWithoutWaiting(flags, (f) => syscalls.openat(dir, name, f, mode));
}

/** A map by (st_dev, st_ino): one inner map per device (a mirror of one filesystem has one). */
class InodeKeys {
  readonly #byDev = new Map<bigint, Map<bigint, PtInode>>();

  get(dev: bigint, ino: bigint): PtInode | undefined {
    return this.#byDev.get(dev)?.get(ino);
  }

  set(dev: bigint, ino: bigint, n: PtInode): void {
    let inos = this.#byDev.get(dev);
    if (!inos) this.#byDev.set(dev, (inos = new Map()));
    inos.set(ino, n);
  }

  delete(dev: bigint, ino: bigint): void {
    const inos = this.#byDev.get(dev);
    if (!inos) return;
    inos.delete(ino);
    if (inos.size === 0) this.#byDev.delete(dev);
  }
}
