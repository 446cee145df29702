// rename across layers: a lower file is copied up and moved, and its old name stays gone (whiteout).
// A directory with lower parts is renamed in O(1) in the kernel's redirect_dir format: copied up
// alone, marked with trusted.overlay.redirect, moved, and its old name whited out.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { syscalls } from '@layerfs/backing-io';
import { overlayLayers } from '../helpers/scratch';
import { mountOverlay } from '../helpers/cli';

test('rename of lower files, over existing names, and of a lower directory', async () => {
  const t = overlayLayers([{ 'a/f': 'F', 'b/': '', target: 'old', src: 'new', 'dir/x': 'x' }]);
  const m = await mountOverlay(t.mnt, t);
  try {
    const ino = fs.statSync(path.join(t.mnt, 'a/f')).ino;
    fs.renameSync(path.join(t.mnt, 'a/f'), path.join(t.mnt, 'b/g'));
    expect(fs.existsSync(path.join(t.mnt, 'a/f'))).toBe(false);
    expect(fs.readFileSync(path.join(t.mnt, 'b/g'), 'utf8')).toBe('F');
    expect(fs.statSync(path.join(t.mnt, 'b/g')).ino).toBe(ino);
    expect(fs.lstatSync(path.join(t.upper!, 'a/f')).isCharacterDevice()).toBe(true);

    fs.renameSync(path.join(t.mnt, 'src'), path.join(t.mnt, 'target'));
    expect(fs.readFileSync(path.join(t.mnt, 'target'), 'utf8')).toBe('new');
    expect(fs.existsSync(path.join(t.mnt, 'src'))).toBe(false);

    const dirIno = fs.statSync(path.join(t.mnt, 'dir')).ino;
    fs.renameSync(path.join(t.mnt, 'dir'), path.join(t.mnt, 'b/dir2'));
    expect(fs.readFileSync(path.join(t.mnt, 'b/dir2/x'), 'utf8')).toBe('x');
    expect(fs.existsSync(path.join(t.mnt, 'dir'))).toBe(false);
    expect(fs.statSync(path.join(t.mnt, 'b/dir2')).ino).toBe(dirIno);
    // O(1): only the directory came up, not its contents.
    expect(fs.readdirSync(path.join(t.upper!, 'b/dir2'))).toEqual([]);
    expect(syscalls.lgetxattr(path.join(t.upper!, 'b/dir2'), 'trusted.overlay.redirect').toString()).toBe('/dir');
    expect(fs.lstatSync(path.join(t.upper!, 'dir')).isCharacterDevice()).toBe(true);
    // Moved again: the redirect keeps pointing where the lower layer holds it.
    fs.renameSync(path.join(t.mnt, 'b/dir2'), path.join(t.mnt, 'dir3'));
    expect(fs.readFileSync(path.join(t.mnt, 'dir3/x'), 'utf8')).toBe('x');
    expect(syscalls.lgetxattr(path.join(t.upper!, 'dir3'), 'trusted.overlay.redirect').toString()).toBe('/dir');
    // No lower layer holds the names b/dir2 and dir3: neither leaving them nor removing dir3 needs a
    // whiteout (the kernel asks the lower layers for the name each time, ovl_lower_positive).
    expect(fs.existsSync(path.join(t.upper!, 'b/dir2'))).toBe(false);
    fs.unlinkSync(path.join(t.mnt, 'dir3/x'));
    fs.rmdirSync(path.join(t.mnt, 'dir3'));
    expect(fs.existsSync(path.join(t.upper!, 'dir3'))).toBe(false);
    expect(fs.lstatSync(path.join(t.upper!, 'dir')).isCharacterDevice()).toBe(true);
    expect(fs.readdirSync(t.mnt).sort()).toEqual(['a', 'b', 'target']);

    fs.mkdirSync(path.join(t.mnt, 'newdir'));
    fs.writeFileSync(path.join(t.mnt, 'newdir/n'), 'n');
    fs.renameSync(path.join(t.mnt, 'newdir'), path.join(t.mnt, 'moved'));
    expect(fs.readFileSync(path.join(t.mnt, 'moved/n'), 'utf8')).toBe('n');
    // The lower layer never changes.
    expect(fs.readFileSync(path.join(t.lower[0]!, 'a/f'), 'utf8')).toBe('F');
    expect(fs.existsSync(path.join(t.lower[0]!, 'dir/x'))).toBe(true);
  } finally {
    await m.unmount();
    t.cleanup();
  }
});
