// The CLI's error contract: a user error is one line on stderr and exit 2 (usage) or 1 (runtime);
// anything else is a bug: stack, a request to report it, exit 70 (EX_SOFTWARE).
import { MountError } from '@layerfs/fuse-bridge';
import { FsError } from '@layerfs/backing-io';

export class UsageError extends Error {}

export const EXIT_RUNTIME = 1;
export const EXIT_USAGE = 2;
export const EXIT_BUG = 70;

export function exitCodeFor(err: unknown): number {
  if (err instanceof UsageError) return EXIT_USAGE;
  if (err instanceof MountError) return err.usage ? EXIT_USAGE : EXIT_RUNTIME;
  if (err instanceof FsError) return EXIT_RUNTIME;
  return EXIT_BUG;
}

export function describeError(err: unknown): string {
  const code = exitCodeFor(err);
  if (code === EXIT_BUG) {
    const stack = err instanceof Error ? (err.stack ?? err.message) : String(err);
    return `layerfs: internal error (a bug — please report it with this output):\n${stack}`;
  }
  return `layerfs: ${(err as Error).message}`;
}
