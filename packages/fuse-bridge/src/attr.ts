// One attribute record and the one function that builds it. Every reply that carries attributes
// (getattr, readdir entries, create, and on the wire transport lookup/READDIRPLUS) goes through
// attrFromStats(), so no reply can ever carry half an attribute set (bindfs #158: size 0 in
// READDIRPLUS entries made git crash with SIGBUS).
import type { BigIntStats } from 'node:fs';

export type Ino = bigint & { readonly __brand: 'Ino' };

export interface Attr {
  ino: Ino;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
  size: bigint;
  blocks: bigint;
  blksize: number;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
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
