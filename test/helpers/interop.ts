// Interop between overlay implementations: one writes through its mount, the other mounts the same
// layers afterwards, and both must show the same tree.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { overlayLayers } from './scratch';
import { mountOverlay } from './cli';
import { treeView } from './tree-view';

export type Layers = ReturnType<typeof overlayLayers>;

export interface OverlayImpl {
  name: string;
  /** Mount `t`'s layers somewhere and return the mountpoint. */
  mount(t: Layers): Promise<string>;
  unmount(mnt: string): Promise<void>;
}

export const layerfsImpl: OverlayImpl = (() => {
  const handles = new Map<string, () => Promise<void>>();
  return {
    name: 'layerfs',
    mount: async (t) => {
      const m = await mountOverlay(t.mnt, t);
      handles.set(t.mnt, m.unmount);
      return t.mnt;
    },
    unmount: async (mnt) => {
      await handles.get(mnt)?.();
      handles.delete(mnt);
    },
  };
})();

/** The views `writer` showed after `change`, and `reader` showed of the same layers afterwards. */
export async function crossView(t: Layers, writer: OverlayImpl, reader: OverlayImpl, change: (root: string) => void) {
  const w = await writer.mount(t);
  let written: string[];
  try {
    change(w);
    written = treeView(w);
  } finally {
    await writer.unmount(w);
  }
  const r = await reader.mount(t);
  try {
    return { written, read: treeView(r) };
  } finally {
    await reader.unmount(r);
  }
}

/** The kernel's overlay on the same layers, with redirect_dir=on (it follows layerfs's redirects too). */
export const kernelImpl: OverlayImpl = {
  name: 'kernel',
  mount: async (t) => {
    const kmnt = path.join(t.dir, 'kmnt');
    fs.mkdirSync(kmnt, { recursive: true });
    execFileSync('mount', [
      '-t',
      'overlay',
      'overlay',
      '-o',
      `lowerdir=${t.lower.join(':')},upperdir=${t.upper},workdir=${t.work},redirect_dir=on`,
      kmnt,
    ]);
    return kmnt;
  },
  unmount: async (mnt) => {
    execFileSync('umount', [mnt]);
  },
};
