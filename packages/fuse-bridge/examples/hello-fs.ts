// The smallest useful filesystem on the node-based interface: a read-only directory of files held
// in memory. NodeFsBase answers everything it leaves out (EROFS for changes, ENODATA for xattrs).
// Mount it with mountFs(mountpoint, new HelloFs({ 'hello.txt': 'hi\n' })) on either transport.
import { FsError } from '@layerfs/backing-io';
import { Attr, DirEntry, Entry, Fh, Ino, NodeFsBase, NodeId, OpenReply, ROOT_NODE, RequestContext } from '@layerfs/fuse-bridge';

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;

export class HelloFs extends NodeFsBase {
  /** Node ids: the root is 1, file i is i + 2. Nothing is ever forgotten, so generation stays 0. */
  readonly #files: { name: string; data: Buffer }[];
  readonly #born = BigInt(Date.now()) * 1_000_000n;

  constructor(files: Record<string, string>) {
    super();
    this.#files = Object.entries(files).map(([name, text]) => ({ name, data: Buffer.from(text) }));
  }

  #attr(node: NodeId): Attr {
    const t = this.#born;
    const base = { ino: BigInt(node) as Ino, uid: 0, gid: 0, rdev: 0, blksize: 4096, atimeNs: t, mtimeNs: t, ctimeNs: t };
    if (node === ROOT_NODE) return { ...base, mode: S_IFDIR | 0o555, nlink: 2, size: 0n, blocks: 0n };
    const f = this.#files[node - 2];
    if (!f) throw new FsError('ENOENT', 'getattr', `node ${node}`);
    return { ...base, mode: S_IFREG | 0o444, nlink: 1, size: BigInt(f.data.length), blocks: BigInt(Math.ceil(f.data.length / 512)) };
  }

  lookup(_ctx: RequestContext, parent: NodeId, name: string): Entry | undefined {
    const i = parent === ROOT_NODE ? this.#files.findIndex((f) => f.name === name) : -1;
    if (i < 0) return undefined; // no such name (ENOENT)
    const node = (i + 2) as NodeId;
    return { node, generation: 0, attr: this.#attr(node) };
  }

  getattr(_ctx: RequestContext, node: NodeId): Attr {
    return this.#attr(node);
  }

  readdir(_ctx: RequestContext, node: NodeId): DirEntry[] {
    if (node !== ROOT_NODE) throw new FsError('ENOTDIR', 'readdir', `node ${node}`);
    return [
      { name: '.', ino: 1n, type: S_IFDIR },
      { name: '..', ino: 1n, type: S_IFDIR },
      ...this.#files.map((f, i) => ({ name: f.name, ino: BigInt(i + 2), type: S_IFREG })),
    ];
  }

  override open(ctx: RequestContext, node: NodeId, flags: number): OpenReply {
    this.#attr(node); // ENOENT for a node that is not ours
    return super.open(ctx, node, flags) as OpenReply;
  }

  override read(_ctx: RequestContext, node: NodeId, _fh: Fh, buf: Buffer, position: number): number {
    const f = this.#files[node - 2];
    if (!f) throw new FsError('EISDIR', 'read', `node ${node}`);
    return f.data.copy(buf, 0, Math.min(position, f.data.length));
  }
}
