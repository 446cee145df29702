// readdir of a merged directory. Models fs/overlayfs/readdir.c: every layer's entries, top first,
// each name once (the topmost wins); whiteouts hide the name in the layers below and are not listed
// themselves; an opaque directory ends the merge (namei already cut `dirs` there).
//
// The whole listing is built at once, so it is stable however entries change while a caller is
// still reading it (libfuse 2 buffers it too). d_ino is the same number getattr reports.
import * as path from 'node:path';
import { syscalls } from '@layerfs/backing-io';
import type { DirEntry } from '@layerfs/fuse-bridge';
import { dirMarks, type RealRef } from './namei';
import { isWhiteout } from './whiteout';
import type { LayerPaths } from './layer-paths';
import { AUFS_WHITEOUT_PREFIX } from './xattr-names';
import * as fs from 'node:fs';

const S_IFCHR = fs.constants.S_IFCHR;
const S_IFREG = fs.constants.S_IFREG;

/** What getattr would report as st_ino for the entry `name` of the real directory `from`. */
export type DirentIno = (name: string, realIno: bigint, type: number, from: RealRef) => bigint;

/**
 * The merged listing of the real directories `dirs` (top first, as namei found them). `inoOf` maps
 * each entry to getattr's st_ino (identity where it does not matter).
 */
export function readMergedDir(paths: LayerPaths, dirs: readonly RealRef[], inoOf: DirentIno = (_n, ino) => ino): DirEntry[] {
  const seen = new Set<string>();
  const out: DirEntry[] = [];
  for (const d of dirs) {
    const listing = paths.withFd(d.real, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY, (fd) => syscalls.readdirFd(fd));
    // aufs whiteouts hide their name here and below, and are never listed themselves.
    for (const e of listing) {
      if (e.name.startsWith(AUFS_WHITEOUT_PREFIX)) seen.add(e.name.slice(AUFS_WHITEOUT_PREFIX.length));
    }
    // As the kernel's ovl_dir_read: xattr whiteouts only in a directory marked for them; empty regular
    // files elsewhere are files, and are not stat'ed one by one to find out.
    const xwhiteouts = dirMarks(paths, d.real).xwhiteouts;
    for (const e of listing) {
      if (e.name.startsWith(AUFS_WHITEOUT_PREFIX) || seen.has(e.name)) continue;
      seen.add(e.name);
      // Only character devices, and empty regular files in a directory marked for them, can be
      // whiteouts: stat just those (and entries whose type the listing does not say).
      if (e.type === S_IFCHR || e.type === 0 || (xwhiteouts && e.type === S_IFREG)) {
        const real = path.join(d.real, e.name);
        let st: fs.BigIntStats;
        try {
          st = paths.lstat(real);
        } catch {
          continue; // gone since the listing: not there any more
        }
        if ((e.type !== S_IFREG || st.size === 0n) && isWhiteout(paths, real, st)) continue;
      }
      out.push({ name: e.name, ino: inoOf(e.name, e.ino, e.type, d), type: e.type });
    }
  }
  return out;
}
