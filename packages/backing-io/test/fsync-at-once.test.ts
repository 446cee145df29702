// An fsync is done on the request thread where it should not hold the other requests up long: a
// local file of at most a few MiB, and not while fsyncs have been slow lately (then queued, for
// longer each time it happens again). The clock is a fake: on a loaded machine a real one makes any
// fsync look slow now and then. The files and the syncs are real, in a temp dir.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { nodeIoOps } from '../src/backing-io-ops';
import { fsyncAtOnce, fsyncAtOnceHost } from '../src/fsync-at-once';
import { tempDir, withFile } from './helpers';

let now = 0n;
/** How far each reading of the clock moves it: 0 makes every fsync fast. */
let step = 0n;
fsyncAtOnceHost.now = () => (now += step);
const MS = 1_000_000n;

beforeEach(() => {
  now += 100_000n * MS; // past any backoff an earlier test started
  step = 0n;
});

test('a small local file is synced at once (fsync and fdatasync); a file larger than 4 MiB is queued', () => {
  withFile('f', (fd) => {
    expect(fsyncAtOnce(fd, false)).toBe(true);
    expect(fsyncAtOnce(fd, true)).toBe(true);
  });
  withFile('big', (fd) => expect(fsyncAtOnce(fd, true)).toBe(false), Buffer.alloc((4 << 20) + 1));
});

test('a directory is synced at once; a closed fd is left to the queue, which reports EBADF', async () => {
  const t = tempDir();
  try {
    const dfd = fs.openSync(t.dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    expect(fsyncAtOnce(dfd, false)).toBe(true);
    fs.closeSync(dfd);
    expect(fsyncAtOnce(dfd, false)).toBe(false);
    await expect(nodeIoOps.fsync(dfd)).rejects.toMatchObject({ code: 'EBADF' });
  } finally {
    t.cleanup();
  }
});

test('an fsync that took long sends the ones after it to the queue for a while, longer each time', async () => {
  withFile('f', (fd) => {
    step = 11n * MS; // each fsync done here appears to take 11 ms (the clock moves that much per reading)
    expect(fsyncAtOnce(fd, false)).toBe(true);
    step = 0n;
    expect(fsyncAtOnce(fd, false)).toBe(false); // within the first backoff (100 ms)
    now += 101n * MS;
    step = 11n * MS;
    expect(fsyncAtOnce(fd, false)).toBe(true); // slow again: the next backoff is 200 ms
    step = 0n;
    now += 150n * MS;
    expect(fsyncAtOnce(fd, false)).toBe(false);
    now += 60n * MS;
    expect(fsyncAtOnce(fd, false)).toBe(true); // fast: the backoff starts over at 100 ms
  });
  // Through the core's default ops: done at once answers without a promise; queued, with one.
  const t = tempDir();
  const fd = fs.openSync(path.join(t.dir, 'g'), 'w+');
  try {
    now += 100_000n * MS;
    expect(nodeIoOps.fdatasync(fd)).toBeUndefined();
    step = 11n * MS;
    expect(nodeIoOps.fdatasync(fd)).toBeUndefined();
    step = 0n;
    const queued = nodeIoOps.fdatasync(fd);
    expect(queued).toBeInstanceOf(Promise);
    await queued;
  } finally {
    fs.closeSync(fd);
    t.cleanup();
  }
});
