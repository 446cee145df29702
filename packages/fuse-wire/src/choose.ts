// --transport auto|wire|fuse-native: which transport serves a mount, and why.
import * as fs from 'node:fs';
import type { Transport, TransportChoice } from '@layerfs/fuse-bridge';
import { createLogger, fuseNativeTransport } from '@layerfs/fuse-bridge';
import { wireTransport } from './wire-transport';

const log = createLogger('transport');

export interface TransportPick {
  transport: Transport;
  why: string;
}

/** `auto` takes the wire transport where it can mount (Linux, root, /dev/fuse readable and writable). */
export function chooseTransport(choice: TransportChoice = 'auto'): TransportPick {
  const pick = pickTransport(choice);
  log.debug(`transport ${pick.transport.name} (${choice}: ${pick.why})`);
  return pick;
}

function pickTransport(choice: TransportChoice): TransportPick {
  if (choice === 'wire') return { transport: wireTransport, why: 'asked for' };
  if (choice === 'fuse-native') return { transport: fuseNativeTransport, why: 'asked for' };
  if (process.platform !== 'linux') return { transport: fuseNativeTransport, why: 'not Linux' };
  if (process.getuid?.() !== 0)
    return { transport: fuseNativeTransport, why: 'not root (mount(2) needs CAP_SYS_ADMIN; libfuse uses fusermount)' };
  try {
    fs.accessSync('/dev/fuse', fs.constants.R_OK | fs.constants.W_OK);
  } catch {
    return { transport: fuseNativeTransport, why: '/dev/fuse is not accessible' };
  }
  return { transport: wireTransport, why: 'root with /dev/fuse' };
}
