// READDIRPLUS: a listing hands the kernel every entry with complete attributes, and the stats that
// follow it are answered from them (no LOOKUP per entry). What a caller sees must equal the backing
// files exactly (bindfs #158: entries with inode and type only made the kernel cache size 0).
// Served in this process (the counters live here); the mount is only touched from child processes.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { mountPassthrough, PassthroughMount } from '@layerfs/passthrough';
import { mountOverlay, OverlayMount } from '@layerfs/overlay';
import { wireSessions } from '@layerfs/fuse-wire';
import { overlayLayers, sourceAndMountpoint } from '../helpers/scratch';
import { py } from '../helpers/run';

const umask = process.umask();
afterAll(() => {
  process.umask(umask);
});

const LIST = `
import os, sys, json
out = {}
for e in os.scandir(sys.argv[1]):
    st = os.lstat(e.path)
    out[e.name] = [st.st_size, st.st_mode, st.st_nlink, st.st_uid, st.st_gid, st.st_mtime_ns, st.st_ino, e.inode()]
print(json.dumps(out))
`;

function fill(dir: string): void {
  for (let i = 0; i < 60; i++) {
    const f = path.join(dir, `file${i}`);
    fs.writeFileSync(f, 'x'.repeat(i * 37));
    fs.chmodSync(f, 0o600 + (i % 8) * 0o10);
    fs.utimesSync(f, 1_000_000 + i, 1_500_000_000 + i * 1.25);
  }
  fs.symlinkSync('file1', path.join(dir, 'link'));
  fs.mkdirSync(path.join(dir, 'sub'));
  fs.linkSync(path.join(dir, 'file2'), path.join(dir, 'hard'));
}

function expected(dir: string, inoOf: (name: string, st: fs.BigIntStats) => bigint = (_n, st) => st.ino) {
  const out: Record<string, unknown[]> = {};
  for (const name of fs.readdirSync(dir)) {
    const st = fs.lstatSync(path.join(dir, name), { bigint: true });
    const ino = Number(inoOf(name, st));
    out[name] = [Number(st.size), Number(st.mode), Number(st.nlink), Number(st.uid), Number(st.gid), Number(st.mtimeNs), ino, ino];
  }
  return out;
}

test('passthrough: a listing plus a stat of every entry matches the source, with READDIRPLUS and no LOOKUP per entry', async () => {
  const t = sourceAndMountpoint();
  fill(t.src);
  let m: PassthroughMount | undefined;
  try {
    m = await mountPassthrough({ source: t.src, mountpoint: t.mnt, transport: 'wire' });
    const seen = JSON.parse(await py(LIST, t.mnt));
    expect(seen).toEqual(expected(t.src));
    const counts = wireSessions.get(t.mnt)!.counts;
    expect(counts.get('READDIRPLUS')).toBeGreaterThan(0);
    expect(counts.get('LOOKUP') ?? 0).toBeLessThan(10);
  } finally {
    await m?.unmount();
    t.cleanup();
  }
});

test('overlay: a merged directory lists with the attributes of the entry that shows', async () => {
  const t = overlayLayers([{}]);
  fill(t.lower[0]!);
  fs.writeFileSync(path.join(t.upper!, 'file3'), 'upper wins');
  let m: OverlayMount | undefined;
  try {
    m = await mountOverlay({ lower: t.lower, upper: t.upper, work: t.work, mountpoint: t.mnt, transport: 'wire' });
    const seen = JSON.parse(await py(LIST, t.mnt));
    const want = expected(t.lower[0]!);
    const up = fs.lstatSync(path.join(t.upper!, 'file3'), { bigint: true });
    want.file3 = [Number(up.size), Number(up.mode), 1, Number(up.uid), Number(up.gid), Number(up.mtimeNs), Number(up.ino), Number(up.ino)];
    expect(seen).toEqual(want);
    expect(wireSessions.get(t.mnt)!.counts.get('READDIRPLUS')).toBeGreaterThan(0);
  } finally {
    await m?.unmount();
    t.cleanup();
  }
});
