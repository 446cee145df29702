// Open files of the merged view: the kernel's fs/overlayfs/file.c. An open handle names its node and
// the real file it has open; I/O goes through backing-io exactly as in passthrough. A handle opened
// for writing was copied up at open; one opened read-only on a lower file follows a later copy-up
// of its node (followCopyUp), as the kernel's stacked file operations do since 4.19.
import * as fs from 'node:fs';
import {
  BackingFile,
  backingFileCopyRange,
  backingFileFallocate,
  backingFileLseek,
  backingFileOpen,
  backingFileReadIter,
  backingFileWriteIter,
  backingFileFsync,
  backingTmpfileOpen,
  FsError,
  fdPath,
  O_ACCMODE,
  TMPFILE_NAME,
  syscalls,
  thenMaybe,
} from '@layerfs/backing-io';
import type { Fh, OpenReply, Reply, RequestContext } from '@layerfs/fuse-bridge';
import { copyUp, copyUpTruncated } from './copy-up';
import { Ovl, assertWritable } from './ovl-fs';
import type { OvlFile, OvlInode } from './ovl-inode';

const { O_RDONLY, O_TRUNC, O_CREAT, O_EXCL } = fs.constants;

/** The handle `fh` of `n`; without one, any open handle of a node that has no name left (fstat after unlink). */
export function openFileOf(ovl: Ovl, n: OvlInode, fh?: Fh): OvlFile | undefined {
  const f = ovl.files.find(fh);
  if (f) return f;
  return n.detached ? n.openFiles.values().next().value : undefined;
}

export function isLowerFile(ovl: Ovl, b: BackingFile): boolean {
  return !ovl.upperRoot || !b.realPath.startsWith(ovl.upperRoot + '/');
}

/**
 * open(2) of a real file for backing-io: below its layer root, never through a symlink, never
 * waiting on a FIFO put in a layer behind the mount (syscalls.openWithoutWaiting).
 */
function openReal(ovl: Ovl): (real: string, flags: number, mode: number) => number {
  return (real, flags, mode) => syscalls.openWithoutWaiting(flags, (f) => ovl.paths.open(real, f, mode));
}

/**
 * Synchronous unless it copies up: most opens are of a file already where it is read from, and a
 * reply written before returning to the event loop costs no promise, no microtask and no
 * setImmediate round before the request loop may spin for the next one.
 */
export function open(ovl: Ovl, ctx: RequestContext, n: OvlInode, flags: number): Reply<OpenReply> {
  const writes = (flags & O_ACCMODE) !== O_RDONLY || (flags & O_TRUNC) !== 0;
  if (n.detached) {
    // The name went: its pin, or a handle still open on it (an open of /proc/self/fd/N of a file
    // unlinked while open, which the kernel sends as OPEN of its node), reaches the file.
    const f = n.pinned ? undefined : n.openFiles.values().next().value;
    const held = n.pinned ?? (f ? { fd: f.backing.fd, real: f.backing.realPath } : undefined);
    if (held) return openPinned(ovl, ctx, n, held, flags, writes);
  }
  const ino = n.ino;
  let real: string | Promise<string>;
  if (writes && (!n.state.hasUpper || n.state.lowerData)) {
    const cu = assertWritable(ovl, 'open', n.name);
    real = flags & O_TRUNC ? copyUpTruncated(cu, n) : copyUp(cu, n);
  } else {
    real = ovl.dataReal(n);
  }
  return thenMaybe(real, (realPath) =>
    thenMaybe(
      backingFileOpen({ userPath: n.name, realPath, flags, cred: ctx, createFlags: flags & O_TRUNC, openFile: openReal(ovl) }),
      (backing) => {
        const r = register(ovl, n, backing);
        return n.ino === ino ? r : { ...r, attrChanged: true };
      },
    ),
  );
}

/**
 * Open of a node whose name went (OvlInode.pinned, or an open handle's fd): its own file, through
 * the magic link of the fd that holds it. A lower file cannot come up without a name (nor can it in
 * the kernel).
 */
function openPinned(
  ovl: Ovl,
  ctx: RequestContext,
  n: OvlInode,
  pinned: { fd: number; real: string },
  flags: number,
  writes: boolean,
): Reply<OpenReply> {
  if (writes && !n.state.hasUpper) throw new FsError('ENOENT', 'open', n.name, 'a lower file without a name cannot be copied up');
  const link = fdPath(pinned.fd);
  const reopen = (_real: string, f: number) =>
    fs.openSync(link, f & ~(fs.constants.O_NOFOLLOW | fs.constants.O_CREAT | fs.constants.O_EXCL));
  return thenMaybe(
    backingFileOpen({ userPath: n.name, realPath: pinned.real, flags, cred: ctx, createFlags: flags & O_TRUNC, openFile: reopen }),
    (backing) => register(ovl, n, backing),
  );
}

/** The open half of CREATE: `real` is the new entry's place in the upper layer (prepared by dir.ts). */
export async function openNew(ovl: Ovl, ctx: RequestContext, real: string, mode: number, flags: number): Promise<BackingFile> {
  const backing = await backingFileOpen({
    userPath: real,
    realPath: real,
    flags,
    cred: ctx,
    mode,
    createFlags: O_CREAT | O_EXCL,
    openFile: openReal(ovl),
  });
  ovl.own(real, ctx, backing.fd);
  return backing;
}

/** As the kernel's ovl_tmpfile: in the upper directory, copied up first. */
export async function tmpfile(ovl: Ovl, ctx: RequestContext, dir: OvlInode, mode: number, flags: number): Promise<BackingFile> {
  const cu = assertWritable(ovl, 'tmpfile', dir.name);
  if (!dir.isDir) throw new FsError('ENOTDIR', 'tmpfile', dir.name);
  const upperDir = await copyUp(cu, dir);
  const userPath = `${dir.name}/${TMPFILE_NAME}`;
  const backing = await backingTmpfileOpen({ userPath, dir: upperDir, flags, cred: ctx, mode, openFile: openReal(ovl) });
  ovl.own(backing.realPath, ctx, backing.fd);
  return backing;
}

export function register(ovl: Ovl, n: OvlInode, backing: BackingFile): OpenReply {
  const f: OvlFile = { node: n, backing };
  n.opened(f);
  return { fh: ovl.files.add(f), backing };
}

export function read(ovl: Ovl, fh: Fh, buf: Buffer, position: number): Reply<number> {
  const f = ovl.files.get(fh, 'read');
  return thenMaybe(followCopyUp(ovl, f), (b) => backingFileReadIter(b, { buf }, { pos: position, flags: b.iocbFlags }, ovl.io));
}

/**
 * The kernel's behaviour since 4.19 (stacked file operations): a file opened read-only before a
 * copy-up reads the upper file afterwards (ovl_real_fdget re-opens it). Only a MAP_SHARED mapping
 * made before the copy-up keeps showing the lower file. The node says where its upper file is now,
 * whatever name it has: a rename never sends the handle to another file.
 */
export function followCopyUp(ovl: Ovl, f: OvlFile): BackingFile | Promise<BackingFile> {
  const n = f.node;
  if (!mustFollowCopyUp(ovl, f)) return f.backing;
  return thenMaybe(
    backingFileOpen({ userPath: n.name, realPath: ovl.upperReal(n), flags: f.backing.flags, openFile: openReal(ovl) }),
    (b) => {
      const old = f.backing;
      f.backing = b;
      void old.put()?.catch(() => undefined);
      return b;
    },
  );
}

/**
 * Whether the handle still reads a lower file its node has since copied up (a metadata-only copy
 * still reads its lower data file: that is not yet the upper file's).
 */
function mustFollowCopyUp(ovl: Ovl, f: OvlFile): boolean {
  const s = f.node.state;
  return ovl.cu !== undefined && s.hasUpper && s.lowerData === undefined && !f.node.detached && isLowerFile(ovl, f.backing);
}

/** The fd read() would read `fh` from, where no copy-up is to follow first (that read() does). */
export function readFd(ovl: Ovl, fh: Fh): number | undefined {
  const f = ovl.files.get(fh, 'read');
  if (mustFollowCopyUp(ovl, f) || f.backing.flags & fs.constants.O_DIRECT) return undefined;
  return f.backing.fd;
}

export function write(ovl: Ovl, fh: Fh, buf: Buffer, position: number): Reply<number> {
  const { backing } = ovl.files.get(fh, 'write');
  return backingFileWriteIter(backing, { buf }, { pos: position, flags: backing.iocbFlags }, ovl.io);
}

/** FSYNC: the handle's real file synced, unless fsync=0 or volatile (then answered at once, as the kernel's volatile). */
export function fsync(ovl: Ovl, datasync: boolean, fh?: Fh): Promise<void> | void {
  const f = ovl.files.find(fh);
  if (!f || ovl.noFsync) return undefined;
  return backingFileFsync(f.backing, datasync);
}

export function release(ovl: Ovl, fh: Fh): Promise<void> | undefined {
  const f = ovl.files.remove(fh, 'release');
  f.node.closed(f);
  return f.backing.put();
}

// -- ranges (wire transport only) ---------------------------------------------------------------
// A handle that can write was copied up at open, so fallocate and a copy's destination act on the
// upper file; reads of ranges (SEEK_DATA, a copy's source) follow a later copy-up as read does.

export function fallocate(ovl: Ovl, fh: Fh, mode: number, offset: number, length: number): void {
  backingFileFallocate(ovl.files.get(fh, 'fallocate').backing, mode, offset, length);
}

export function lseek(ovl: Ovl, fh: Fh, offset: number, whence: number): Reply<number> {
  return thenMaybe(followCopyUp(ovl, ovl.files.get(fh, 'lseek')), (b) => backingFileLseek(b, offset, whence));
}

export function copyFileRange(ovl: Ovl, from: { fh: Fh; offset: number }, to: { fh: Fh; offset: number }, length: number): Reply<number> {
  const dst = ovl.files.get(to.fh, 'copy_file_range').backing;
  return thenMaybe(followCopyUp(ovl, ovl.files.get(from.fh, 'copy_file_range')), (src) =>
    backingFileCopyRange(src, from.offset, dst, to.offset, length),
  );
}

export async function closeAll(ovl: Ovl): Promise<void> {
  await Promise.all(ovl.files.values().map((f) => f.backing.put()?.catch(() => undefined)));
}
