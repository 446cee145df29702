// @layerfs/fuse-bridge — the handler interface and its transports. See README.md.
export type {
  NodeHandlers,
  NodeId,
  Entry,
  CreateReply,
  FileRange,
  RequestContext,
  Fh,
  Reply,
  OpenReply,
  DirEntry,
  SetattrTimes,
} from './handler';
export { ROOT_NODE, RENAME_NOREPLACE, RENAME_EXCHANGE, RENAME_WHITEOUT } from './handler';
export { NodeFsBase } from './node-fs-base';
export { attrFromStats, statFsFrom } from './attr';
export type { Attr, Ino, StatFs } from './attr';
export { mountFs } from './mount';
export type { MountHandle, MountFsOptions } from './mount';
export type { Transport, TransportChoice, TransportName, TransportSession } from './transport';
export { fuseNativeTransport } from './fuse-native/start';
export { MountError } from './mount-error';
export { parseOptionString, takeBridgeOptions, defaultBridgeOptions, libfuseOptions, optionTaker, vfsOptionNames } from './options';
export type { BridgeOptions, OptionMap, CacheMode, VfsFlags } from './options';
export {
  prepareMountpoint,
  unmountPath,
  abortConnection,
  checkNoOverlap,
  cleanStaleMount,
  isStale,
  mountAt,
  readMounts,
  findFusermount,
} from './mountpoint';
export { createLogger, setLogSink, isDebugEnabled } from './logger';
export type { Logger, LogSink } from './logger';
export { errnoForReply } from './errno';
export { HandleTable } from './handle-table';
export { PathCache } from './fuse-native/path-cache';
export type { PathCacheOptions } from './fuse-native/path-cache';
export { startUnmountSentinel } from './sentinel';
export {
  withMirrorPolicy,
  hasMirrorPolicy,
  withIdPolicy,
  hasIdPolicy,
  parseIdMapping,
  parsePerms,
  parseRate,
  RateLimiter,
  withPolicyHook,
  changesSomething,
} from './policy';
export type {
  MirrorPolicy,
  IdPolicy,
  IdRange,
  ChangePolicy,
  PermChain,
  FilePolicy,
  PolicyRequest,
  PolicyAnswer,
  PolicyOp,
  DataEvent,
} from './policy';
