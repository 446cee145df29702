// What a transport is to the mount lifecycle (mount.ts): something that mounts a directory, serves a
// filesystem on it until the kernel ends the connection, and then lets go of what it holds. Nothing
// outside the transports knows which one is in use.
import type { NodeHandlers } from './handler';
import type { BridgeOptions } from './options';

export type TransportName = 'fuse-native' | 'wire';
/** What a user asks for: a transport by name, or `auto` (the wire transport where it can mount). */
export type TransportChoice = TransportName | 'auto';

export interface TransportSession {
  /** Resolves when the mount is gone, whoever unmounted it. */
  readonly ended: Promise<void>;
  /** After the mount is gone: stop serving and release every reference the kernel can no longer drop. */
  close(): Promise<void>;
  /** One line for the log: what was negotiated. */
  readonly description: string;
}

export interface Transport {
  readonly name: TransportName;
  /** Mount at `mountpoint` (absolute, checked) and serve `handlers` on it. */
  start(mountpoint: string, handlers: NodeHandlers, opts: BridgeOptions): Promise<TransportSession>;
}
