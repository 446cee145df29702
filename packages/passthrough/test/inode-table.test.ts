// PassthroughFs's node table without a mount (real temp dirs; no /dev/fuse, no root): one node per
// host inode, lookups counted and forgotten, names followed through renames, fds bounded and
// re-opened from the parent, ESTALE when a file moved behind the table's back while it held no fd.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassthroughFs } from '@layerfs/passthrough';
import { Entry, NodeId, ROOT_NODE, RequestContext } from '@layerfs/fuse-bridge';

const ctx: RequestContext = {};
/** A lookup that must find its name. */
function found(pfs: PassthroughFs, parent: NodeId, name: string): Entry {
  const e = pfs.lookup(ctx, parent, name);
  if (!e) throw new Error(`${name}: not found`);
  return e;
}
let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'layerfs-unit-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

test('hard links are one node; forget frees it at zero', async () => {
  fs.writeFileSync(path.join(dir, 'a'), 'x');
  fs.linkSync(path.join(dir, 'a'), path.join(dir, 'b'));
  const pfs = new PassthroughFs({ source: dir });
  const a = found(pfs, ROOT_NODE, 'a');
  const b = found(pfs, ROOT_NODE, 'b');
  expect(b.node).toBe(a.node);
  expect(a.attr.nlink).toBe(2);
  expect(pfs.nodeStats.nodes).toBe(2); // the root and the file
  pfs.forget(a.node, 1);
  expect(pfs.nodeStats.nodes).toBe(2);
  pfs.forget(a.node, 1);
  expect(pfs.nodeStats.nodes).toBe(1);
  expect(() => pfs.getattr(ctx, a.node)).toThrow(/ESTALE/);
  await pfs.destroy();
});

test('names that could walk anywhere are refused; a symlink is never followed', async () => {
  fs.symlinkSync('/etc', path.join(dir, 'link'));
  const pfs = new PassthroughFs({ source: dir });
  for (const bad of ['..', '.', 'a/b', '']) expect(() => pfs.lookup(ctx, ROOT_NODE, bad)).toThrow(/EINVAL/);
  const link = found(pfs, ROOT_NODE, 'link');
  expect(link.attr.mode & 0o170000).toBe(0o120000);
  expect(pfs.readlink(ctx, link.node)).toBe('/etc');
  expect(() => pfs.lookup(ctx, link.node, 'passwd')).toThrow(/ENOTDIR/);
  await pfs.destroy();
});

test('beyond the fd budget nodes re-open from their parent, and a file moved behind the table is ESTALE', async () => {
  for (let i = 0; i < 40; i++) fs.mkdirSync(path.join(dir, `d${i}`));
  fs.writeFileSync(path.join(dir, 'd0', 'f'), 'x');
  const pfs = new PassthroughFs({ source: dir, fdBudget: 16 });
  const nodes: NodeId[] = [];
  for (let i = 0; i < 40; i++) nodes.push(found(pfs, ROOT_NODE, `d${i}`).node);
  expect(pfs.nodeStats.fds).toBeLessThanOrEqual(17);
  // d0's fd was evicted: reaching its child re-opens it by name from the root.
  const f = found(pfs, nodes[0]!, 'f');
  expect(Number(f.attr.size)).toBe(1);
  // Moved behind the table while it held no fd (every other node used since): the name now holds
  // another directory, and the node does not silently become that one.
  for (let i = 2; i < 40; i++) pfs.getattr(ctx, nodes[i]!);
  pfs.lookup(ctx, nodes[0]!, 'f');
  fs.renameSync(path.join(dir, 'd1'), path.join(dir, 'elsewhere'));
  fs.mkdirSync(path.join(dir, 'd1'));
  expect(() => pfs.getattr(ctx, nodes[1]!)).toThrow(/ESTALE/);
  await pfs.destroy();
});

test('a rename through the table moves the name it re-opens by', async () => {
  fs.mkdirSync(path.join(dir, 'x'));
  fs.writeFileSync(path.join(dir, 'x', 'f'), 'data');
  const pfs = new PassthroughFs({ source: dir, fdBudget: 16 });
  const x = found(pfs, ROOT_NODE, 'x').node;
  pfs.rename(ctx, ROOT_NODE, 'x', ROOT_NODE, 'y', 0);
  for (let i = 0; i < 40; i++) pfs.mkdir(ctx, ROOT_NODE, `n${i}`, 0o755); // evict x's fd
  expect(Number(found(pfs, x, 'f').attr.size)).toBe(4);
  await pfs.destroy();
});

test('past the fd budget with every fd pinned, the fd just opened for a node is not the one closed', async () => {
  const pfs = new PassthroughFs({ source: dir, fdBudget: 16 });
  // Files removed while the kernel still holds them: each keeps its fd (no name to re-open it by).
  for (let i = 0; i < 20; i++) {
    pfs.mknod(ctx, ROOT_NODE, `gone${i}`, 0o100644, 0);
    pfs.unlink(ctx, ROOT_NODE, `gone${i}`);
  }
  fs.symlinkSync('target', path.join(dir, 'link'));
  const link = found(pfs, ROOT_NODE, 'link'); // no fd until first use
  expect(pfs.readlink(ctx, link.node)).toBe('target'); // its fd opened past the budget: EBADF before
  await pfs.destroy();
});
