// Unlinking a file's last name frees its blocks there and then (ext4 here: 0.2-0.5 ms for a file
// with data, its eviction journalled), and the caller of unlink(2) waits for that through the FUSE
// round trip: a rollback-journal database pays it on every transaction. fuse-overlayfs moves such a
// file into its work directory and deletes it later; so does this. The name goes at once (a rename
// within the upper layer's filesystem, no eviction); the unlink that frees the blocks runs on the
// threadpool with nobody waiting.
//
// Only a file whose last name this is, that has blocks to free and that nobody has open: with
// other names left or an open handle its inode lives on, the in-place unlink is cheap, and st_nlink
// seen through those must drop before the reply (a file in the work directory still counts as a
// link). A crash between the two steps leaves the file in the work directory, which the next mount
// empties (params.ts cleanWorkdir): it is never visible in the upper layer.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { syscalls } from '@layerfs/backing-io';
import { createLogger } from '@layerfs/fuse-bridge';
import { tempName, type CopyUpCtx } from './copy-up';

const log = createLogger('overlay');
/**
 * Remove the upper file `real` (a path for ovl.paths), deferring the freeing of its blocks when that
 * pays. `open`: the node has open handles, or holds its file by an fd (OvlInode.pinned) — then
 * nothing is freed here (its last close does that),
 * and fstat through them must show st_nlink 0 as soon as unlink returns: unlinked in place.
 */
export function unlinkUpperFile(cu: CopyUpCtx, real: string, open: boolean): void {
  const paths = cu.ovl.paths;
  const st = paths.lstat(real);
  if (open || !st.isFile() || st.nlink !== 1n || st.blocks === 0n) {
    paths.unlink(real);
    return;
  }
  const tmpName = tempName();
  const tmp = paths.workPath(path.join(cu.workDir, tmpName));
  const { dir, name } = paths.parentOf(real);
  try {
    // From the name in its parent's fd to the name in the work directory's fd.
    syscalls.renameAt(dir, name, paths.workFd, tmpName);
  } catch {
    // A move the host refuses (upper and workdir on two mounts of one filesystem: EXDEV): unlink in place.
    paths.unlink(real);
    return;
  }
  fs.unlink(tmp, (err) => {
    if (err) log.warn(`work directory: ${tmp} not removed (${err.code ?? err.message}); the next mount removes it`);
  });
}
