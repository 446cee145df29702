// From a thrown value to the one positive errno a transport answers with. A value that carries no
// errno is a bug in a filesystem, not a filesystem error: it answers EIO and is logged with its stack.
import { constants } from 'node:os';
import { errnoOf } from '@layerfs/backing-io';
import { createLogger } from './logger';

const log = createLogger('bridge');
export const EIO = constants.errno.EIO;

export function errnoForReply(err: unknown, op: string, path: string): number {
  const errno = errnoOf(err);
  if (errno !== undefined && errno > 0) return errno;
  const detail = err instanceof Error ? (err.stack ?? err.message) : String(err);
  log.warn(`bug: ${op} ${path} threw a value with no errno; answered EIO. Please report:\n${detail}`);
  return EIO;
}
