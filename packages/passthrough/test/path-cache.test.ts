// fuse-native's path → node cache (fuse-bridge's PathCache) over a real PassthroughFs, no mount:
// paths resolve one component at a time, renames and unlinks through the cache move and drop
// dentries, expired ones are looked up again, and every lookup taken is given back.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassthroughFs } from '@layerfs/passthrough';
import { PathCache, ROOT_NODE, RequestContext } from '@layerfs/fuse-bridge';

const ctx: RequestContext = {};
let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'layerfs-unit-'));
  fs.mkdirSync(path.join(dir, 'a/b'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'a/b/f'), 'x');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

test('resolve, rename, remove; every dentry holds exactly one lookup', async () => {
  const pfs = new PassthroughFs({ source: dir });
  const cache = new PathCache(pfs, { ttlMs: 60000, max: 1000 });
  const f = cache.resolve(ctx, '/a/b/f');
  expect(pfs.getattr(ctx, f as never).size).toBe(1n);
  expect(cache.size).toBe(3);
  expect(pfs.nodeStats.nodes).toBe(4);
  // Renamed through the mount: the cache follows without a lookup, and the node is the same.
  const { parent, name } = cache.resolveParent(ctx, '/a/b') as { parent: never; name: string };
  pfs.rename(ctx, parent, name, ROOT_NODE, 'c', 0);
  cache.renamed('/a/b', '/c');
  expect(cache.resolve(ctx, '/c/f')).toBe(f);
  cache.removed('/c');
  expect(pfs.nodeStats.nodes).toBe(2); // the root and a: c and c/f were given back
  expect(() => cache.resolve(ctx, '/a/b/f')).toThrow(/ENOENT/);
  await pfs.destroy();
});

test('a name changed behind the mount is looked up again once its dentry expires', async () => {
  const pfs = new PassthroughFs({ source: dir });
  const cache = new PathCache(pfs, { ttlMs: 0, max: 1000 });
  const before = cache.resolve(ctx, '/a/b/f');
  fs.renameSync(path.join(dir, 'a/b/f'), path.join(dir, 'a/b/g'));
  fs.writeFileSync(path.join(dir, 'a/b/f'), 'new');
  const after = cache.resolve(ctx, '/a/b/f');
  expect(after).not.toBe(before);
  expect(pfs.getattr(ctx, after as never).size).toBe(3n);
  expect(pfs.nodeStats.nodes).toBe(4); // the old f was given back
  await pfs.destroy();
});

test('childless dentries beyond the bound are evicted and forgotten; open nodes stay', async () => {
  for (let i = 0; i < 50; i++) fs.writeFileSync(path.join(dir, `f${i}`), '');
  const pfs = new PassthroughFs({ source: dir });
  const cache = new PathCache(pfs, { ttlMs: 60000, max: 20 });
  const pinned = cache.resolve(ctx, '/f0') as never;
  cache.pin(pinned);
  for (let i = 0; i < 50; i++) cache.resolve(ctx, `/f${i}`);
  expect(cache.size).toBeLessThanOrEqual(20);
  expect(pfs.nodeStats.nodes).toBeLessThanOrEqual(22);
  expect(pfs.getattr(ctx, pinned).size).toBe(0n); // evicted from the cache but still open
  cache.unpin(pinned);
  await pfs.destroy();
});
