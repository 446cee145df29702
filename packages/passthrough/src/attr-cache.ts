// The attribute cache: path → attributes, bounded (LRU) and short-lived (TTL no longer than the
// kernel's attr_timeout, so we never hold a value longer than the kernel would trust it).
// Writers update it under the inode lock (endWrite); every metadata change through the mount drops
// the entries it affects.
import { LRUCache } from 'lru-cache';
import type { Attr } from '@layerfs/fuse-bridge';

export interface AttrCacheOptions {
  /** Entries kept at most. Default 10000 (~2 MB). */
  max?: number;
  /** Milliseconds an entry stays valid. Default 1000 (the default attr_timeout). 0 disables the cache. */
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

  /** After a directory rename every cached path below it is wrong; renames are rare, so drop all. */
  clear(): void {
    this.#lru?.clear();
  }
}
