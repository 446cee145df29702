// kill -9 in the middle of copying up a 1 GiB file: after a remount the file is either the lower
// content or the complete new content — never a truncated copy — and workdir holds no leftovers.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFile, execFileSync } from 'node:child_process';
import { overlayLayers } from '../helpers/scratch';
import { isMounted, layerfs, mountOverlay, waitFor } from '../helpers/cli';

const GiB = 1024 * 1024 * 1024;
const sha = (p: string) => crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex');

test('a daemon killed mid copy-up leaves the old content or the whole new one', async () => {
  const t = overlayLayers([{}]);
  const big = path.join(t.lower[0]!, 'big');
  // Real data, not a hole: the copy must take a while.
  execFileSync('dd', ['if=/dev/urandom', `of=${big}`, 'bs=1M', 'count=1024', 'status=none']);
  const lowerSum = sha(big);
  const m = await mountOverlay(t.mnt, t);
  try {
    // The first write starts the copy-up; the writer waits on it, so run it in its own process.
    const writer = execFileAsync(['-e', `require('fs').appendFileSync(${JSON.stringify(path.join(t.mnt, 'big'))}, 'tail')`]);
    await waitFor(() => fs.readdirSync(path.join(t.work!, 'work')).length > 0, 'the copy-up to start', 20000);
    process.kill(m.pid, 'SIGKILL');
    await writer.catch(() => undefined); // it fails (ENOTCONN) or finished: either is fine
    await waitFor(() => {
      try {
        fs.statSync(t.mnt);
        return false;
      } catch (err) {
        return (err as NodeJS.ErrnoException).code === 'ENOTCONN';
      }
    }, 'the mount to go stale');
    // Remount (cleans the stale mount and workdir), and look.
    const again = await mountOverlay(t.mnt, t);
    try {
      expect(fs.readdirSync(path.join(t.work!, 'work'))).toEqual([]);
      const seen = path.join(t.mnt, 'big');
      const size = fs.statSync(seen).size;
      if (fs.existsSync(path.join(t.upper!, 'big'))) {
        // The copy-up finished before the kill: the whole file came up (with or without the append).
        expect([GiB, GiB + 4]).toContain(size);
        const fd = fs.openSync(seen, 'r');
        const h = crypto.createHash('sha256');
        const buf = Buffer.alloc(1 << 20);
        for (let off = 0; off < GiB; off += buf.length) h.update(buf.subarray(0, fs.readSync(fd, buf, 0, buf.length, off)));
        fs.closeSync(fd);
        expect(h.digest('hex')).toBe(lowerSum);
      } else {
        // Killed mid-copy: the lower file shows, untouched.
        expect(size).toBe(GiB);
        expect(sha(seen)).toBe(lowerSum);
      }
    } finally {
      await again.unmount();
    }
  } finally {
    if (isMounted(t.mnt)) await layerfs(['umount', '--lazy', t.mnt]);
    t.cleanup();
  }
}, 180000);

function execFileAsync(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, (err) => (err ? reject(err) : resolve()));
  });
}
