// Models fs/backing-file.c: backing_file_read_iter(), backing_file_write_iter() and the
// backing_file_ctx hooks. Mechanism only: the client filesystem decides which file backs which inode
// and which lock guards its attributes; the core guarantees the fd outlives the request, clones the
// request through BACKING_IOCB_MASK, makes SYNC/DSYNC writes durable before they complete, and runs the
// client's hooks before the request's reference on the file is dropped.
import { BackingAio, AioResult } from './backing-aio';
import { BackingFile, Cred } from './backing-file';
import { IocbFlags, Kiocb, kiocbClone } from './kiocb';

/** The smallest page size (see backingFileReadIter's short NOWAIT reads). */
const PAGE = 4096;

export interface BackingFileCtx {
  /** The caller, as data; backing I/O itself runs with the daemon's credentials. */
  cred?: Cred;
  /** After a successful read: the client may update atime by its own policy. */
  accessed?(file: BackingFile): void;
  /**
   * After a write completed (and, for SYNC/DSYNC, was made durable): the client copies size, mtime
   * and ctime from the backing file into its attribute cache. The client takes its inode lock in
   * here, so completions of one inode are serialized and a cached size never goes backwards.
   * The file's fd stays valid until the returned promise settles.
   */
  endWrite?(file: BackingFile, bytes: number): void | Promise<void>;
}

/** A request for `len` bytes of `buf` at `iocb.pos`. */
export interface IoVec {
  buf: Uint8Array;
  off?: number;
  len?: number;
}

/**
 * A read of `vec.len` bytes at `iocb.pos`: the byte count where the host's page cache held the range
 * (answered at once, the request's cleanup already done), else a promise of it.
 */
export function backingFileReadIter(file: BackingFile, vec: IoVec, iocb: Kiocb, ctx: BackingFileCtx = {}): number | Promise<number> {
  const backingIocb = kiocbClone(iocb);
  const aio = new BackingAio(file, iocb, backingIocb, (_aio, result) => {
    if (result.ok) ctx.accessed?.(file);
  });
  const len = vec.len ?? vec.buf.length - (vec.off ?? 0);
  const off = vec.off ?? 0;
  // IOCB_NOWAIT first: what the host's page cache holds is read at once, without a queue. A NOWAIT
  // read stops at the first page the cache lacks and returns the bytes before it — a short count
  // that is not EOF. Handed on as it is, it would be EOF to the reader: FUSE's kernel side takes a
  // short READ reply as the end of the file, zero-fills the rest of the page and shrinks its size
  // (a daemon-served `cat` of a partly cached file read other bytes; an exec'd binary crashed). So
  // the rest is read again: NOWAIT while the cache holds it, then one queued read. EOF is a read of
  // 0, or a short one that ended inside a page: the cache is filled and looked up in whole pages
  // (folios are aligned to their size, at least 4 KiB), so a NOWAIT read that stops for a missing
  // page stops at a page boundary, and only the file's end stops one elsewhere. Every small file's
  // READ then takes one read(2), not two (the second only to be told 0).
  let done = 0;
  let eof = len === 0;
  while (!eof && done < len && file.io.readNowait) {
    const n = file.io.readNowait(file.fd, vec.buf, off + done, len - done, backingIocb.pos + done);
    if (n === undefined) break;
    if (n === 0 || (n < len - done && (backingIocb.pos + done + n) % PAGE !== 0)) eof = true;
    done += n;
  }
  if (eof || done === len) {
    // Nothing to queue: complete inline, cleanup runs inline at the submitter's put.
    backingIocb.pos += done;
    aio.complete({ ok: true, bytes: done });
  } else {
    file.io.read(file.fd, vec.buf, off + done, len - done, backingIocb.pos + done).then(
      (bytes) => {
        backingIocb.pos += done + bytes;
        aio.complete({ ok: true, bytes: done + bytes });
      },
      (error: unknown) => aio.complete({ ok: false, error }),
    );
  }
  aio.put();
  return aio.doneNow ?? aio.done;
}

/**
 * A write of `vec.len` bytes at `iocb.pos` (at the end for O_APPEND): the byte count where it was
 * done at once (write-at-once.ts) and its completion hook returned no promise, else a promise of it.
 */
export function backingFileWriteIter(file: BackingFile, vec: IoVec, iocb: Kiocb, ctx: BackingFileCtx = {}): number | Promise<number> {
  const backingIocb = kiocbClone(iocb);
  const aio = new BackingAio(file, iocb, backingIocb, (_aio, result) => endWrite(file, result, ctx));
  const len = vec.len ?? vec.buf.length - (vec.off ?? 0);
  if (len === 0) {
    aio.complete({ ok: true, bytes: 0 });
  } else {
    const append = (backingIocb.flags & IocbFlags.APPEND) !== 0;
    // O_APPEND: the backing fd was opened O_APPEND, so write(2) at the file position lets the host
    // kernel pick the offset atomically. Emulating it (fstat, then pwrite at the size) loses records
    // as soon as anyone else appends in between.
    const pos = append ? null : backingIocb.pos;
    // A SYNC/DSYNC write waits for its sync on the threadpool anyway: it goes there whole.
    const synced = (backingIocb.flags & (IocbFlags.SYNC | IocbFlags.DSYNC)) !== 0;
    const now = synced ? undefined : file.io.writeAtOnce?.(file.fd, vec.buf, vec.off ?? 0, len, pos);
    if (now !== undefined) {
      if (!append) backingIocb.pos += now;
      aio.complete({ ok: true, bytes: now });
    } else {
      file.io
        .write(file.fd, vec.buf, vec.off ?? 0, len, pos)
        .then(async (bytes) => {
          if (!append) backingIocb.pos += bytes;
          await writeSync(file, backingIocb);
          aio.complete({ ok: true, bytes });
        })
        .catch((error: unknown) => aio.complete({ ok: false, error }));
    }
  }
  aio.put();
  return aio.doneNow ?? aio.done;
}

/**
 * FSYNC of an open backing file (vfs_fsync on the real file), fdatasync with `datasync`. A reference
 * is held while it runs, so a RELEASE cannot close the fd under a queued sync; synchronous where the
 * sync was done at once (fsync-at-once.ts).
 */
export function backingFileFsync(file: BackingFile, datasync: boolean): Promise<void> | void {
  file.get();
  let synced: Promise<void> | void;
  try {
    synced = datasync ? file.io.fdatasync(file.fd) : file.io.fsync(file.fd);
  } catch (err) {
    void file.put()?.catch(() => undefined);
    throw err;
  }
  return synced instanceof Promise ? synced.finally(() => file.put()) : file.put();
}

/** generic_write_sync(): a SYNC/DSYNC request is durable before it completes. */
function writeSync(file: BackingFile, iocb: Kiocb): Promise<void> | void {
  if (iocb.flags & IocbFlags.SYNC) return file.io.fsync(file.fd);
  if (iocb.flags & IocbFlags.DSYNC) return file.io.fdatasync(file.fd);
}

function endWrite(file: BackingFile, result: AioResult, ctx: BackingFileCtx): void | Promise<void> {
  // Also after a failed or short write: a partial write may have moved size and mtime.
  if (result.ok && result.bytes === 0) return;
  return ctx.endWrite?.(file, result.ok ? result.bytes : 0);
}
