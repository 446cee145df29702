// @layerfs/overlay — a union mount in the Linux overlayfs on-disk format. See README.md.
export { OverlayFs } from './overlay-fs';
export type { OverlayFsOptions } from './overlay-fs';
export { mountOverlay, checkOverlay } from './mount-overlay';
export type { MountOverlayOptions, OverlayMount } from './mount-overlay';
export { parseLowerdir, checkLayers, takeOverlayFeatures, redirectMode, metacopyFollows } from './params';
export type { OverlayLayers, OverlayFeatures, RedirectDir, RedirectMode } from './params';
export { ovlXattrs, isPrivateXattr } from './xattr-names';
export { OvlNamei } from './namei';
export type { OvlEntry, RealEntry } from './namei';
export { readMergedDir } from './readdir';
export { LayerPaths } from './layer-paths';
