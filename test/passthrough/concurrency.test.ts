// 8 processes write and read their own files and their own stripes of one shared file through the
// mount for a few seconds; at the end every file's content is checked by checksum, through the mount
// and in the source.
import { execFile } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { sourceAndMountpoint } from '../helpers/scratch';
import { mountPassthrough } from '../helpers/cli';

const WORKERS = 8;
const STRIPE = 4096 * 64;
const sha = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

test('8 parallel writers/readers on distinct and shared files keep every byte', async () => {
  const s = sourceAndMountpoint({ shared: Buffer.alloc(WORKERS * STRIPE) });
  const { src, mnt } = s;
  const m = await mountPassthrough(src, mnt);
  try {
    const worker = path.join(__dirname, '..', 'helpers', 'stress-worker.js');
    const results = await Promise.all(
      Array.from(
        { length: WORKERS },
        (_, id) =>
          new Promise<{
            id: number;
            ops: number;
            mismatches: number;
            own: string;
            stripe: string;
          }>((resolve, reject) => {
            execFile(process.execPath, [worker, mnt, String(id), '3'], (err, stdout) => (err ? reject(err) : resolve(JSON.parse(stdout))));
          }),
      ),
    );
    const shared = fs.readFileSync(path.join(mnt, 'shared'));
    const sharedSrc = fs.readFileSync(path.join(src, 'shared'));
    for (const r of results) {
      expect(r.ops).toBeGreaterThan(50);
      expect(r.mismatches).toBe(0);
      expect(sha(fs.readFileSync(path.join(mnt, `own-${r.id}`)))).toBe(r.own);
      expect(sha(fs.readFileSync(path.join(src, `own-${r.id}`)))).toBe(r.own);
      expect(sha(shared.subarray(r.id * STRIPE, (r.id + 1) * STRIPE))).toBe(r.stripe);
      expect(sha(sharedSrc.subarray(r.id * STRIPE, (r.id + 1) * STRIPE))).toBe(r.stripe);
    }
  } finally {
    await m.unmount();
    s.cleanup();
  }
});
