// READs the daemon serves (no kernel passthrough: what every rootless mount gets) are answered by
// splice(2) from the filesystem's own fd where the host's page cache holds the range: the bytes are
// right, every READ is either spliced or copied (never both, never lost), a file whose size ends
// inside a READ (the short last read) and a file read after a copy-up come out whole, and a policy
// that looks at the bytes sees all of them (its wrapper hides the fd, so nothing is spliced).
//
// Served by this test process (the counters live in it): every touch of the mount goes through a
// child process (helpers/in-process).
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { mountPassthrough, PassthroughMount } from '@layerfs/passthrough';
import { mountOverlay, OverlayMount } from '@layerfs/overlay';
import { overlayLayers, sourceAndMountpoint } from '../helpers/scratch';
import { run } from '../helpers/run';
import { restoreUmaskAfterAll, session, sha, shaThroughMount } from '../helpers/in-process';

const MiB = 1 << 20;
restoreUmaskAfterAll();

/** Drop the mount's page cache for `file` (not the host's), so the next read reaches the daemon again. */
async function dropMountCache(file: string): Promise<void> {
  const r = await run('dd', [`if=${file}`, 'iflag=nocache', 'count=0', 'status=none']);
  expect(r.code).toBe(0);
}

test('passthrough=off: a 32 MiB read is spliced, a file ending mid-READ is whole, the bytes are right', async () => {
  const big = crypto.randomBytes(32 * MiB);
  const odd = crypto.randomBytes(3 * MiB + 12345);
  const t = sourceAndMountpoint({ big, odd });
  let m: PassthroughMount | undefined;
  try {
    m = await mountPassthrough({ source: t.src, mountpoint: t.mnt, transport: 'wire', passthrough: 'off' });
    const s = session(t.mnt);
    // The source files were just written: the host's page cache holds them.
    expect(await shaThroughMount(path.join(t.mnt, 'big'))).toBe(sha(big));
    const reads = s.counts.get('READ') ?? 0;
    expect(reads).toBeGreaterThan(0);
    expect(s.splicedReads).toBeGreaterThan(reads / 2);
    expect(s.splicedReads).toBeLessThanOrEqual(reads);
    expect(await shaThroughMount(path.join(t.mnt, 'odd'))).toBe(sha(odd));
    await dropMountCache(path.join(t.mnt, 'odd'));
    expect(await shaThroughMount(path.join(t.mnt, 'odd'))).toBe(sha(odd));
  } finally {
    await m?.unmount();
    t.cleanup();
  }
});

test('overlay, passthrough=off: lower files spliced; an fd opened before a copy-up reads the upper file after it', async () => {
  const data = crypto.randomBytes(8 * MiB);
  const t = overlayLayers([{}]);
  fs.writeFileSync(path.join(t.lower[0]!, 'f'), data);
  fs.writeFileSync(path.join(t.lower[0]!, 'g'), data);
  let m: OverlayMount | undefined;
  try {
    m = await mountOverlay({ lower: t.lower, upper: t.upper, work: t.work, mountpoint: t.mnt, transport: 'wire', passthrough: 'off' });
    expect(await shaThroughMount(path.join(t.mnt, 'f'))).toBe(sha(data));
    expect(session(t.mnt).splicedReads).toBeGreaterThan(0);
    // Open g read-only, copy it up with new bytes through another fd, read the first fd again.
    const changed = Buffer.from(data);
    changed.fill(7, 0, 4 * MiB);
    const r = await run('python3', [
      '-c',
      `
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
with open(sys.argv[1], 'r+b') as w:
    w.write(b'\\x07' * (4 << 20))
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
out = b''
while True:
    b = os.pread(fd, 1 << 20, len(out))
    if not b: break
    out += b
sys.stdout.write(__import__('hashlib').sha256(out).hexdigest())`,
      path.join(t.mnt, 'g'),
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(sha(changed));
    expect(fs.readFileSync(path.join(t.lower[0]!, 'g')).equals(data)).toBe(true);
  } finally {
    await m?.unmount();
    t.cleanup();
  }
});

test('a policy that sees the bytes (onRead) gets every read: nothing is spliced around it', async () => {
  const data = crypto.randomBytes(4 * MiB);
  const t = sourceAndMountpoint({ f: data });
  let m: PassthroughMount | undefined;
  let seen = 0;
  try {
    m = await mountPassthrough({
      source: t.src,
      mountpoint: t.mnt,
      transport: 'wire',
      passthrough: 'off',
      policy: {
        serveData: () => true,
        onRead: (ev) => {
          seen += ev.data.length;
        },
      },
    });
    expect(await shaThroughMount(path.join(t.mnt, 'f'))).toBe(sha(data));
    expect(session(t.mnt).splicedReads).toBe(0);
    expect(seen).toBe(data.length);
  } finally {
    await m?.unmount();
    t.cleanup();
  }
});
