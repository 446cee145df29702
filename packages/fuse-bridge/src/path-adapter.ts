// servePathHandlers(): a path-based filesystem (PathHandlers) as NodeHandlers, by keeping one node per
// name looked up (path-node-table.ts). Transitional: it carries the path-based overlay while that
// moves to nodes. The guarantees it can give are the table's: an open handle keeps its node across
// renames (its I/O goes by handle), but every other request resolves its node's current path again.
import { FsError, thenMaybe } from '@layerfs/backing-io';
import type { Attr, StatFs } from './attr';
import type {
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
} from './handler';
import { RENAME_EXCHANGE } from './handler';
import type { PathHandlers } from './path-handlers';
import { PathNode, PathNodeTable } from './path-node-table';

export function servePathHandlers(h: PathHandlers): NodeHandlers {
  return new PathAdapter(h);
}

class PathAdapter implements NodeHandlers {
  readonly #h: PathHandlers;
  readonly #nodes = new PathNodeTable();
  readonly backingRoots?: readonly string[];
  readonly exclusive?: boolean;

  constructor(h: PathHandlers) {
    this.#h = h;
    this.backingRoots = h.backingRoots;
    this.exclusive = h.exclusive;
  }

  init(): Reply<void> {
    return this.#h.init?.();
  }

  destroy(): Reply<void> {
    return this.#h.destroy?.();
  }

  #node(id: NodeId): PathNode {
    return this.#nodes.get(id);
  }

  #entry(parent: PathNode, name: string, attr: Attr): Entry {
    const n = this.#nodes.lookup(parent, name);
    return { node: n.id as NodeId, generation: n.generation, attr };
  }

  /** Reply with the entry for `name` once a create-like operation succeeded. */
  #entryAfter(ctx: RequestContext, parent: PathNode, name: string, done: Reply<void>): Reply<Entry> {
    return thenMaybe(done, () => thenMaybe(this.#h.getattr(ctx, parent.childPath(name)), (attr) => this.#entry(parent, name, attr)));
  }

  /** Handlers use the path of an I/O on an open handle only in messages; an unlinked file has none. */
  #ioPath(n: PathNode): string {
    return n.detached ? `(deleted) ${n.name}` : n.path();
  }

  lookup(ctx: RequestContext, parent: NodeId, name: string): Reply<Entry> {
    const p = this.#node(parent);
    return thenMaybe(this.#h.getattr(ctx, p.childPath(name)), (attr) => this.#entry(p, name, attr));
  }

  forget(node: NodeId, nlookup: number): void {
    this.#nodes.forget(node, nlookup);
  }

  supersede(node: NodeId): void {
    this.#nodes.supersede(this.#node(node));
  }

  getattr(ctx: RequestContext, node: NodeId, fh?: Fh): Reply<Attr> {
    const n = this.#node(node);
    if (n.detached) {
      // fstat after unlink: through one of its open handles.
      const open = fh ?? (n.openFhs.values().next().value as Fh | undefined);
      if (open !== undefined) return this.#h.getattr(ctx, this.#ioPath(n), open);
    }
    return this.#h.getattr(ctx, n.path(), fh);
  }

  access(ctx: RequestContext, node: NodeId, mask: number): Reply<void> {
    return this.#h.access?.(ctx, this.#node(node).path(), mask);
  }

  statfs(ctx: RequestContext, node: NodeId): Reply<StatFs> {
    const n = this.#node(node);
    return this.#h.statfs(ctx, n.detached ? '/' : n.path());
  }

  opendir(ctx: RequestContext, node: NodeId, flags: number): Reply<Fh> {
    return this.#h.opendir ? this.#h.opendir(ctx, this.#node(node).path(), flags) : (0 as Fh);
  }

  readdir(ctx: RequestContext, node: NodeId, fh?: Fh): Reply<DirEntry[]> {
    return this.#h.readdir(ctx, this.#node(node).path(), fh || undefined);
  }

  releasedir(ctx: RequestContext, node: NodeId, fh: Fh): Reply<void> {
    if (!fh || !this.#h.releasedir) return;
    return this.#h.releasedir(ctx, this.#ioPath(this.#node(node)), fh);
  }

  fsyncdir(ctx: RequestContext, node: NodeId, datasync: boolean, fh?: Fh): Reply<void> {
    if (!this.#h.fsyncdir) throw new FsError('ENOSYS', 'fsyncdir');
    return this.#h.fsyncdir(ctx, this.#node(node).path(), datasync, fh || undefined);
  }

  open(ctx: RequestContext, node: NodeId, flags: number): Reply<OpenReply> {
    const n = this.#node(node);
    return thenMaybe(this.#h.open(ctx, n.path(), flags), (r) => {
      n.openFhs.add(r.fh);
      return r;
    });
  }

  create(ctx: RequestContext, parent: NodeId, name: string, mode: number, flags: number): Reply<CreateReply> {
    const p = this.#node(parent);
    const path = p.childPath(name);
    return thenMaybe(this.#h.create(ctx, path, mode, flags), (open) =>
      thenMaybe(this.#h.getattr(ctx, path, open.fh), (attr) => {
        const entry = this.#entry(p, name, attr);
        this.#node(entry.node).openFhs.add(open.fh);
        return { entry, open };
      }),
    );
  }

  tmpfile(ctx: RequestContext, parent: NodeId, mode: number, flags: number): Reply<CreateReply> {
    const tmpfile = this.#h.tmpfile?.bind(this.#h);
    if (!tmpfile) throw new FsError('ENOSYS', 'tmpfile');
    return thenMaybe(tmpfile(ctx, this.#node(parent).path(), mode, flags), (open) =>
      thenMaybe(this.#h.getattr(ctx, '(tmpfile)', open.fh), (attr) => {
        const n = this.#nodes.anonymous();
        n.openFhs.add(open.fh);
        return { entry: { node: n.id as NodeId, generation: n.generation, attr }, open };
      }),
    );
  }

  read(ctx: RequestContext, node: NodeId, fh: Fh, buf: Buffer, position: number): Reply<number> {
    return this.#h.read(ctx, this.#ioPath(this.#node(node)), fh, buf, position);
  }

  write(ctx: RequestContext, node: NodeId, fh: Fh, buf: Buffer, position: number): Reply<number> {
    return this.#h.write(ctx, this.#ioPath(this.#node(node)), fh, buf, position);
  }

  flush(ctx: RequestContext, node: NodeId, fh: Fh): Reply<void> {
    if (!this.#h.flush) throw new FsError('ENOSYS', 'flush');
    return this.#h.flush(ctx, this.#ioPath(this.#node(node)), fh);
  }

  release(ctx: RequestContext, node: NodeId, fh: Fh): Reply<void> {
    const n = this.#node(node);
    n.openFhs.delete(fh);
    return this.#h.release(ctx, this.#ioPath(n), fh);
  }

  fsync(ctx: RequestContext, node: NodeId, datasync: boolean, fh?: Fh): Reply<void> {
    if (!this.#h.fsync) throw new FsError('ENOSYS', 'fsync');
    return this.#h.fsync(ctx, this.#ioPath(this.#node(node)), datasync, fh);
  }

  truncate(ctx: RequestContext, node: NodeId, size: number, fh?: Fh): Reply<void> {
    const n = this.#node(node);
    // ftruncate of an unlinked file acts on its handle; a truncate by name needs the name.
    return this.#h.truncate(ctx, n.detached && fh !== undefined ? this.#ioPath(n) : n.path(), size, fh);
  }

  chmod(ctx: RequestContext, node: NodeId, mode: number): Reply<void> {
    return this.#h.chmod(ctx, this.#node(node).path(), mode);
  }

  chown(ctx: RequestContext, node: NodeId, uid: number, gid: number): Reply<void> {
    return this.#h.chown(ctx, this.#node(node).path(), uid, gid);
  }

  utimens(ctx: RequestContext, node: NodeId, times: SetattrTimes): Reply<void> {
    return this.#h.utimens(ctx, this.#node(node).path(), times);
  }

  readlink(ctx: RequestContext, node: NodeId): Reply<string> {
    return this.#h.readlink(ctx, this.#node(node).path());
  }

  symlink(ctx: RequestContext, parent: NodeId, name: string, target: string): Reply<Entry> {
    const p = this.#node(parent);
    return this.#entryAfter(ctx, p, name, this.#h.symlink(ctx, target, p.childPath(name)));
  }

  mknod(ctx: RequestContext, parent: NodeId, name: string, mode: number, rdev: number): Reply<Entry> {
    const p = this.#node(parent);
    return this.#entryAfter(ctx, p, name, this.#h.mknod(ctx, p.childPath(name), mode, rdev));
  }

  mkdir(ctx: RequestContext, parent: NodeId, name: string, mode: number): Reply<Entry> {
    const p = this.#node(parent);
    return this.#entryAfter(ctx, p, name, this.#h.mkdir(ctx, p.childPath(name), mode));
  }

  unlink(ctx: RequestContext, parent: NodeId, name: string): Reply<void> {
    const p = this.#node(parent);
    return thenMaybe(this.#h.unlink(ctx, p.childPath(name)), () => this.#nodes.unlinked(p, name));
  }

  rmdir(ctx: RequestContext, parent: NodeId, name: string): Reply<void> {
    const p = this.#node(parent);
    return thenMaybe(this.#h.rmdir(ctx, p.childPath(name)), () => this.#nodes.unlinked(p, name));
  }

  rename(ctx: RequestContext, parent: NodeId, name: string, newParent: NodeId, newName: string, flags: number): Reply<void> {
    const from = this.#node(parent);
    const to = this.#node(newParent);
    return thenMaybe(this.#h.rename(ctx, from.childPath(name), to.childPath(newName), flags), () =>
      this.#nodes.renamed(from, name, to, newName, (flags & RENAME_EXCHANGE) !== 0),
    );
  }

  link(ctx: RequestContext, node: NodeId, newParent: NodeId, newName: string): Reply<Entry> {
    const old = this.#node(node);
    const p = this.#node(newParent);
    if (!old.detached) return this.#entryAfter(ctx, p, newName, this.#h.link(ctx, old.path(), p.childPath(newName)));
    // A file without a name (O_TMPFILE, or unlinked while open) is linked through one of its open
    // handles; the filesystem decides which may get a name again (the host lets only an O_TMPFILE
    // opened without O_EXCL).
    const fh = old.openFhs.values().next().value as Fh | undefined;
    if (fh === undefined) throw new FsError('ENOENT', 'link', old.name);
    return this.#entryAfter(ctx, p, newName, this.#h.link(ctx, this.#ioPath(old), p.childPath(newName), fh));
  }

  setxattr(ctx: RequestContext, node: NodeId, name: string, value: Buffer, flags: number): Reply<void> {
    if (!this.#h.setxattr) throw new FsError('EOPNOTSUPP', 'setxattr');
    return this.#h.setxattr(ctx, this.#node(node).path(), name, value, flags);
  }

  getxattr(ctx: RequestContext, node: NodeId, name: string): Reply<Buffer> {
    if (!this.#h.getxattr) throw new FsError('EOPNOTSUPP', 'getxattr');
    return this.#h.getxattr(ctx, this.#node(node).path(), name);
  }

  listxattr(ctx: RequestContext, node: NodeId): Reply<string[]> {
    if (!this.#h.listxattr) throw new FsError('EOPNOTSUPP', 'listxattr');
    return this.#h.listxattr(ctx, this.#node(node).path());
  }

  removexattr(ctx: RequestContext, node: NodeId, name: string): Reply<void> {
    if (!this.#h.removexattr) throw new FsError('EOPNOTSUPP', 'removexattr');
    return this.#h.removexattr(ctx, this.#node(node).path(), name);
  }

  fallocate(ctx: RequestContext, node: NodeId, fh: Fh, mode: number, offset: number, length: number): Reply<void> {
    if (!this.#h.fallocate) throw new FsError('EOPNOTSUPP', 'fallocate');
    return this.#h.fallocate(ctx, this.#ioPath(this.#node(node)), fh, mode, offset, length);
  }

  lseek(ctx: RequestContext, node: NodeId, fh: Fh, offset: number, whence: number): Reply<number> {
    if (!this.#h.lseek) throw new FsError('ENOSYS', 'lseek');
    return this.#h.lseek(ctx, this.#ioPath(this.#node(node)), fh, offset, whence);
  }

  copyFileRange(ctx: RequestContext, from: FileRange, to: FileRange, length: number, flags: number): Reply<number> {
    if (!this.#h.copyFileRange) throw new FsError('ENOSYS', 'copy_file_range');
    return this.#h.copyFileRange(
      ctx,
      { path: this.#ioPath(this.#node(from.node)), fh: from.fh, offset: from.offset },
      { path: this.#ioPath(this.#node(to.node)), fh: to.fh, offset: to.offset },
      length,
      flags,
    );
  }
}
