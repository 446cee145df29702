// renameat2 flags reach the filesystem only on the wire transport (libfuse 2 drops them):
// RENAME_NOREPLACE onto an existing name fails EEXIST, RENAME_EXCHANGE swaps two names, on a
// passthrough and on an overlay (lower files are copied up first, as the kernel's overlay does);
// RENAME_WHITEOUT on a passthrough.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { mountOverlay, mountPassthrough } from '../helpers/cli';
import { overlayLayers, sourceAndMountpoint } from '../helpers/scratch';
import { py } from '../helpers/run';

const RENAMEAT2 = `
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
r = libc.renameat2(-100, sys.argv[1].encode(), -100, sys.argv[2].encode(), int(sys.argv[3]))
print('ok' if r == 0 else os.strerror(ctypes.get_errno()))
`;

async function checkFlags(mnt: string) {
  fs.writeFileSync(path.join(mnt, 'new'), 'NEW');
  expect(await py(RENAMEAT2, path.join(mnt, 'new'), path.join(mnt, 'a'), '1')).toBe('File exists');
  expect(fs.readFileSync(path.join(mnt, 'a'), 'utf8')).toBe('A');
  expect(await py(RENAMEAT2, path.join(mnt, 'new'), path.join(mnt, 'fresh'), '1')).toBe('ok');
  expect(fs.readFileSync(path.join(mnt, 'fresh'), 'utf8')).toBe('NEW');
  expect(await py(RENAMEAT2, path.join(mnt, 'a'), path.join(mnt, 'b'), '2')).toBe('ok');
  expect(fs.readFileSync(path.join(mnt, 'a'), 'utf8')).toBe('B');
  expect(fs.readFileSync(path.join(mnt, 'b'), 'utf8')).toBe('A');
  expect(await py(RENAMEAT2, path.join(mnt, 'a'), path.join(mnt, 'missing'), '2')).toBe('No such file or directory');
}

test('passthrough: RENAME_NOREPLACE and RENAME_EXCHANGE', async () => {
  const t = sourceAndMountpoint({ a: 'A', b: 'B' });
  const m = await mountPassthrough(t.src, t.mnt);
  try {
    await checkFlags(t.mnt);
    expect(fs.readFileSync(path.join(t.src, 'a'), 'utf8')).toBe('B');
    // RENAME_WHITEOUT (what an overlay stacked on this mount asks for): a 0/0 character device stays.
    expect(await py(RENAMEAT2, path.join(t.mnt, 'b'), path.join(t.mnt, 'moved'), '4')).toBe('ok');
    const wh = fs.lstatSync(path.join(t.mnt, 'b'));
    expect([wh.isCharacterDevice(), wh.rdev]).toEqual([true, 0]);
    expect(fs.readFileSync(path.join(t.mnt, 'moved'), 'utf8')).toBe('A');
  } finally {
    await m.unmount();
    t.cleanup();
  }
});

test('overlay: RENAME_NOREPLACE and RENAME_EXCHANGE of lower files', async () => {
  const t = overlayLayers([{ a: 'A', b: 'B' }]);
  const m = await mountOverlay(t.mnt, t);
  try {
    await checkFlags(t.mnt);
    expect(fs.readFileSync(path.join(t.upper!, 'a'), 'utf8')).toBe('B');
    expect(fs.readFileSync(path.join(t.lower[0]!, 'a'), 'utf8')).toBe('A');
  } finally {
    await m.unmount();
    t.cleanup();
  }
});
