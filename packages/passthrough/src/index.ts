// @layerfs/passthrough — a mirror of one directory on backing-io. See README.md.
export { PassthroughFs } from './passthrough-fs';
export type { PassthroughOptions } from './passthrough-fs';
export { mountPassthrough, checkSource } from './mount-passthrough';
export type { MountPassthroughOptions, PassthroughMount } from './mount-passthrough';
