// Layers written by layerfs mount with fuse-overlayfs and show the same view (and back), where
// fuse-overlayfs is installed.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { overlayLayers } from '../helpers/scratch';
import { waitFor } from '../helpers/cli';
import { Layers, OverlayImpl, crossView, layerfsImpl } from '../helpers/interop';

const have = spawnSync('which', ['fuse-overlayfs']).status === 0;

function fuseOverlayfs(t: Layers): string {
  const mnt = path.join(t.dir, 'fomnt');
  fs.mkdirSync(mnt, { recursive: true });
  execFileSync('fuse-overlayfs', ['-o', `lowerdir=${t.lower.join(':')},upperdir=${t.upper},workdir=${t.work}`, mnt]);
  return mnt;
}

const unmount = async (mnt: string) => {
  execFileSync('umount', [mnt]);
  await waitFor(() => !fs.readFileSync('/proc/self/mounts', 'utf8').includes(` ${mnt} `), 'fuse-overlayfs to unmount');
};

function changes(root: string): void {
  fs.appendFileSync(path.join(root, 'd/f'), '+1');
  fs.unlinkSync(path.join(root, 'd/del'));
  fs.rmSync(path.join(root, 'e'), { recursive: true });
  fs.mkdirSync(path.join(root, 'e'));
  fs.writeFileSync(path.join(root, 'e/n'), 'n');
  fs.symlinkSync('d/f', path.join(root, 'l2'));
}

const tree = { 'd/f': 'f', 'd/del': 'x', 'e/old': 'o', l: '->d/f' };

const fuseOverlayfsImpl: OverlayImpl = {
  name: 'fuse-overlayfs',
  mount: async (t) => fuseOverlayfs(t),
  unmount,
};

const each = have ? test.each : test.skip.each;
each([
  { writer: layerfsImpl, reader: fuseOverlayfsImpl },
  { writer: fuseOverlayfsImpl, reader: layerfsImpl },
])('changes made through $writer.name look the same through $reader.name', async ({ writer, reader }) => {
  const t = overlayLayers([tree]);
  try {
    const { written, read } = await crossView(t, writer, reader, changes);
    expect(read).toEqual(written);
  } finally {
    t.cleanup();
  }
});
