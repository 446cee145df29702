// The bound of a per-mount LRUCache, in entries, without lru-cache's preallocation. Given `max`,
// lru-cache allocates and fills its key, value and link arrays for all `max` entries at once: the
// overlay's two caches (20 000 and 10 000 entries) took 4-5 ms of every mount, a third of what the
// shared daemon spends on a container mount (a CPU profile over 40 mounts). Bounded by `maxSize`
// with every entry of size 1 instead, the arrays grow as entries come: the same bound, the same
// eviction order, 0.02 ms to make.
import type { LRUCache } from 'lru-cache';

export function countBound<K extends NonNullable<unknown>, V extends NonNullable<unknown>>(
  entries: number,
): LRUCache.Options<K, V, unknown> {
  return { maxSize: entries, sizeCalculation: () => 1 };
}
