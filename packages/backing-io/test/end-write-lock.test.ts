// endWrite runs under the inode lock: a getattr served from the attribute cache never reports a size
// smaller than a write that has already returned, however the completions interleave.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BackingFile, InodeLocks, backingFileOpen, backingFileWriteIter } from '@layerfs/backing-io';
import { tempDir } from './helpers';

/** Random small delays: completions reach the cache in a scrambled order, as on a busy threadpool. */
const jitter = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.random() * ms));

async function run(withLock: boolean): Promise<number> {
  const t = tempDir();
  try {
    const p = path.join(t.dir, 'grow');
    fs.writeFileSync(p, '');
    const locks = new InodeLocks<string>();
    const cache = new Map<string, bigint>();
    const copyAttr = async (file: BackingFile) => {
      const st = await file.io.fstat(file.fd);
      await jitter(4);
      cache.set('grow', st.size);
    };
    const ctx = {
      endWrite: (file: BackingFile) => (withLock ? locks.withLock('grow', () => copyAttr(file)) : copyAttr(file)),
    };
    const getattr = () => locks.withLock('grow', () => cache.get('grow') ?? 0n);

    const file = await backingFileOpen({ userPath: '/grow', realPath: p, flags: fs.constants.O_WRONLY });
    const chunk = 512;
    let violations = 0;
    let returnedEnd = 0n; // the end of the furthest write that has already returned
    await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        await jitter(30); // writes spread over time, so the file grows while completions run
        await backingFileWriteIter(file, { buf: Buffer.alloc(chunk, 65 + (i % 26)) }, { pos: i * chunk, flags: 0 }, ctx);
        const end = BigInt((i + 1) * chunk);
        if (end > returnedEnd) returnedEnd = end;
        const mustSee = returnedEnd;
        const size = await getattr();
        if (size < mustSee) violations++;
      }),
    );
    await file.put();
    expect(fs.statSync(p).size).toBe(200 * chunk);
    return violations;
  } finally {
    t.cleanup();
  }
}

test('with endWrite under the inode lock, getattr never goes back in time', async () => {
  for (let round = 0; round < 3; round++) expect(await run(true)).toBe(0);
});

test('the test detects the race when the lock is left out (proves the test)', async () => {
  let total = 0;
  for (let round = 0; round < 5 && total === 0; round++) total += await run(false);
  expect(total).toBeGreaterThan(0);
});
