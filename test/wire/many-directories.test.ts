// A tree of 100 000 directories walked with find(1) through the passthrough while the daemon's fd
// limit is 4 096: the node table keeps a bounded number of O_PATH fds and re-opens evicted ones from
// their parent's, so the walk sees every directory, nothing fails EMFILE, and memory stays bounded.
// (Wire transport only: the same walk through libfuse 2 takes minutes.)
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CLI, TRANSPORT, layerfs } from '../helpers/cli';
import { sourceAndMountpoint } from '../helpers/scratch';
import { py, run } from '../helpers/run';

const TOP = 100;
const EACH = 1000;

test(`find over ${TOP * EACH} directories with ulimit -n 4096`, async () => {
  const t = sourceAndMountpoint();
  await py(
    `
import os, sys
for i in range(${TOP}):
    d = os.path.join(sys.argv[1], 'd%d' % i)
    os.mkdir(d)
    for j in range(${EACH}):
        os.mkdir(os.path.join(d, 's%d' % j))
`,
    t.src,
  );
  let mounted = false;
  try {
    const r = await run('sh', [
      '-c',
      'ulimit -n 4096 && exec "$@"',
      'sh',
      process.execPath,
      CLI,
      'passthrough',
      '--transport',
      TRANSPORT,
      t.src,
      t.mnt,
    ]);
    expect(r.stderr).toBe('');
    mounted = true;
    const pid = Number(/pid (\d+)/.exec(r.stdout)![1]);
    expect(fs.readFileSync(`/proc/${pid}/limits`, 'utf8')).toMatch(/Max open files\s+4096/);
    const walk = await run('find', [t.mnt, '-type', 'd'], { timeoutMs: 300000 });
    expect(walk.stderr).toBe('');
    expect(walk.stdout.split('\n').filter(Boolean).length).toBe(1 + TOP + TOP * EACH);
    // Every fd the daemon has stays within the limit, and so does its memory.
    expect(fs.readdirSync(`/proc/${pid}/fd`).length).toBeLessThan(4096);
    const hwmMb = Number(/VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
    expect(hwmMb).toBeLessThan(300);
    // A second walk re-opens evicted directories from their parents.
    const again = await run('find', [path.join(t.mnt, 'd7'), '-type', 'd'], { timeoutMs: 300000 });
    expect(again.stdout.split('\n').filter(Boolean).length).toBe(1 + EACH);
  } finally {
    if (mounted) await layerfs(['umount', t.mnt]);
    t.cleanup();
  }
}, 600000);
