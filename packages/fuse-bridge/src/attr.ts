// One attribute record and the one function that builds it. Every reply that carries attributes
// (getattr, readdir entries, create, and on the wire transport lookup/READDIRPLUS) goes through
// attrFromStats(), so no reply can ever carry half an attribute set (bindfs #158: size 0 in
// READDIRPLUS entries made git crash with SIGBUS).
import type { BigIntStats, BigIntStatsFs } from 'node:fs';
import type { StatxResult } from '@layerfs/backing-io';

export type Ino = bigint & { readonly __brand: 'Ino' };

/**
 * What every attribute reply carries: statx's fields (backing-io's StatxResult, so a statx answer is
 * an Attr as it is) with st_ino branded, less the device (FUSE has its own).
 */
export interface Attr extends Omit<StatxResult, 'dev' | 'ino' | 'btimeNs'> {
  ino: Ino;
}

export function attrFromStats(st: BigIntStats, ino: bigint = st.ino): Attr {
  return {
    ino: ino as Ino,
    mode: Number(st.mode),
    nlink: Number(st.nlink),
    uid: Number(st.uid),
    gid: Number(st.gid),
    rdev: Number(st.rdev),
    size: st.size,
    blocks: st.blocks,
    blksize: Number(st.blksize),
    atimeNs: st.atimeNs,
    mtimeNs: st.mtimeNs,
    ctimeNs: st.ctimeNs,
  };
}

export interface StatFs {
  bsize: number;
  frsize: number;
  blocks: bigint;
  bfree: bigint;
  bavail: bigint;
  files: bigint;
  ffree: bigint;
  namemax: number;
}

/** statfs(2)'s answer as the transports send it (f_frsize is f_bsize on Linux's local filesystems). */
export function statFsFrom(s: BigIntStatsFs): StatFs {
  return {
    bsize: Number(s.bsize),
    frsize: Number(s.bsize),
    blocks: s.blocks,
    bfree: s.bfree,
    bavail: s.bavail,
    files: s.files,
    ffree: s.ffree,
    namemax: 255,
  };
}
