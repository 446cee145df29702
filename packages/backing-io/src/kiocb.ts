// Models include/linux/fs.h: struct kiocb and kiocb_clone(), and fs/backing-file.c's BACKING_IOCB_MASK.
// A Kiocb is one I/O request: where it starts and how it must be carried out. The backing side gets a
// clone whose flags pass through a named mask, so a flag the backing file must not see (or that only
// makes sense for the user-visible file) never leaks through by accident.
import { constants as fsConstants } from 'node:fs';

/** Request flags (values are ours; only the names follow the kernel's IOCB_*). */
export const IocbFlags = {
  APPEND: 1 << 0,
  DSYNC: 1 << 1,
  SYNC: 1 << 2,
  NOWAIT: 1 << 3,
  HIPRI: 1 << 4,
  /** Direct I/O on the user-visible file; the backing open decides O_DIRECT on its own. */
  DIRECT: 1 << 5,
} as const;
export type IocbFlagSet = number;

/** The flags that carry over from the user's request to the backing file's request. */
export const BACKING_IOCB_MASK: IocbFlagSet = IocbFlags.APPEND | IocbFlags.DSYNC | IocbFlags.SYNC | IocbFlags.NOWAIT | IocbFlags.HIPRI;

export interface Kiocb {
  /** Byte offset; after the I/O, where the next sequential I/O would start. */
  pos: number;
  flags: IocbFlagSet;
}

export function kiocbClone(iocb: Kiocb, mask: IocbFlagSet = BACKING_IOCB_MASK): Kiocb {
  return { pos: iocb.pos, flags: iocb.flags & mask };
}

/** The request flags implied by a file's open(2) flags (the kernel's iocb_flags()). */
export function iocbFlagsFromOpenFlags(openFlags: number): IocbFlagSet {
  let flags = 0;
  if (openFlags & fsConstants.O_APPEND) flags |= IocbFlags.APPEND;
  if (openFlags & fsConstants.O_DIRECT) flags |= IocbFlags.DIRECT;
  // O_SYNC includes the O_DSYNC bit on Linux, so test the full O_SYNC value first.
  if ((openFlags & fsConstants.O_SYNC) === fsConstants.O_SYNC) flags |= IocbFlags.SYNC | IocbFlags.DSYNC;
  else if (openFlags & fsConstants.O_DSYNC) flags |= IocbFlags.DSYNC;
  return flags;
}
