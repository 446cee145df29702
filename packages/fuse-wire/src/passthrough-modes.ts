// The kernel's I/O mode is per inode (fs/fuse/iomode.c), and this is the one place that enforces it.
//
// The rules the kernel imposes, and what we do about each:
// - While an inode has an open in passthrough mode, every other open of it must be passthrough too,
//   with the same backing file (another backing id fails the open with EIO; a cached open fails it
//   with EINVAL). So the first decision for a node holds until its last release; later opens share
//   the node's backing id and reference.
// - While an inode has cached (daemon-served) opens, a passthrough open fails ETXTBSY. So once a node
//   is cached, later opens are cached too.
// - The kernel re-opens the backing file's *path* with each opener's flags. A backing id registered
//   for one file must therefore never serve an open meant for another: when a filesystem answers an
//   open with a different backing file than the node's (the overlay after a copy-up, while a reader
//   still has the lower file open), the name gets a fresh node and the open answers ESTALE; the VFS
//   then retries the open once with LOOKUP_REVAL, which looks the name up again and opens the new node.
//   The earlier reader keeps the file it opened.
//
// - A regular file with set-id bits is served by the daemon: with HANDLE_KILLPRIV_V2 the kernel
//   leaves dropping those bits on write to the server, and a passthrough write never reaches it
//   (killpriv.ts). A file that gains such bits while open in passthrough keeps that mode until its
//   last release — the one case where an unprivileged write does not drop them.
//
// - A small file opened read-only, when no other open holds its node, is served by the daemon too: a
//   cold `cat` of 3 000 small files was ~12% faster that way (bench/run.js's cat row; the README has
//   the numbers). Passed through, the caller reads the disk itself between OPEN and RELEASE, the
//   daemon's spin has ended by then, and every RELEASE costs a wakeup; served, the READ follows the
//   OPEN at once (readahead started at the open has the data on its way) and the daemon stays awake.
//   Its page cache is kept across opens like any served file's. Writes passed through later cannot
//   leave those pages stale: a passthrough open never carries FOPEN_KEEP_CACHE, so the kernel drops
//   the node's pages at that open (fuse_finish_open), and no served open can fill them again while it
//   is in passthrough mode.
//
// Registration (FUSE_DEV_IOC_BACKING_OPEN) keeps a BackingFile reference: the host fd stays open for
// as long as the kernel may use the backing id, and is put at the node's last release.
import { BackingFile, errnoOf, syscalls } from '@layerfs/backing-io';
import { createLogger } from '@layerfs/fuse-bridge';
import { backingClose, backingOpen } from './dev';
import { hasKillableBits } from './killpriv';

const log = createLogger('wire');

export type PassthroughPolicy = 'auto' | 'off' | 'require';

interface NodeIo {
  passthrough: boolean;
  opens: number;
  backingId: number;
  backing?: BackingFile;
  /** The backing file's identity (st_dev, st_ino), to tell a later open's backing file from another. */
  dev?: bigint;
  ino?: bigint;
}

export type OpenDecision = { passthrough: true; backingId: number } | { passthrough: false } | { stale: true };

/**
 * Read-only opens of files up to this size are served by the daemon (see above): one READ of the
 * kernel's first read-ahead window (128 KiB) covers the whole file.
 */
export const SERVED_READ_MAX = 128 * 1024;

export class PassthroughModes {
  readonly #io = new Map<number, NodeIo>();
  #enabled: boolean;
  /** Backing ids currently registered (for tests and the stats line). */
  registered = 0;
  registrations = 0;

  constructor(
    readonly devFd: number,
    enabled: boolean,
  ) {
    this.#enabled = enabled;
  }

  get enabled(): boolean {
    return this.#enabled;
  }

  /** The backing file the kernel passes `nodeId`'s opens through to, while it has any. */
  backingOf(nodeId: number): BackingFile | undefined {
    return this.#io.get(nodeId)?.backing;
  }

  /**
   * Decide how an open of `nodeId` is served. `backing` is what the filesystem opened for it;
   * `readOnly`: the open neither writes nor truncates.
   */
  open(nodeId: number, backing: BackingFile | undefined, readOnly = false): OpenDecision {
    const io = this.#io.get(nodeId);
    if (io) {
      if (!io.passthrough) {
        io.opens++;
        return { passthrough: false };
      }
      const same = backing && identify(backing);
      if (!same || same.dev !== io.dev || same.ino !== io.ino) return { stale: true };
      io.opens++;
      return { passthrough: true, backingId: io.backingId };
    }
    const file = this.#enabled && backing ? identify(backing) : undefined;
    if (backing && file && !file.setId && !(readOnly && file.size <= SERVED_READ_MAX)) {
      const id = this.#register(backing);
      if (id !== undefined) {
        backing.get();
        this.#io.set(nodeId, { passthrough: true, opens: 1, backingId: id, backing, dev: file.dev, ino: file.ino });
        return { passthrough: true, backingId: id };
      }
    }
    this.#io.set(nodeId, { passthrough: false, opens: 1, backingId: 0 });
    return { passthrough: false };
  }

  isPassthrough(nodeId: number): boolean {
    return this.#io.get(nodeId)?.passthrough ?? false;
  }

  /** One open of the node ended. At the last, the backing id is closed and its reference put. */
  release(nodeId: number): Promise<void> | void {
    const io = this.#io.get(nodeId);
    if (!io) return;
    if (--io.opens > 0) return;
    this.#io.delete(nodeId);
    if (!io.passthrough) return;
    try {
      backingClose(this.devFd, io.backingId);
    } catch (err) {
      log.warn(`closing backing id ${io.backingId} failed: ${(err as Error).message}`);
    }
    this.registered--;
    return io.backing?.put();
  }

  #register(backing: BackingFile): number | undefined {
    try {
      const id = backingOpen(this.devFd, backing.fd);
      this.registered++;
      this.registrations++;
      return id;
    } catch (err) {
      const errno = errnoOf(err);
      if (errno === 1 /* EPERM */) {
        // The kernel withdrew passthrough for the whole connection; serve everything ourselves.
        this.#enabled = false;
        log.warn('kernel passthrough refused (EPERM); reads and writes are served by the daemon from now on');
      } else {
        log.warnOnce(
          `passthrough-${errno}`,
          `kernel passthrough refused for ${backing.userPath} (${(err as Error).message}); such files are served by the daemon`,
        );
      }
      return undefined;
    }
  }

  /** Put every reference still held (after unmount the kernel sends no releases). */
  async closeAll(): Promise<void> {
    const held = [...this.#io.values()];
    this.#io.clear();
    await Promise.all(held.map((io) => io.backing?.put()?.catch(() => undefined)));
  }
}

/**
 * Which file a backing fd is (st_dev, st_ino), its size, and whether it carries set-id bits. statx
 * of the fd itself rather than fs.fstatSync: every open and create asks, and Node's BigIntStats (its
 * Dates and fourteen BigInts) cost more than the syscall.
 */
function identify(b: BackingFile): { dev: bigint; ino: bigint; size: number; setId: boolean } {
  const st = syscalls.statxAt(b.fd, '');
  return { dev: st.dev, ino: st.ino, size: Number(st.size), setId: hasKillableBits(st.mode) };
}
