// Layers written by layerfs mount with fuse-overlayfs and show the same view (and back), where
// fuse-overlayfs is installed.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { overlayLayers } from '../helpers/scratch';
import { mountOverlay, waitFor } from '../helpers/cli';
import { treeView } from '../helpers/tree-view';

const have = spawnSync('which', ['fuse-overlayfs']).status === 0;
const maybe = have ? test : test.skip;

function fuseOverlayfs(t: ReturnType<typeof overlayLayers>): string {
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

const tree = { 'd/f': 'f', 'd/del': 'x', 'e/old': 'o', 'l': '->d/f' };

maybe('fuse-overlayfs sees what layerfs wrote', async () => {
  const t = overlayLayers([tree]);
  const m = await mountOverlay(t.mnt, t);
  let ours: string[];
  try {
    changes(t.mnt);
    ours = treeView(t.mnt);
  } finally {
    await m.unmount();
  }
  const fo = fuseOverlayfs(t);
  try {
    expect(treeView(fo)).toEqual(ours);
  } finally {
    await unmount(fo);
    t.cleanup();
  }
});

maybe('layerfs sees what fuse-overlayfs wrote', async () => {
  const t = overlayLayers([tree]);
  const fo = fuseOverlayfs(t);
  let theirs: string[];
  try {
    changes(fo);
    theirs = treeView(fo);
  } finally {
    await unmount(fo);
  }
  const m = await mountOverlay(t.mnt, t);
  try {
    expect(treeView(t.mnt)).toEqual(theirs);
  } finally {
    await m.unmount();
    t.cleanup();
  }
});
