// Daemon-served reads (fuse-native always; the wire transport without kernel passthrough, which is
// every rootless mount) of a file the host's page cache holds only in part. The daemon's first try
// is a NOWAIT read, which stops short at the first uncached page; answered as it was, the kernel took
// the short reply for EOF and zero-filled the rest — `cat` of such a file read other bytes, and a
// container's busybox, exec'd from a lower layer, crashed with SIGSEGV.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Mounted, TRANSPORT, mountOverlay, mountPassthrough } from './helpers/cli';
import { overlayLayers, sourceAndMountpoint } from './helpers/scratch';

const MiB = 1 << 20;
/** Daemon-served data on either transport. */
const DAEMON_SERVED = TRANSPORT === 'wire' ? ['passthrough=off'] : [];

function bigFile(p: string): string {
  const data = Buffer.alloc(8 * MiB);
  for (let i = 0; i < data.length; i += 4) data.writeUInt32LE(Math.imul(i, 2654435761) >>> 0, i);
  fs.writeFileSync(p, data);
  return createHash('sha256').update(data).digest('hex');
}

/** Evict `p` from the page cache, then cache a 64 KiB island in every 256 KiB, as a host that read parts of it. */
function partlyCache(p: string): void {
  const script = [
    'import os, sys',
    'fd = os.open(sys.argv[1], os.O_RDONLY)',
    'os.fsync(fd)',
    'os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)',
    'for off in range(0, os.fstat(fd).st_size, 256 << 10): os.pread(fd, 65536, off + 4096)',
  ].join('\n');
  execFileSync('python3', ['-c', script, p]);
}

const sha = (p: string) => createHash('sha256').update(fs.readFileSync(p)).digest('hex');

test('overlay: a partly cached lower file reads back whole through the daemon', async () => {
  const t = overlayLayers([{}]);
  let m: Mounted | undefined;
  try {
    // A file per round: one the kernel has not cached through the mount yet.
    const want = [0, 1, 2].map((r) => bigFile(path.join(t.lower[0]!, `big${r}`)));
    m = await mountOverlay(t.mnt, t, DAEMON_SERVED);
    for (let round = 0; round < 3; round++) {
      partlyCache(path.join(t.lower[0]!, `big${round}`));
      expect([round, sha(path.join(t.mnt, `big${round}`)), fs.statSync(path.join(t.mnt, `big${round}`)).size]).toEqual([
        round,
        want[round],
        8 * MiB,
      ]);
    }
  } finally {
    await m?.unmount();
    t.cleanup();
  }
});

test('passthrough: a partly cached source file reads back whole through the daemon', async () => {
  const t = sourceAndMountpoint();
  let m: Mounted | undefined;
  try {
    const want = [0, 1, 2].map((r) => bigFile(path.join(t.src, `big${r}`)));
    m = await mountPassthrough(t.src, t.mnt, DAEMON_SERVED);
    for (let round = 0; round < 3; round++) {
      partlyCache(path.join(t.src, `big${round}`));
      expect([round, sha(path.join(t.mnt, `big${round}`))]).toEqual([round, want[round]]);
    }
  } finally {
    await m?.unmount();
    t.cleanup();
  }
});
