// NodeFsBase: NodeHandlers with an answer for everything a filesystem leaves out, so a read-only or
// toy filesystem writes only lookup, getattr, readdir, open and read (the example in README.md and
// examples/hello-fs.ts is a few dozen lines). What it answers:
// - a change (create, write, setattr, names, xattrs set/removed): EROFS — a filesystem that does not
//   implement it cannot be changed, and EROFS is what programs expect then (not ENOSYS);
// - a question it cannot know (readlink of a non-symlink, an xattr): EINVAL / ENODATA / empty, as a
//   local filesystem without the feature answers;
// - forget and release: nothing to do (nodes the subclass keeps are its own to drop);
// - statfs: an empty filesystem with 255-byte names.
import { FsError } from '@layerfs/backing-io';
import type { Attr, StatFs } from './attr';
import type { CreateReply, DirEntry, Entry, Fh, NodeHandlers, NodeId, OpenReply, Reply, RequestContext, SetattrTimes } from './handler';

export abstract class NodeFsBase implements NodeHandlers {
  abstract lookup(ctx: RequestContext, parent: NodeId, name: string): Reply<Entry | undefined>;
  abstract getattr(ctx: RequestContext, node: NodeId, fh?: Fh): Reply<Attr>;
  abstract readdir(ctx: RequestContext, node: NodeId, fh?: Fh): Reply<DirEntry[]>;

  forget(_node: NodeId, _nlookup: number): void {
    // nothing kept per lookup
  }

  statfs(_ctx: RequestContext, _node: NodeId): Reply<StatFs> {
    return { bsize: 4096, frsize: 4096, blocks: 0n, bfree: 0n, bavail: 0n, files: 0n, ffree: 0n, namemax: 255 };
  }

  open(_ctx: RequestContext, node: NodeId, flags: number): Reply<OpenReply> {
    if ((flags & 3) !== 0) throw new FsError('EROFS', 'open', `node ${node}`);
    return { fh: 1 as Fh };
  }

  read(_ctx: RequestContext, node: NodeId, _fh: Fh, _buf: Buffer, _position: number): Reply<number> {
    throw new FsError('EINVAL', 'read', `node ${node}`);
  }

  release(_ctx: RequestContext, _node: NodeId, _fh: Fh): Reply<void> {
    // nothing kept per open
  }

  readlink(_ctx: RequestContext, node: NodeId): Reply<string> {
    throw new FsError('EINVAL', 'readlink', `node ${node}`);
  }

  getxattr(_ctx: RequestContext, _node: NodeId, _name: string): Reply<Buffer | undefined> {
    return undefined; // ENODATA
  }

  listxattr(_ctx: RequestContext, _node: NodeId): Reply<string[]> {
    return [];
  }

  // -- changes: a filesystem that does not implement them is read-only ---------------------------

  create(_ctx: RequestContext, _parent: NodeId, name: string): Reply<CreateReply> {
    throw new FsError('EROFS', 'create', name);
  }

  write(_ctx: RequestContext, node: NodeId): Reply<number> {
    throw new FsError('EROFS', 'write', `node ${node}`);
  }

  truncate(_ctx: RequestContext, node: NodeId): Reply<void> {
    throw new FsError('EROFS', 'truncate', `node ${node}`);
  }

  chmod(_ctx: RequestContext, node: NodeId): Reply<void> {
    throw new FsError('EROFS', 'chmod', `node ${node}`);
  }

  chown(_ctx: RequestContext, node: NodeId): Reply<void> {
    throw new FsError('EROFS', 'chown', `node ${node}`);
  }

  utimens(_ctx: RequestContext, node: NodeId, _times: SetattrTimes): Reply<void> {
    throw new FsError('EROFS', 'utimens', `node ${node}`);
  }

  symlink(_ctx: RequestContext, _parent: NodeId, name: string): Reply<Entry> {
    throw new FsError('EROFS', 'symlink', name);
  }

  mknod(_ctx: RequestContext, _parent: NodeId, name: string): Reply<Entry> {
    throw new FsError('EROFS', 'mknod', name);
  }

  mkdir(_ctx: RequestContext, _parent: NodeId, name: string): Reply<Entry> {
    throw new FsError('EROFS', 'mkdir', name);
  }

  unlink(_ctx: RequestContext, _parent: NodeId, name: string): Reply<void> {
    throw new FsError('EROFS', 'unlink', name);
  }

  rmdir(_ctx: RequestContext, _parent: NodeId, name: string): Reply<void> {
    throw new FsError('EROFS', 'rmdir', name);
  }

  rename(_ctx: RequestContext, _parent: NodeId, name: string): Reply<void> {
    throw new FsError('EROFS', 'rename', name);
  }

  link(_ctx: RequestContext, _node: NodeId, _newParent: NodeId, newName: string): Reply<Entry> {
    throw new FsError('EROFS', 'link', newName);
  }

  setxattr(_ctx: RequestContext, node: NodeId, name: string): Reply<void> {
    throw new FsError('EROFS', 'setxattr', `node ${node} ${name}`);
  }

  removexattr(_ctx: RequestContext, node: NodeId, name: string): Reply<void> {
    throw new FsError('EROFS', 'removexattr', `node ${node} ${name}`);
  }
}
