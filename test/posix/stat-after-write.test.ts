// stat(2) by path right after a write through the mount sees the new size and mtime, with the kernel
// passing writes straight to the backing file (wire transport) so the daemon never sees them: the
// daemon must not answer from attributes it cached before the write. Also while the writer is
// still open, and through a second (hard-link) name of the file.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Mounted, TRANSPORT, mountOverlay, mountPassthrough } from '../helpers/cli';
import { overlayLayers, sourceAndMountpoint } from '../helpers/scratch';
import { run } from '../helpers/run';

async function sh(script: string, dir: string): Promise<void> {
  const r = await run('sh', ['-c', script, 'sh', dir]);
  if (r.code !== 0) throw new Error(r.stderr);
}

async function check(mnt: string): Promise<void> {
  const f = path.join(mnt, 'f');
  await sh('cd "$1" && touch f && stat f >/dev/null && echo hi >> f', mnt);
  expect(fs.statSync(f).size).toBe(3);
  const before = fs.statSync(f, { bigint: true }).mtimeNs;
  await sh('cd "$1" && sleep 0.01 && echo more >> f', mnt);
  const after = fs.statSync(f, { bigint: true });
  expect(after.size).toBe(8n);
  expect(after.mtimeNs).toBeGreaterThan(before);
  // A writer still open: every stat by path follows it.
  const fd = fs.openSync(f, 'a');
  try {
    for (let i = 1; i <= 3; i++) {
      fs.writeSync(fd, 'abcd');
      expect(fs.statSync(f).size).toBe(8 + 4 * i);
    }
  } finally {
    fs.closeSync(fd);
  }
  expect(fs.statSync(f).size).toBe(20);
  expect(fs.readFileSync(f, 'utf8')).toBe('hi\nmore\nabcdabcdabcd');
  // A second name the kernel has looked up: a write through the first shows through it at once. (Not
  // on fuse-native: libfuse 2 cannot invalidate, so the other name keeps its attributes for attr_timeout.)
  if (TRANSPORT !== 'wire') return;
  const g = path.join(mnt, 'g');
  fs.linkSync(f, g);
  expect(fs.statSync(g).size).toBe(20);
  await sh('cd "$1" && echo 12345 >> f', mnt);
  expect(fs.statSync(g).size).toBe(26);
  expect(fs.statSync(f).size).toBe(26);
  // Once f's entry has timed out, `>>` reaches the daemon as CREATE (O_CREAT on an existing name).
  await sh('sleep 1.2', mnt);
  expect(fs.statSync(g).size).toBe(26);
  await sh('cd "$1" && echo 12345 >> f', mnt);
  expect(fs.statSync(g).size).toBe(32);
}

test('passthrough: stat after a write sees its size and mtime', async () => {
  const t = sourceAndMountpoint();
  let m: Mounted | undefined;
  try {
    m = await mountPassthrough(t.src, t.mnt);
    await check(t.mnt);
  } finally {
    await m?.unmount();
    t.cleanup();
  }
});

test('overlay: stat after a write sees its size and mtime (new file and copied-up file)', async () => {
  const t = overlayLayers([{ lowerfile: 'lower\n' }]);
  let m: Mounted | undefined;
  try {
    m = await mountOverlay(t.mnt, { lower: t.lower, upper: t.upper, work: t.work });
    await check(t.mnt);
    const lf = path.join(t.mnt, 'lowerfile');
    expect(fs.statSync(lf).size).toBe(6);
    await sh('cd "$1" && echo x >> lowerfile', t.mnt);
    expect(fs.statSync(lf).size).toBe(8);
  } finally {
    await m?.unmount();
    t.cleanup();
  }
});
