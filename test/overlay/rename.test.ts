// rename across layers: a lower file is copied up and moved, and its old name stays gone (whiteout).
// A directory with lower parts answers EXDEV, as the kernel's overlay does without redirect_dir
// (mv then copies the tree).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { overlayLayers } from '../helpers/scratch';
import { mountOverlay } from '../helpers/cli';

test('rename of lower files, over existing names, and of a lower directory', async () => {
  const t = overlayLayers([{ 'a/f': 'F', 'b/': '', 'target': 'old', 'src': 'new', 'dir/x': 'x' }]);
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

    expect(() => fs.renameSync(path.join(t.mnt, 'dir'), path.join(t.mnt, 'dir2'))).toThrow(expect.objectContaining({ code: 'EXDEV' }));
    execFileSync('mv', [path.join(t.mnt, 'dir'), path.join(t.mnt, 'dir2')]);
    expect(fs.readFileSync(path.join(t.mnt, 'dir2/x'), 'utf8')).toBe('x');
    expect(fs.existsSync(path.join(t.mnt, 'dir'))).toBe(false);

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
