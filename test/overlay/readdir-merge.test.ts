// readdir merges three lower layers and the upper one: each name once, the topmost version wins,
// whiteouts in a higher layer hide lower names, and d_ino equals st_ino.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { syscalls } from '@layerfs/backing-io';
import { overlayLayers } from '../helpers/scratch';
import { mountOverlay } from '../helpers/cli';

test('three lower layers with shadowing, merged with the upper layer', async () => {
  const t = overlayLayers(
    [
      { 'd/a': 'top', 'd/only1': '1', shadow: 'file in layer 1' },
      { 'd/a': 'mid', 'd/b': 'mid', 'd/only2': '2', 'shadow/': '', 'shadow/inner': 'hidden' },
      { 'd/a': 'bottom', 'd/b': 'bottom', 'd/c': 'bottom', 'd/only3': '3', 'single/sub/': '' },
    ],
    { upper: { 'd/u': 'upper', 'd/c': 'upper c' } },
  );
  const m = await mountOverlay(t.mnt, t);
  try {
    const names = fs.readdirSync(path.join(t.mnt, 'd')).sort();
    expect(names).toEqual(['a', 'b', 'c', 'only1', 'only2', 'only3', 'u']);
    expect(fs.readFileSync(path.join(t.mnt, 'd/a'), 'utf8')).toBe('top');
    expect(fs.readFileSync(path.join(t.mnt, 'd/b'), 'utf8')).toBe('mid');
    expect(fs.readFileSync(path.join(t.mnt, 'd/c'), 'utf8')).toBe('upper c');
    // A file in a higher layer hides a directory of the same name below it.
    expect(fs.statSync(path.join(t.mnt, 'shadow')).isFile()).toBe(true);
    expect(fs.readFileSync(path.join(t.mnt, 'shadow'), 'utf8')).toBe('file in layer 1');
    for (const e of syscalls.readdirIno(path.join(t.mnt, 'd'))) {
      expect(e.ino).toBe(fs.lstatSync(path.join(t.mnt, 'd', e.name), { bigint: true }).ino);
    }
    // As the kernel's overlay: a merged directory reports nlink 1 ("not counted"), one that lives in
    // a single layer its real count.
    expect([fs.statSync(path.join(t.mnt, 'd')).nlink, fs.statSync(path.join(t.mnt, 'single')).nlink]).toEqual([1, 3]);
    // A whiteout in the upper layer hides the name in every lower layer.
    fs.unlinkSync(path.join(t.mnt, 'd/b'));
    expect(fs.readdirSync(path.join(t.mnt, 'd')).sort()).toEqual(['a', 'c', 'only1', 'only2', 'only3', 'u']);
  } finally {
    await m.unmount();
    t.cleanup();
  }
});
