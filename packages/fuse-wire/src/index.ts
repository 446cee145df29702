// @layerfs/fuse-wire — the FUSE protocol on /dev/fuse, with kernel passthrough. See README.md.
export { wireTransport, wireSessions } from './wire-transport';
export { chooseTransport } from './choose';
export type { TransportPick } from './choose';
export { WireSession } from './session';
export type { WireInit, WireSessionOptions } from './session';
export type { PassthroughPolicy } from './passthrough-modes';
export { SERVED_READ_MAX } from './passthrough-modes';
export * as abi from './abi';
export * as codec from './codec';
