// The POSIX behaviour table through an overlay mount: in new directories, in a directory that
// exists only in the lower layer (everything there is copied up on the way), and in a merged one.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { KnownFailures, posixCases } from '../posix/table';
import { overlayLayers } from '../helpers/scratch';
import { Mounted, TRANSPORT, mountOverlay } from '../helpers/cli';

// Each name of a hard-linked file is its own kernel inode on both transports. fuse-native cannot
// tell the kernel that another name's cached attributes went stale, so that name shows the old
// nlink and size for attr_timeout; the wire transport invalidates the other names (INVAL_INODE).
const UNLINKED_NODE = "a file unlinked after the caller looked it up is still the caller's (fstat and reopen of an O_PATH fd)";
const knownFailures: KnownFailures =
  TRANSPORT === 'fuse-native'
    ? {
        [UNLINKED_NODE]: 'libfuse 2 has no path for a node whose only name went, and answers ENOENT itself',
        'nlink seen through the other name right after an unlink': 'the other name keeps its cached nlink for attr_timeout',
        'data written through one hard-link name is read through the other': 'the other name keeps its cached size for attr_timeout',
        'a mode changed through one hard-link name shows through the other': 'the other name keeps its cached mode for attr_timeout',
        'link changes the ctime of the file it links':
          "the kernel keeps the linked file's cached ctime for attr_timeout (libfuse 2 cannot invalidate it)",
        'chown(-1, -1) changes only the ctime': 'libfuse 2 drops a SETATTR that names no attribute',
      }
    : {};

describe('POSIX table through an overlay mount', () => {
  const t = overlayLayers([{ 'lowdir/': '', 'merged/': '', 'merged/keep': 'lower file' }], { upper: { 'merged/': '' } });
  let m: Mounted;
  beforeAll(async () => {
    m = await mountOverlay(t.mnt, t);
  });
  afterAll(async () => {
    try {
      await m?.unmount();
    } finally {
      t.cleanup();
    }
  });
  for (const where of ['new', 'lowdir', 'merged'] as const) {
    for (const [i, c] of posixCases.entries()) {
      const run = knownFailures[c.name] ? test.failing : test;
      run(`${where}: ${c.name}`, async () => {
        const dir = where === 'new' ? path.join(t.mnt, `case${i}`) : path.join(t.mnt, where, `case${i}`);
        fs.mkdirSync(dir);
        await c.run(dir);
      });
    }
  }
});
