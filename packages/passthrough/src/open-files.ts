// The handle table: Fh → the open file behind it. Not a cache: an entry lives exactly from open to
// release, and the number of entries is bounded by the process's fd limit, not by eviction.
import type { BackingFile } from '@layerfs/backing-io';
import type { Fh } from '@layerfs/fuse-bridge';
import { FsError } from '@layerfs/backing-io';

export interface OpenFile {
  readonly path: string;
  readonly backing: BackingFile;
}

export class OpenFiles {
  readonly #files = new Map<Fh, OpenFile>();
  // Handles are reused only after 2^31 opens; fuse-native reserves 0 for "no handle".
  #next = 1;

  add(file: OpenFile): Fh {
    let fh: number;
    do {
      fh = this.#next;
      this.#next = this.#next >= 0x7fff_ffff ? 1 : this.#next + 1;
    } while (this.#files.has(fh as Fh));
    this.#files.set(fh as Fh, file);
    return fh as Fh;
  }

  get(fh: Fh, path: string): OpenFile {
    const f = this.#files.get(fh);
    if (!f) throw new FsError('EBADF', 'fh', path);
    return f;
  }

  find(fh: Fh | undefined): OpenFile | undefined {
    return fh === undefined ? undefined : this.#files.get(fh);
  }

  remove(fh: Fh, path: string): OpenFile {
    const f = this.get(fh, path);
    this.#files.delete(fh);
    return f;
  }

  get size(): number {
    return this.#files.size;
  }

  all(): OpenFile[] {
    return [...this.#files.values()];
  }
}
