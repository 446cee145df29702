// Interop between overlay implementations: one writes through its mount, the other mounts the same
// layers afterwards, and both must show the same tree.
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
