// Which WireOps method answers each opcode: one indexed load per request.
//
// A switch over `Opcode.X` cases compiles, while V8 still interprets the loop (a fresh daemon's
// first thousands of requests), to a property load and a comparison per case tried: the 25th case
// (GETXATTR, asked twice per file by `ls -l`) cost ~50 loads before its handler ran. An array
// indexed by opcode costs the same for every opcode at every tier.
//
// Left out, each answered ENOSYS by the session so the kernel uses its own fallback: locks (not
// negotiated: the kernel keeps them locally), STATX (→ GETATTR), SYNCFS (→ success without a round
// trip), IOCTL, POLL, BMAP, DAX mappings. INIT and INTERRUPT are the session's own.
import type { NodeId, RequestContext } from '@layerfs/fuse-bridge';
import { Opcode } from './abi';
import { Request, replyBuffer } from './codec';
import type { OpResult, WireOps } from './ops';

export type OpHandler = (o: WireOps, req: Request, ctx: RequestContext, node: NodeId) => OpResult;

const entries: [number, OpHandler][] = [
  [Opcode.FORGET, (o, req) => o.forget(req)],
  [Opcode.BATCH_FORGET, (o, req) => o.batchForget(req)],
  [Opcode.DESTROY, (_o, req) => replyBuffer(req.unique, 0)],
  [Opcode.READDIR, (o, req, ctx) => o.readdir(req, ctx)],
  [Opcode.READDIRPLUS, (o, req, ctx) => o.readdirplus(req, ctx)],
  [Opcode.RELEASEDIR, (o, req, ctx) => o.releasedir(req, ctx)],
  [Opcode.LOOKUP, (o, req, ctx, node) => o.lookup(req, ctx, node)],
  [Opcode.GETATTR, (o, req, ctx, node) => o.getattr(req, ctx, node)],
  [Opcode.SETATTR, (o, req, ctx, node) => o.setattr(req, ctx, node)],
  [Opcode.READLINK, (o, req, ctx, node) => o.readlink(req, ctx, node)],
  [Opcode.SYMLINK, (o, req, ctx, node) => o.symlink(req, ctx, node)],
  [Opcode.MKNOD, (o, req, ctx, node) => o.mknod(req, ctx, node)],
  [Opcode.MKDIR, (o, req, ctx, node) => o.mkdir(req, ctx, node)],
  [Opcode.UNLINK, (o, req, ctx, node) => o.unlink(req, ctx, node)],
  [Opcode.RMDIR, (o, req, ctx, node) => o.rmdir(req, ctx, node)],
  [Opcode.RENAME, (o, req, ctx, node) => o.rename(req, ctx, node)],
  [Opcode.RENAME2, (o, req, ctx, node) => o.rename(req, ctx, node)],
  [Opcode.LINK, (o, req, ctx, node) => o.link(req, ctx, node)],
  [Opcode.OPEN, (o, req, ctx, node) => o.open(req, ctx, node)],
  [Opcode.CREATE, (o, req, ctx, node) => o.create(req, ctx, node)],
  [Opcode.READ, (o, req, ctx, node) => o.read(req, ctx, node)],
  [Opcode.WRITE, (o, req, ctx, node) => o.write(req, ctx, node)],
  [Opcode.STATFS, (o, req, ctx, node) => o.statfs(req, ctx, node)],
  [Opcode.RELEASE, (o, req, ctx, node) => o.release(req, ctx, node)],
  [Opcode.FSYNC, (o, req, ctx, node) => o.fsync(req, ctx, node)],
  [Opcode.FLUSH, (o, req, ctx, node) => o.flush(req, ctx, node)],
  [Opcode.SETXATTR, (o, req, ctx, node) => o.setxattr(req, ctx, node)],
  [Opcode.GETXATTR, (o, req, ctx, node) => o.getxattr(req, ctx, node)],
  [Opcode.LISTXATTR, (o, req, ctx, node) => o.listxattr(req, ctx, node)],
  [Opcode.REMOVEXATTR, (o, req, ctx, node) => o.removexattr(req, ctx, node)],
  [Opcode.OPENDIR, (o, req, ctx, node) => o.opendir(req, ctx, node)],
  [Opcode.FSYNCDIR, (o, req, ctx, node) => o.fsyncdir(req, ctx, node)],
  [Opcode.ACCESS, (o, req, ctx, node) => o.access(req, ctx, node)],
  [Opcode.FALLOCATE, (o, req, ctx, node) => o.fallocate(req, ctx, node)],
  [Opcode.LSEEK, (o, req, ctx, node) => o.lseek(req, ctx, node)],
  [Opcode.COPY_FILE_RANGE, (o, req, ctx, node) => o.copyFileRange(req, ctx, node)],
  [Opcode.TMPFILE, (o, req, ctx, node) => o.tmpfile(req, ctx, node)],
];

/** The handler of each opcode this transport answers, by opcode; undefined for the rest (ENOSYS). */
export const opTable: readonly (OpHandler | undefined)[] = (() => {
  // Every slot filled (a packed array: no holes for the indexed load to check the prototype for).
  const table: (OpHandler | undefined)[] = Array.from({ length: Opcode.STATX + 1 }, () => undefined);
  for (const [op, h] of entries) table[op] = h;
  return table;
})();
