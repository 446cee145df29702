// Without upperdir/workdir the overlay is read-only: every change fails with EROFS, reads work.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { overlayLayers } from '../helpers/scratch';
import { mountOverlay } from '../helpers/cli';

test('a read-only overlay reads the merged layers and refuses every change with EROFS', async () => {
  const t = overlayLayers(
    [
      { a: 'top', 'd/x': '1' },
      { a: 'bottom', b: 'b', 'd/y': '2' },
    ],
    { upper: false },
  );
  const m = await mountOverlay(t.mnt, { lower: t.lower });
  try {
    expect(fs.readFileSync(path.join(t.mnt, 'a'), 'utf8')).toBe('top');
    expect(fs.readdirSync(path.join(t.mnt, 'd')).sort()).toEqual(['x', 'y']);
    const erofs = expect.objectContaining({ code: 'EROFS' });
    expect(() => fs.writeFileSync(path.join(t.mnt, 'a'), 'x')).toThrow(erofs);
    expect(() => fs.writeFileSync(path.join(t.mnt, 'new'), 'x')).toThrow(erofs);
    expect(() => fs.unlinkSync(path.join(t.mnt, 'b'))).toThrow(erofs);
    expect(() => fs.mkdirSync(path.join(t.mnt, 'nd'))).toThrow(erofs);
    expect(() => fs.chmodSync(path.join(t.mnt, 'a'), 0o600)).toThrow(erofs);
    expect(() => fs.renameSync(path.join(t.mnt, 'a'), path.join(t.mnt, 'c'))).toThrow(erofs);
    expect(fs.readFileSync(path.join(t.lower[0]!, 'a'), 'utf8')).toBe('top');
  } finally {
    await m.unmount();
    t.cleanup();
  }
});
