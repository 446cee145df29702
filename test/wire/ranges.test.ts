// fallocate (plain, keep-size, punch-hole), SEEK_DATA/SEEK_HOLE and copy_file_range reach the
// filesystem only on the wire transport. Checked through the mount and on the backing file.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Mounted, mountOverlay, mountPassthrough } from '../helpers/cli';
import { overlayLayers, sourceAndMountpoint } from '../helpers/scratch';
import { py, run } from '../helpers/run';

const MiB = 1 << 20;

async function checkRanges(mnt: string, backing: (name: string) => string) {
  const f = path.join(mnt, 'space');
  fs.writeFileSync(f, '');
  expect((await run('fallocate', ['-l', String(4 * MiB), f])).code).toBe(0);
  expect(fs.statSync(f).size).toBe(4 * MiB);
  expect(fs.statSync(backing('space')).blocks * 512).toBeGreaterThanOrEqual(4 * MiB);

  const k = path.join(mnt, 'keep');
  fs.writeFileSync(k, 'abc');
  expect((await run('fallocate', ['--keep-size', '-l', String(2 * MiB), k])).code).toBe(0);
  expect(fs.statSync(k).size).toBe(3);
  expect(fs.statSync(backing('keep')).blocks * 512).toBeGreaterThanOrEqual(2 * MiB);

  const h = path.join(mnt, 'holey');
  fs.writeFileSync(h, Buffer.alloc(4 * MiB, 1));
  expect((await run('fallocate', ['-p', '-o', String(MiB), '-l', String(2 * MiB), h])).code).toBe(0);
  const st = fs.statSync(h);
  expect(st.size).toBe(4 * MiB);
  const back = fs.readFileSync(h);
  expect(back[MiB + 10]).toBe(0);
  expect(back[10]).toBe(1);
  expect(back[3 * MiB + 10]).toBe(1);
  // SEEK_DATA from inside the hole lands at its end; SEEK_HOLE from 0 at its start.
  const seek =
    'import os,sys\nfd=os.open(sys.argv[1],os.O_RDONLY)\nprint(os.lseek(fd,int(sys.argv[2]),os.SEEK_DATA), os.lseek(fd,0,os.SEEK_HOLE))';
  expect(await py(seek, h, String(MiB + 4096))).toBe(`${3 * MiB} ${MiB}`);

  const copy =
    'import os,sys\na=os.open(sys.argv[1],os.O_RDONLY)\nb=os.open(sys.argv[2],os.O_WRONLY|os.O_CREAT,0o644)\nn=0\nwhile True:\n  c=os.copy_file_range(a,b,1<<30)\n  if c==0: break\n  n+=c\nprint(n)';
  fs.writeFileSync(path.join(mnt, 'src'), Buffer.alloc(20 * MiB, 7));
  expect(await py(copy, path.join(mnt, 'src'), path.join(mnt, 'dst'))).toBe(String(20 * MiB));
  expect(fs.readFileSync(backing('dst')).equals(Buffer.alloc(20 * MiB, 7))).toBe(true);
}

test('passthrough: fallocate, punch hole, SEEK_DATA, copy_file_range', async () => {
  const t = sourceAndMountpoint();
  let m: Mounted | undefined;
  try {
    m = await mountPassthrough(t.src, t.mnt);
    await checkRanges(t.mnt, (n) => path.join(t.src, n));
  } finally {
    await m?.unmount();
    t.cleanup();
  }
});

test('overlay: the same on new files in the upper layer', async () => {
  const t = overlayLayers([{ lowerfile: 'x' }]);
  let m: Mounted | undefined;
  try {
    m = await mountOverlay(t.mnt, t);
    await checkRanges(t.mnt, (n) => path.join(t.upper!, n));
  } finally {
    await m?.unmount();
    t.cleanup();
  }
});

test('passthrough=off (the writeback cache): SEEK_DATA/SEEK_HOLE see data the kernel has not written back yet', async () => {
  // The kernel sends no flush before an LSEEK: answered from the backing file, a block just written
  // past its EOF was ENXIO (stress-ng's seek stressor failed) and one written into a backing hole
  // would have read as a hole, so cp would skip it. Now the kernel answers from its own size.
  const t = overlayLayers([{ lowerfile: 'x' }]);
  let m: Mounted | undefined;
  try {
    m = await mountOverlay(t.mnt, t, ['passthrough=off']);
    const seek = [
      'import os,sys',
      'fd=os.open(sys.argv[1],os.O_CREAT|os.O_RDWR,0o644)',
      "os.pwrite(fd,b'x'*4096,1<<20)",
      'end=os.fstat(fd).st_size',
      'try: past=os.lseek(fd,end,os.SEEK_DATA)',
      'except OSError as e: past=os.strerror(e.errno)',
      'print(os.lseek(fd,0,os.SEEK_DATA), os.lseek(fd,0,os.SEEK_HOLE), end, past)',
    ].join('\n');
    expect(await py(seek, path.join(t.mnt, 'fresh'))).toBe(`0 ${MiB + 4096} ${MiB + 4096} No such device or address`);
  } finally {
    await m?.unmount();
    t.cleanup();
  }
});
