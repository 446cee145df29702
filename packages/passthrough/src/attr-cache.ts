// The attribute cache: path → attributes, bounded (LRU) and short-lived (TTL no longer than the
// kernel's attr_timeout, so we never hold a value longer than the kernel would trust it).
// Writers update it under the inode lock (endWrite); every metadata change through the mount drops
// the entries it affects.
import { LRUCache } from 'lru-cache';
import type { Attr } from '@layerfs/fuse-bridge';

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

  constructor(opts: AttrCacheOptions = {}) {
    const ttl = opts.ttlMs ?? 1000;
    this.#lru = ttl > 0 ? new LRUCache<string, Attr>({ max: opts.max ?? 10000, ttl, ttlAutopurge: false }) : undefined;
  }

  get(path: string): Attr | undefined {
    return this.#lru?.get(path);
  }

  set(path: string, attr: Attr): void {
    this.#lru?.set(path, attr);
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
