// @layerfs/backing-io — the backing-file core. See README.md for the contract.
export { FsError, errnoOf, errnoName, isErrno } from './errors';
export type { ErrnoCode } from './errors';
export { IocbFlags, BACKING_IOCB_MASK, kiocbClone, iocbFlagsFromOpenFlags } from './kiocb';
export type { Kiocb, IocbFlagSet } from './kiocb';
export { BackingFile, TMPFILE_NAME, backingFileOpen, backingTmpfileOpen } from './backing-file';
export type { BackingFileOpenOptions, Cred } from './backing-file';
export { BackingAio } from './backing-aio';
export type { AioResult } from './backing-aio';
export { backingFileReadIter, backingFileWriteIter } from './backing-file-io';
export { backingFileFallocate, backingFileLseek, backingFileCopyRange, COPY_CHUNK } from './backing-file-range';
export type { BackingFileCtx, IoVec } from './backing-file-io';
export { nodeIoOps } from './backing-io-ops';
export type { BackingIoOps } from './backing-io-ops';
export { InodeLocks } from './inode-locks';
export type { Unlock } from './inode-locks';
export { registerOwnMount, unregisterOwnMount, ownMountpoints, ownMountContaining, checkNotStacked, isPathInside } from './own-mounts';
export * as syscalls from './syscalls';
export { O_ACCMODE } from './syscalls';
/** The koffi module the core binds libc with, for a transport's own native calls (see koffi-native.ts). */
export { default as koffi } from './koffi-native';
export type { TimeSpec } from './syscalls';
export { thenMaybe } from './maybe-async';
export type { FileHandle, RawDirent, StatxResult } from './syscalls';
export { callerOwner } from './caller-owner';
export { privilege } from './privilege';
export type { Privilege, PrivilegeKind } from './privilege';
export { watchFd } from './fd-watch';
export type { FdWatch, FdWatchEvent } from './fd-watch';
