// O_APPEND is carried down: two backing files opened O_APPEND and a writer outside the core append
// concurrently; every record lands whole, none is overwritten.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { backingFileOpen, backingFileWriteIter } from '@layerfs/backing-io';
import { tempDir } from './helpers';

test('concurrent appends from two handles and an outside writer lose nothing', async () => {
  const t = tempDir();
  try {
    const p = path.join(t.dir, 'log');
    fs.writeFileSync(p, '');
    const flags = fs.constants.O_WRONLY | fs.constants.O_APPEND;
    const a = await backingFileOpen({ userPath: '/log', realPath: p, flags });
    const b = await backingFileOpen({ userPath: '/log', realPath: p, flags });
    const outside = fs.openSync(p, 'a');
    const rec = (who: string, i: number) => Buffer.from(`${who}${String(i).padStart(5, '0')}\n`);
    const N = 300;
    // Each handle's own position stays at 0: with an emulated append (pwrite at a stale position) the
    // records would overwrite each other.
    await Promise.all([
      ...Array.from({ length: N }, (_, i) => backingFileWriteIter(a, { buf: rec('A', i) }, { pos: 0, flags: a.iocbFlags })),
      ...Array.from({ length: N }, (_, i) => backingFileWriteIter(b, { buf: rec('B', i) }, { pos: 0, flags: b.iocbFlags })),
      (async () => {
        for (let i = 0; i < N; i++) {
          await new Promise<void>((res, rej) => fs.write(outside, rec('X', i), (e) => (e ? rej(e) : res())));
        }
      })(),
    ]);
    fs.closeSync(outside);
    await a.put();
    await b.put();
    const lines = fs.readFileSync(p, 'utf8').split('\n').filter(Boolean);
    expect(lines).toHaveLength(3 * N);
    for (const who of ['A', 'B', 'X']) {
      const mine = lines
        .filter((l) => l.startsWith(who))
        .map((l) => Number(l.slice(1)))
        .sort((x, y) => x - y);
      expect(mine).toEqual(Array.from({ length: N }, (_, i) => i));
    }
  } finally {
    t.cleanup();
  }
});
