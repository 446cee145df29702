// @layerfs/passthrough — a mirror of one directory on backing-io, with bindfs's policies. See README.md.
export { PassthroughFs } from './passthrough-fs';
export type { PassthroughOptions } from './passthrough-fs';
export { mountPassthrough, checkSource } from './mount-passthrough';
export type { MountPassthroughOptions, PassthroughMount } from './mount-passthrough';
export { takeBindfsOptions, BINDFS_OPTIONS, BINDFS_REFUSED } from './bindfs-options';
export type { BindfsSettings } from './bindfs-options';
export { UserDb } from './users';
