// unlink/rmdir of lower entries leave whiteouts (character devices 0/0) in the upper layer; mkdir
// over a whiteout makes an opaque directory, so nothing of the old lower directory shows again.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { syscalls } from '@layerfs/backing-io';
import { overlayLayers } from '../helpers/scratch';
import { mountOverlay } from '../helpers/cli';

test('unlink of a lower file leaves a kernel-format whiteout and hides the file', async () => {
  const t = overlayLayers([{ 'd/gone': 'x', 'd/stays': 'y' }]);
  const m = await mountOverlay(t.mnt, t);
  try {
    fs.unlinkSync(path.join(t.mnt, 'd/gone'));
    expect(fs.existsSync(path.join(t.mnt, 'd/gone'))).toBe(false);
    expect(fs.readdirSync(path.join(t.mnt, 'd'))).toEqual(['stays']);
    const wo = fs.lstatSync(path.join(t.upper!, 'd/gone'));
    expect(wo.isCharacterDevice()).toBe(true);
    expect(wo.rdev).toBe(0);
    expect(fs.existsSync(path.join(t.lower[0]!, 'd/gone'))).toBe(true);
    // A new file of the same name replaces the whiteout.
    fs.writeFileSync(path.join(t.mnt, 'd/gone'), 'again');
    expect(fs.readFileSync(path.join(t.mnt, 'd/gone'), 'utf8')).toBe('again');
    expect(fs.lstatSync(path.join(t.upper!, 'd/gone')).isFile()).toBe(true);
  } finally {
    await m.unmount();
    t.cleanup();
  }
});

test('unlink of an upper-only file leaves no whiteout', async () => {
  const t = overlayLayers([{ keep: '' }]);
  const m = await mountOverlay(t.mnt, t);
  try {
    fs.writeFileSync(path.join(t.mnt, 'fresh'), 'x');
    fs.unlinkSync(path.join(t.mnt, 'fresh'));
    expect(fs.readdirSync(t.upper!)).toEqual([]);
  } finally {
    await m.unmount();
    t.cleanup();
  }
});

test('rmdir + mkdir over a lower directory makes an opaque directory', async () => {
  const t = overlayLayers([{ 'd/a': '1', 'd/b': '2' }]);
  const m = await mountOverlay(t.mnt, t);
  try {
    expect(() => fs.rmdirSync(path.join(t.mnt, 'd'))).toThrow(expect.objectContaining({ code: 'ENOTEMPTY' }));
    fs.unlinkSync(path.join(t.mnt, 'd/a'));
    fs.unlinkSync(path.join(t.mnt, 'd/b'));
    fs.rmdirSync(path.join(t.mnt, 'd'));
    expect(fs.existsSync(path.join(t.mnt, 'd'))).toBe(false);
    expect(fs.lstatSync(path.join(t.upper!, 'd')).isCharacterDevice()).toBe(true);
    fs.mkdirSync(path.join(t.mnt, 'd'));
    expect(fs.readdirSync(path.join(t.mnt, 'd'))).toEqual([]);
    expect(syscalls.lgetxattr(path.join(t.upper!, 'd'), 'trusted.overlay.opaque').toString()).toBe('y');
  } finally {
    await m.unmount();
    t.cleanup();
  }
});
