// Copy-up: the first change to a lower file brings it (and its parents) into the upper layer with
// its data, mode, owner, times and xattrs; the lower layer is never written.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { syscalls } from '@layerfs/backing-io';
import { overlayLayers } from '../helpers/scratch';
import { mountOverlay } from '../helpers/cli';

const changes: Array<[string, (f: string, mnt: string) => void, (upperFile: string) => void]> = [
  ['write', (f) => fs.appendFileSync(f, '+new'), (u) => expect(fs.readFileSync(u, 'utf8')).toBe('lower data+new')],
  ['truncate', (f) => fs.truncateSync(f, 5), (u) => expect(fs.readFileSync(u, 'utf8')).toBe('lower')],
  ['chmod', (f) => fs.chmodSync(f, 0o600), (u) => expect(fs.statSync(u).mode & 0o777).toBe(0o600)],
  ['chown', (f) => fs.chownSync(f, 123, 456), (u) => expect(fs.statSync(u)).toMatchObject({ uid: 123, gid: 456 })],
  ['utimens', (f) => fs.utimesSync(f, 1000, 2000), (u) => expect(fs.statSync(u).mtimeMs).toBe(2000000)],
  [
    'setxattr',
    (f) => syscalls.lsetxattr(f, 'user.new', Buffer.from('v')),
    (u) => expect(syscalls.lgetxattr(u, 'user.new').toString()).toBe('v'),
  ],
  ['link', (f, mnt) => fs.linkSync(f, path.join(mnt, 'dir', 'sub', 'hard')), (u) => expect(fs.statSync(u).nlink).toBe(2)],
];

test.each(changes)('copy-up on %s keeps data, mode, owner, times and xattrs', async (_name, change, check) => {
  const t = overlayLayers([{ 'dir/sub/f': 'lower data' }]);
  const lowerFile = path.join(t.lower[0]!, 'dir/sub/f');
  fs.chmodSync(lowerFile, 0o640);
  fs.chownSync(lowerFile, 42, 43);
  syscalls.lsetxattr(lowerFile, 'user.origin', Buffer.from('lower'));
  fs.utimesSync(lowerFile, 100, 200);
  fs.chmodSync(path.join(t.lower[0]!, 'dir'), 0o751);
  const before = fs.statSync(lowerFile, { bigint: true });
  const m = await mountOverlay(t.mnt, t);
  try {
    const viaMount = fs.statSync(path.join(t.mnt, 'dir/sub/f'));
    change(path.join(t.mnt, 'dir/sub/f'), t.mnt);
    const upperFile = path.join(t.upper!, 'dir/sub/f');
    check(upperFile);
    // st_ino does not change across copy-up.
    expect(fs.statSync(path.join(t.mnt, 'dir/sub/f')).ino).toBe(viaMount.ino);
    const up = fs.statSync(upperFile);
    if (_name !== 'write' && _name !== 'truncate') expect(fs.readFileSync(upperFile, 'utf8')).toBe('lower data');
    if (_name !== 'chown') expect(up).toMatchObject({ uid: 42, gid: 43 });
    if (_name !== 'chmod') expect(up.mode & 0o777).toBe(0o640);
    if (_name !== 'utimens' && _name !== 'write' && _name !== 'truncate') expect(up.mtimeMs).toBe(200000);
    expect(syscalls.lgetxattr(upperFile, 'user.origin').toString()).toBe('lower');
    // Parents came up first, with their metadata.
    expect(fs.statSync(path.join(t.upper!, 'dir')).mode & 0o777).toBe(0o751);
    // The lower layer is untouched.
    const after = fs.statSync(lowerFile, { bigint: true });
    expect(fs.readFileSync(lowerFile, 'utf8')).toBe('lower data');
    expect(after.mtimeNs).toBe(before.mtimeNs);
    expect(after.ctimeNs).toBe(before.ctimeNs);
    // Nothing is left in workdir's scratch.
    expect(fs.readdirSync(path.join(t.work!, 'work'))).toEqual([]);
  } finally {
    await m.unmount();
    t.cleanup();
  }
});

test('two concurrent first writes copy the file up once and keep both writes', async () => {
  const t = overlayLayers([{ big: 'x'.repeat(8 * 1024 * 1024) }]);
  const m = await mountOverlay(t.mnt, t);
  try {
    const f = path.join(t.mnt, 'big');
    await Promise.all([
      fs.promises.writeFile(f, 'A', { flag: 'r+' }),
      (async () => {
        const h = await fs.promises.open(f, 'r+');
        await h.write('B', 1);
        await h.close();
      })(),
    ]);
    const data = fs.readFileSync(path.join(t.upper!, 'big'));
    expect(data.length).toBe(8 * 1024 * 1024);
    expect(data.subarray(0, 2).toString()).toBe('AB');
    expect(fs.readdirSync(path.join(t.work!, 'work'))).toEqual([]);
  } finally {
    await m.unmount();
    t.cleanup();
  }
});

test('an open with O_TRUNC copies up no data, and the new content is all there is', async () => {
  const t = overlayLayers([{ 'd/f': 'x'.repeat(4 * 1024 * 1024) }]);
  const m = await mountOverlay(t.mnt, t);
  try {
    fs.writeFileSync(path.join(t.mnt, 'd/f'), 'short'); // O_WRONLY|O_CREAT|O_TRUNC
    expect(fs.readFileSync(path.join(t.mnt, 'd/f'), 'utf8')).toBe('short');
    expect(fs.readFileSync(path.join(t.upper!, 'd/f'), 'utf8')).toBe('short');
    expect(fs.statSync(path.join(t.lower[0]!, 'd/f')).size).toBe(4 * 1024 * 1024);
  } finally {
    await m.unmount();
    t.cleanup();
  }
});

// A small file whose data the page cache holds is copied in the request; the rest (not cached,
// sparse, bigger than that limit, grown past it) on the threadpool. Every route must give the same
// bytes, and a sparse file must keep its holes.
test('copy-up brings the same bytes up by every route: small cached, small not cached, sparse, at and past the in-request limit', async () => {
  const t = overlayLayers([{ 'd/.keep': '' }]);
  const lowerDir = path.join(t.lower[0]!, 'd');
  const sizes: Record<string, number> = { empty: 0, small: 3000, uncached: 5000, limit: 128 * 1024, big: 128 * 1024 + 1, large: 3 << 20 };
  const data = new Map<string, Buffer>();
  for (const [name, size] of Object.entries(sizes)) {
    const b = Buffer.alloc(size);
    for (let i = 0; i < size; i++) b[i] = (i * 7 + name.length) & 0xff;
    fs.writeFileSync(path.join(lowerDir, name), b);
    data.set(name, b);
  }
  // A hole of 1 MiB between two written blocks.
  const sparse = path.join(lowerDir, 'sparse');
  const fd = fs.openSync(sparse, 'w');
  fs.writeSync(fd, Buffer.from('head'), 0, 4, 0);
  fs.writeSync(fd, Buffer.from('tail'), 0, 4, 1 << 20);
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  data.set('sparse', fs.readFileSync(sparse));
  const sparseBlocks = fs.statSync(sparse).blocks;
  expect(sparseBlocks * 512).toBeLessThan(1 << 20);
  for (const name of ['uncached', 'large']) {
    const f = fs.openSync(path.join(lowerDir, name), 'r');
    fs.fsyncSync(f);
    syscalls.fadviseDontNeed(f);
    fs.closeSync(f);
  }
  const m = await mountOverlay(t.mnt, t);
  try {
    for (const name of data.keys()) fs.chmodSync(path.join(t.mnt, 'd', name), 0o600);
    for (const [name, b] of data) {
      const up = path.join(t.upper!, 'd', name);
      expect([name, fs.readFileSync(up).equals(b)]).toEqual([name, true]);
      expect([name, fs.statSync(up).mode & 0o777]).toEqual([name, 0o600]);
      expect([name, fs.readFileSync(path.join(t.mnt, 'd', name)).equals(b)]).toEqual([name, true]);
    }
    expect(fs.statSync(path.join(t.upper!, 'd/sparse')).blocks).toBeLessThanOrEqual(sparseBlocks + 8);
    expect(fs.readdirSync(path.join(t.work!, 'work'))).toEqual([]);
  } finally {
    await m.unmount();
    t.cleanup();
  }
});
