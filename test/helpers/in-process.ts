// For tests that mount in the jest process itself (to read the wire transport's counters): the
// session serving a mountpoint, checksums through the mount (a child process does the reading: a
// synchronous call from here would wait on ourselves), and the process umask those mounts set to 0
// (mountFs) put back for the test files that run after in the same jest process.
import * as crypto from 'node:crypto';
import * as path from 'node:path';
import { WireSession, wireSessions } from '@layerfs/fuse-wire';
import { run } from './run';

export function session(mnt: string): WireSession {
  const s = wireSessions.get(path.resolve(mnt));
  if (!s) throw new Error(`no wire session serves ${mnt}`);
  return s;
}

export const sha = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

export async function shaThroughMount(file: string): Promise<string> {
  const r = await run('sha256sum', [file]);
  expect(r.code).toBe(0);
  return r.stdout.split(' ')[0]!;
}

/** Call at the top of a test file that mounts in-process. */
export function restoreUmaskAfterAll(): void {
  const umask = process.umask();
  afterAll(() => {
    process.umask(umask);
  });
}
