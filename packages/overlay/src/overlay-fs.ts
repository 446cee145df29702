// OverlayFs: a union of read-only lower layers and one writable upper layer, in the kernel's
// on-disk format, served on the node-based handler interface. This file is the kernel's super.c:
// it owns the shared state (ovl-fs.ts) and hands each request to the file that models the kernel's
// counterpart — lookups and names to dir.ts, attributes to inode.ts, open files to file.ts, extended
// attributes to xattr.ts; copy-up.ts, namei.ts, readdir.ts and whiteout.ts do the on-disk work.
import {
  Attr,
  CreateReply,
  DirEntry,
  Entry,
  Fh,
  FileRange,
  NodeHandlers,
  NodeId,
  OpenReply,
  Reply,
  RequestContext,
  SetattrTimes,
  StatFs,
} from '@layerfs/fuse-bridge';
import { fstatSync } from 'node:fs';
import { FsError } from '@layerfs/backing-io';
import * as dir from './dir';
import * as file from './file';
import * as inode from './inode';
import { Ovl, OverlayFsOptions } from './ovl-fs';
import type { OvlInode } from './ovl-inode';
import * as xattr from './xattr';

export type { OverlayFsOptions } from './ovl-fs';

export class OverlayFs implements NodeHandlers {
  readonly #ovl: Ovl;
  readonly backingRoots: readonly string[];
  /** The layers change only through this mount (overlayfs.rst: anything else is undefined). */
  readonly exclusive = true;

  constructor(opts: OverlayFsOptions) {
    this.#ovl = new Ovl(opts);
    this.backingRoots = this.#ovl.roots;
  }

  /** Nodes the kernel holds (for tests and memory accounting). */
  get nodeCount(): number {
    return this.#ovl.inodes.size;
  }

  #n(id: NodeId): OvlInode {
    return this.#ovl.inodes.get(id);
  }

  lookup(_ctx: RequestContext, parent: NodeId, name: string): Entry | undefined {
    return dir.lookup(this.#ovl, this.#n(parent), name);
  }

  forget(node: NodeId, nlookup: number): void {
    this.#ovl.inodes.forget(node, nlookup);
  }

  supersede(node: NodeId): void {
    this.#ovl.inodes.supersede(this.#n(node));
  }

  // -- attributes ---------------------------------------------------------------------------------

  getattr(_ctx: RequestContext, node: NodeId, fh?: Fh): Reply<Attr> {
    return inode.getattr(this.#ovl, this.#n(node), fh);
  }

  statfs(): Promise<StatFs> {
    return inode.statfs(this.#ovl);
  }

  chmod(_ctx: RequestContext, node: NodeId, mode: number): Promise<void> {
    return inode.chmod(this.#ovl, this.#n(node), mode);
  }

  chown(_ctx: RequestContext, node: NodeId, uid: number, gid: number): Promise<void> {
    return inode.chown(this.#ovl, this.#n(node), uid, gid);
  }

  utimens(_ctx: RequestContext, node: NodeId, times: SetattrTimes): Promise<void> {
    return inode.utimens(this.#ovl, this.#n(node), times);
  }

  truncate(_ctx: RequestContext, node: NodeId, size: number, fh?: Fh): Promise<void> {
    return inode.truncate(this.#ovl, this.#n(node), size, fh);
  }

  readlink(_ctx: RequestContext, node: NodeId): string {
    return inode.readlink(this.#ovl, this.#n(node));
  }

  // -- names --------------------------------------------------------------------------------------

  readdir(_ctx: RequestContext, node: NodeId): DirEntry[] {
    return dir.readdir(this.#ovl, this.#n(node));
  }

  mkdir(ctx: RequestContext, parent: NodeId, name: string, mode: number): Promise<Entry> {
    return dir.mkdir(this.#ovl, ctx, this.#n(parent), name, mode);
  }

  mknod(ctx: RequestContext, parent: NodeId, name: string, mode: number, rdev: number): Promise<Entry> {
    return dir.mknod(this.#ovl, ctx, this.#n(parent), name, mode, rdev);
  }

  symlink(ctx: RequestContext, parent: NodeId, name: string, target: string): Promise<Entry> {
    return dir.symlink(this.#ovl, ctx, this.#n(parent), name, target);
  }

  link(_ctx: RequestContext, node: NodeId, newParent: NodeId, newName: string): Promise<Entry> {
    return dir.link(this.#ovl, this.#n(node), this.#n(newParent), newName);
  }

  unlink(_ctx: RequestContext, parent: NodeId, name: string): Promise<void> {
    return dir.unlink(this.#ovl, this.#n(parent), name);
  }

  rmdir(_ctx: RequestContext, parent: NodeId, name: string): Promise<void> {
    return dir.rmdir(this.#ovl, this.#n(parent), name);
  }

  rename(_ctx: RequestContext, parent: NodeId, name: string, newParent: NodeId, newName: string, flags: number): Promise<void> {
    return dir.rename(this.#ovl, this.#n(parent), name, this.#n(newParent), newName, flags);
  }

  // -- files --------------------------------------------------------------------------------------

  open(ctx: RequestContext, node: NodeId, flags: number): Reply<OpenReply> {
    return file.open(this.#ovl, ctx, this.#n(node), flags);
  }

  async create(ctx: RequestContext, parent: NodeId, name: string, mode: number, flags: number): Promise<CreateReply> {
    const p = this.#n(parent);
    const { real, overWhiteout } = await dir.prepareCreate(this.#ovl, 'create', p, name);
    const backing = await file.openNew(this.#ovl, ctx, real, mode, flags);
    try {
      const entry = dir.created(this.#ovl, p, name, real, overWhiteout, fstatSync(backing.fd, { bigint: true }));
      return { entry, open: file.register(this.#ovl, this.#n(entry.node), backing) };
    } catch (err) {
      await backing.put();
      throw err;
    }
  }

  async tmpfile(ctx: RequestContext, parent: NodeId, mode: number, flags: number): Promise<CreateReply> {
    const ovl = this.#ovl;
    const backing = await file.tmpfile(ovl, ctx, this.#n(parent), mode, flags);
    const st = await backing.io.fstat(backing.fd);
    const n = ovl.inodes.anonymous(
      {
        type: Number(st.mode) & 0o170000,
        hasUpper: true,
        lower: [],
        inLower: false,
        lowerData: undefined,
        lowerPath: '',
        lowerXattrNames: undefined,
      },
      st.ino,
    );
    return { entry: { node: n.id as NodeId, generation: 0, attr: ovl.attrOf(n, st, backing.fd) }, open: file.register(ovl, n, backing) };
  }

  read(_ctx: RequestContext, _node: NodeId, fh: Fh, buf: Buffer, position: number): Reply<number> {
    return file.read(this.#ovl, fh, buf, position);
  }

  readFd(_ctx: RequestContext, _node: NodeId, fh: Fh): number | undefined {
    return file.readFd(this.#ovl, fh);
  }

  write(_ctx: RequestContext, _node: NodeId, fh: Fh, buf: Buffer, position: number): Reply<number> {
    return file.write(this.#ovl, fh, buf, position);
  }

  fsync(_ctx: RequestContext, _node: NodeId, datasync: boolean, fh?: Fh): Reply<void> {
    return file.fsync(this.#ovl, datasync, fh);
  }

  fsyncdir(_ctx: RequestContext, node: NodeId): Reply<void> {
    return dir.fsyncdir(this.#ovl, this.#n(node));
  }

  release(_ctx: RequestContext, _node: NodeId, fh: Fh): Reply<void> {
    return file.release(this.#ovl, fh);
  }

  fallocate(_ctx: RequestContext, _node: NodeId, fh: Fh, mode: number, offset: number, length: number): void {
    file.fallocate(this.#ovl, fh, mode, offset, length);
  }

  lseek(_ctx: RequestContext, _node: NodeId, fh: Fh, offset: number, whence: number): Reply<number> {
    return file.lseek(this.#ovl, fh, offset, whence);
  }

  copyFileRange(_ctx: RequestContext, from: FileRange, to: FileRange, length: number): Reply<number> {
    return file.copyFileRange(this.#ovl, from, to, length);
  }

  // -- extended attributes ------------------------------------------------------------------------

  /** noxattrs (fuse-overlayfs's): ENOSYS, after which the kernel asks no more and callers get EOPNOTSUPP. */
  #xattrs(op: string): void {
    if (this.#ovl.noXattrs) throw new FsError('ENOSYS', op);
  }

  setxattr(_ctx: RequestContext, node: NodeId, name: string, value: Buffer, flags: number): Promise<void> {
    this.#xattrs('setxattr');
    return xattr.setxattr(this.#ovl, this.#n(node), name, value, flags);
  }

  getxattr(_ctx: RequestContext, node: NodeId, name: string): Buffer | undefined {
    this.#xattrs('getxattr');
    return xattr.getxattr(this.#ovl, this.#n(node), name);
  }

  listxattr(_ctx: RequestContext, node: NodeId): string[] {
    this.#xattrs('listxattr');
    return xattr.listxattr(this.#ovl, this.#n(node));
  }

  removexattr(_ctx: RequestContext, node: NodeId, name: string): Promise<void> {
    this.#xattrs('removexattr');
    return xattr.removexattr(this.#ovl, this.#n(node), name);
  }

  async destroy(): Promise<void> {
    // Everything that holds a layer is let go before anything is waited for: the filesystems under
    // the layers may be unmounted right after ours (`umount MNT && umount LAYER-FS`).
    const files = file.closeAll(this.#ovl);
    this.#ovl.inodes.closePinned();
    this.#ovl.close();
    await files;
  }
}
