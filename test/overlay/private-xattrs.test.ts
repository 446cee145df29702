// The overlay's own xattrs (trusted.overlay.*, user.overlay.*) are never listed, read or set
// through the mount; user xattrs are.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { syscalls } from '@layerfs/backing-io';
import { overlayLayers } from '../helpers/scratch';
import { mountOverlay } from '../helpers/cli';

test('private overlay xattrs are hidden; user xattrs show', async () => {
  const t = overlayLayers([{ 'd/f': 'x' }], { upper: { 'd/': '' } });
  syscalls.lsetxattr(path.join(t.upper!, 'd'), 'trusted.overlay.origin', Buffer.from('private'));
  syscalls.lsetxattr(path.join(t.lower[0]!, 'd/f'), 'user.overlay.redirect', Buffer.from('private'));
  syscalls.lsetxattr(path.join(t.lower[0]!, 'd/f'), 'user.visible', Buffer.from('yes'));
  const m = await mountOverlay(t.mnt, t);
  try {
    expect(syscalls.llistxattr(path.join(t.mnt, 'd'))).not.toContain('trusted.overlay.origin');
    expect(syscalls.llistxattr(path.join(t.mnt, 'd/f'))).toEqual(['user.visible']);
    expect(() => syscalls.lgetxattr(path.join(t.mnt, 'd'), 'trusted.overlay.origin')).toThrow(/ENODATA/);
    expect(() => syscalls.lgetxattr(path.join(t.mnt, 'd/f'), 'user.overlay.redirect')).toThrow(/ENODATA/);
    expect(() => syscalls.lsetxattr(path.join(t.mnt, 'd/f'), 'trusted.overlay.opaque', Buffer.from('y'))).toThrow(/EPERM/);
    expect(syscalls.lgetxattr(path.join(t.mnt, 'd/f'), 'user.visible').toString()).toBe('yes');
    // Copy-up carries user xattrs, never the lower layer's private ones; the origin is the copy's own.
    fs.appendFileSync(path.join(t.mnt, 'd/f'), 'y');
    expect(syscalls.llistxattr(path.join(t.upper!, 'd/f')).sort()).toEqual(['trusted.overlay.origin', 'user.visible']);
    expect(syscalls.lgetxattr(path.join(t.upper!, 'd/f'), 'trusted.overlay.origin')[1]).toBe(0xfb);
  } finally {
    await m.unmount();
    t.cleanup();
  }
});

test("a lower entry's xattrs, read before and after the first change through the mount", async () => {
  const t = overlayLayers([{ g: 'x', 'dir/in': 'i' }]);
  syscalls.lsetxattr(path.join(t.lower[0]!, 'g'), 'user.a', Buffer.from('1'));
  const m = await mountOverlay(t.mnt, t);
  try {
    for (const p of ['g', 'dir'].map((n) => path.join(t.mnt, n))) {
      // Read while the entry is only in the lower layer (the names are listed once and kept)...
      syscalls.llistxattr(p);
      expect(() => syscalls.lgetxattr(p, 'user.b')).toThrow(/ENODATA/);
      // ...then changed: the copy-up's own xattrs answer from then on.
      syscalls.lsetxattr(p, 'user.b', Buffer.from('2'));
      expect(syscalls.lgetxattr(p, 'user.b').toString()).toBe('2');
    }
    const g = path.join(t.mnt, 'g');
    expect(syscalls.llistxattr(g).sort()).toEqual(['user.a', 'user.b']);
    syscalls.lremovexattr(g, 'user.a');
    expect(syscalls.llistxattr(g)).toEqual(['user.b']);
    expect(() => syscalls.lgetxattr(g, 'user.a')).toThrow(/ENODATA/);
    expect(syscalls.llistxattr(path.join(t.mnt, 'dir'))).toEqual(['user.b']);
  } finally {
    await m.unmount();
    t.cleanup();
  }
});
