// --transport auto|wire|fuse-native: which transport serves a mount, and why.
import * as fs from 'node:fs';
import type { Transport, TransportChoice } from '@layerfs/fuse-bridge';
import { privilege } from '@layerfs/backing-io';
import { createLogger, findFusermount, fuseNativeTransport } from '@layerfs/fuse-bridge';
import { wireTransport } from './wire-transport';

const log = createLogger('transport');

export interface TransportPick {
  transport: Transport;
  why: string;
}

/**
 * `auto` takes the wire transport wherever it can mount: as root (in the initial namespace or in a
 * user namespace) with /dev/fuse, and as a user where the setuid fusermount3 is installed and
 * /dev/fuse is usable; fuse-native (libfuse 2 and its fusermount) otherwise.
 */
export function chooseTransport(choice: TransportChoice = 'auto'): TransportPick {
  const pick = pickTransport(choice);
  log.debug(`transport ${pick.transport.name} (${choice}: ${pick.why})`);
  return pick;
}

function pickTransport(choice: TransportChoice): TransportPick {
  if (choice === 'wire') return { transport: wireTransport, why: 'asked for' };
  if (choice === 'fuse-native') return { transport: fuseNativeTransport, why: 'asked for' };
  if (process.platform !== 'linux') return { transport: fuseNativeTransport, why: 'not Linux' };
  try {
    fs.accessSync('/dev/fuse', fs.constants.R_OK | fs.constants.W_OK);
  } catch {
    return { transport: fuseNativeTransport, why: '/dev/fuse is not readable and writable by this user' };
  }
  const priv = privilege();
  if (priv.kind === 'root') return { transport: wireTransport, why: `root with /dev/fuse: mount(2), kernel passthrough (${priv.why})` };
  if (priv.kind === 'userns-root')
    return { transport: wireTransport, why: `root in a user namespace: mount(2) of FUSE, no kernel passthrough (${priv.why})` };
  const helper = findFusermount();
  if (helper) return { transport: wireTransport, why: `a user: mounted through ${helper}, no kernel passthrough (${priv.why})` };
  return { transport: fuseNativeTransport, why: `a user without the setuid fusermount3 (apt-get install fuse3) (${priv.why})` };
}
