// Layers move freely between the kernel's overlay and layerfs: changes made through one are seen the
// same way through the other (names, types, modes, sizes, contents, symlink targets, user xattrs).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { syscalls } from '@layerfs/backing-io';
import { overlayLayers } from '../helpers/scratch';
import { crossView, kernelImpl, layerfsImpl } from '../helpers/interop';

function changes(root: string): void {
  fs.appendFileSync(path.join(root, 'd/lowerfile'), ' changed');
  fs.unlinkSync(path.join(root, 'd/removed'));
  fs.rmSync(path.join(root, 'gone'), { recursive: true });
  fs.mkdirSync(path.join(root, 'gone'));
  fs.writeFileSync(path.join(root, 'gone/fresh'), 'fresh');
  fs.writeFileSync(path.join(root, 'd/new'), 'new file');
  fs.chmodSync(path.join(root, 'd/mode'), 0o600);
  fs.symlinkSync('d/new', path.join(root, 'newlink'));
  syscalls.lsetxattr(path.join(root, 'd/lowerfile'), 'user.tag', Buffer.from('set'));
  fs.renameSync(path.join(root, 'd/moveme'), path.join(root, 'moved'));
  fs.mkdirSync(path.join(root, 'nd/deeper'), { recursive: true });
  fs.renameSync(path.join(root, 'movedir'), path.join(root, 'nd/movedir')); // a lower directory
  fs.renameSync(path.join(root, 'nd/movedir/sub'), path.join(root, 'subdir-renamed'));
}

const tree = {
  'd/lowerfile': 'lower',
  'd/removed': 'r',
  'd/mode': 'm',
  'd/moveme': 'mv',
  'gone/old1': '1',
  'gone/sub/old2': '2',
  link: '->d/lowerfile',
  top: 'top layer',
  'movedir/in': 'inside',
  'movedir/sub/deep': 'deep',
};

const kernel = kernelImpl;

test.each([
  { writer: kernel, reader: layerfsImpl },
  { writer: layerfsImpl, reader: kernel },
])('changes made through $writer.name look the same through $reader.name', async ({ writer, reader }) => {
  const t = overlayLayers([{ top: 'top layer' }, tree]);
  syscalls.lsetxattr(path.join(t.lower[1]!, 'd/mode'), 'user.kept', Buffer.from('k'));
  try {
    const { written, read } = await crossView(t, writer, reader, changes);
    expect(read).toEqual(written);
  } finally {
    t.cleanup();
  }
});
