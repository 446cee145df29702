// The attribute cache: path → attributes, bounded (LRU) and short-lived (TTL no longer than the
// kernel's attr_timeout, so we never hold a value longer than the kernel would trust it).
// Writers update it under the inode lock (endWrite); every metadata change through the mount drops
// the entries it affects.
//
// A file with a writable handle the transport passed through to the kernel (wire transport) is
// never served from here: its writes change size and mtime without a request — or endWrite — ever
// reaching us. The kernel drops its own cached attributes after such a write and asks again; that
// answer must be the file's, so until the handle's release its attributes come from lstat.
import { LRUCache } from 'lru-cache';
import type { Attr, Ino } from '@layerfs/fuse-bridge';

export interface AttrCacheOptions {
  /** Entries kept at most. Default 10000 (~2 MB). */
  max?: number;
  /**
   * Milliseconds an entry stays valid. mountPassthrough() defaults it to the kernel's attr_timeout, so
   * the daemon never trusts an attribute longer than the kernel does (attr_timeout=0: no cache at all,
   * every stat sees changes made behind the mount). 0 disables the cache.
   */
  ttlMs?: number;
}

export class AttrCache {
  readonly #lru: LRUCache<string, Attr> | undefined;
  /** Inode → open writable handles (see the header). */
  readonly #writers = new Map<Ino, number>();

  constructor(opts: AttrCacheOptions = {}) {
    const ttl = opts.ttlMs ?? 1000;
    this.#lru = ttl > 0 ? new LRUCache<string, Attr>({ max: opts.max ?? 10000, ttl, ttlAutopurge: false }) : undefined;
  }

  get(path: string): Attr | undefined {
    const a = this.#lru?.get(path);
    if (a && this.#writers.has(a.ino)) {
      this.#lru!.delete(path);
      return undefined;
    }
    return a;
  }

  set(path: string, attr: Attr): void {
    if (!this.#writers.has(attr.ino)) this.#lru?.set(path, attr);
  }

  /**
   * A write through `path` changed size and times: its entry is replaced; a file with other names
   * (found only by clearing, as in dropFile) must not keep serving theirs.
   */
  written(path: string, attr: Attr): void {
    if (attr.nlink > 1) this.clear();
    this.set(path, attr);
  }

  /** A writable handle of the inode was passed through: until the last closes, its attributes are not cached. */
  openedForWrite(ino: Ino): void {
    this.#writers.set(ino, (this.#writers.get(ino) ?? 0) + 1);
  }

  /** A writable handle closed. At the last, entries cached before the open are dropped too. */
  closedForWrite(ino: Ino, path: string): void {
    const n = (this.#writers.get(ino) ?? 1) - 1;
    if (n > 0) {
      this.#writers.set(ino, n);
      return;
    }
    this.#writers.delete(ino);
    this.dropFile(path);
  }

  drop(path: string): void {
    this.#lru?.delete(path);
  }

  /**
   * The file at `path` changed (mode, owner, times, xattrs): drop it, and when it may have other
   * hard-link names (nlink > 1, or not cached so unknown) drop everything, since we cannot find those
   * names by path.
   */
  dropFile(path: string): void {
    const a = this.#lru?.peek(path);
    if (a && a.nlink <= 1) this.drop(path);
    else this.clear();
  }

  /**
   * Drop everything: after a rename (every cached path below a moved directory is wrong) and after
   * link/unlink (every other name of the inode changed nlink, and we cannot find them by path).
   */
  clear(): void {
    this.#lru?.clear();
  }
}
