// One request, two references (submitter + completion), exactly one completion, cleanup by whoever
// drops the last reference — inline when nothing was queued.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BackingAio, backingFileOpen, backingFileReadIter } from '@layerfs/backing-io';
import { tempDir } from './helpers';

async function openTemp(dir: string) {
  const p = path.join(dir, 'f');
  fs.writeFileSync(p, 'hello');
  return backingFileOpen({ userPath: '/f', realPath: p, flags: fs.constants.O_RDONLY });
}

test('cleanup runs once, after both the completion and the submitter dropped their references', async () => {
  const t = tempDir();
  try {
    const file = await openTemp(t.dir);
    const cleanups: number[] = [];
    const iocb = { pos: 0, flags: 0 };
    const backing = { pos: 0, flags: 0 };
    const aio = new BackingAio(file, iocb, backing, (_a, r) => {
      cleanups.push(r.ok ? r.bytes : -1);
    });
    expect(file.refs).toBe(2);
    backing.pos = 5;
    aio.complete({ ok: true, bytes: 5 });
    expect(cleanups).toEqual([]); // the submitter still holds its reference
    aio.put();
    expect(cleanups).toEqual([5]);
    expect(iocb.pos).toBe(5);
    await expect(aio.done).resolves.toBe(5);
    expect(file.refs).toBe(1);
    expect(() => aio.complete({ ok: true, bytes: 1 })).toThrow(/completed twice/);
    await file.put();
  } finally {
    t.cleanup();
  }
});

test('a zero-length read completes inline: cleanup has run before the call returns', async () => {
  const t = tempDir();
  try {
    const file = await openTemp(t.dir);
    let accessed = 0;
    const done = backingFileReadIter(
      file,
      { buf: Buffer.alloc(0) },
      { pos: 0, flags: 0 },
      {
        accessed: () => {
          accessed++;
        },
      },
    );
    expect(accessed).toBe(1); // no tick has passed: the cleanup ran inline
    await expect(done).resolves.toBe(0);
    expect(file.refs).toBe(1);
    await file.put();
  } finally {
    t.cleanup();
  }
});

test('a failed I/O completes once with its error and still drops its file reference', async () => {
  const t = tempDir();
  try {
    const p = path.join(t.dir, 'wo');
    fs.writeFileSync(p, 'x');
    const file = await backingFileOpen({ userPath: '/wo', realPath: p, flags: fs.constants.O_WRONLY });
    await expect(backingFileReadIter(file, { buf: Buffer.alloc(4) }, { pos: 0, flags: 0 })).rejects.toMatchObject({ code: 'EBADF' });
    expect(file.refs).toBe(1);
    await file.put();
  } finally {
    t.cleanup();
  }
});
