// The handle table every filesystem keeps: Fh → what an open returned. Not a cache: an entry lives
// exactly from open to release, and the number of entries is bounded by the process's fd limit, not
// by eviction.
import { FsError } from '@layerfs/backing-io';
import type { Fh } from './handler';

export class HandleTable<T> {
  readonly #entries = new Map<Fh, T>();
  // Handles are reused only after 2^31 opens; fuse-native reserves 0 for "no handle".
  #next = 1;

  add(value: T): Fh {
    let fh: number;
    do {
      fh = this.#next;
      this.#next = this.#next >= 0x7fff_ffff ? 1 : this.#next + 1;
    } while (this.#entries.has(fh as Fh));
    this.#entries.set(fh as Fh, value);
    return fh as Fh;
  }

  /** The entry for `fh`; EBADF when there is none (a handle the kernel should not have). */
  get(fh: Fh, path: string): T {
    const v = this.#entries.get(fh);
    if (v === undefined) throw new FsError('EBADF', 'fh', path);
    return v;
  }

  find(fh: Fh | undefined): T | undefined {
    return fh === undefined ? undefined : this.#entries.get(fh);
  }

  remove(fh: Fh, path: string): T {
    const v = this.get(fh, path);
    this.#entries.delete(fh);
    return v;
  }

  get size(): number {
    return this.#entries.size;
  }

  values(): T[] {
    return [...this.#entries.values()];
  }
}
