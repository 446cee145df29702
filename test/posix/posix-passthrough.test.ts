// The behaviour table through a real passthrough mount.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { KnownFailures, posixCases } from './table';
import { scratch } from '../helpers/scratch';
import { Mounted, TRANSPORT, mountPassthrough } from '../helpers/cli';

// The wire transport gives a hard-linked file one kernel inode (one node per host inode), so every
// name sees a change at once. libfuse 2's path API gives every *name* its own kernel inode and
// fuse-native cannot tell the kernel that another name's cached attributes went stale, so that name
// shows the old nlink and size for attr_timeout.
const UNLINKED_NODE = "a file unlinked after the caller looked it up is still the caller's (fstat and reopen of an O_PATH fd)";
const byMode: Array<{ label: string; opts: string[]; knownFailures: KnownFailures }> = [
  {
    label: 'defaults (attr_timeout=1)',
    opts: [],
    knownFailures:
      TRANSPORT === 'fuse-native'
        ? {
            'nlink seen through the other name right after an unlink': 'the other name keeps its cached nlink for attr_timeout',
            'data written through one hard-link name is read through the other': 'the other name keeps its cached size for attr_timeout',
            'a mode changed through one hard-link name shows through the other': 'the other name keeps its cached mode for attr_timeout',
            'link changes the ctime of the file it links':
              "the kernel keeps the linked file's cached ctime for attr_timeout (libfuse 2 cannot invalidate it)",
            'chown(-1, -1) changes only the ctime': 'libfuse 2 drops a SETATTR that names no attribute',
            [UNLINKED_NODE]: 'libfuse 2 has no path for a node whose only name went, and answers ENOENT itself',
          }
        : {},
  },
  {
    label: 'strict coherence (attr_timeout=0)',
    opts: ['attr_timeout=0'],
    knownFailures:
      TRANSPORT === 'fuse-native'
        ? {
            'chown(-1, -1) changes only the ctime': 'libfuse 2 drops a SETATTR that names no attribute',
            [UNLINKED_NODE]: 'libfuse 2 has no path for a node whose only name went, and answers ENOENT itself',
          }
        : {},
  },
];

describe.each(byMode)('POSIX table through a passthrough mount, $label', ({ opts, knownFailures }) => {
  const s = scratch();
  let m: Mounted;
  beforeAll(async () => {
    fs.mkdirSync(path.join(s.dir, 'src'));
    fs.mkdirSync(path.join(s.dir, 'mnt'));
    m = await mountPassthrough(path.join(s.dir, 'src'), path.join(s.dir, 'mnt'), opts);
  });
  afterAll(async () => {
    try {
      await m?.unmount();
    } finally {
      s.cleanup();
    }
  });
  for (const [i, c] of posixCases.entries()) {
    const t = knownFailures[c.name] ? test.failing : test;
    t(c.name, async () => {
      const dir = path.join(s.dir, 'mnt', `case${i}`);
      fs.mkdirSync(dir);
      await c.run(dir);
    });
  }
});
