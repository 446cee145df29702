// One request, two references (submitter + completion), exactly one completion, cleanup by whoever
// drops the last reference — inline when nothing was queued.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BackingAio, backingFileOpen, backingFileReadIter, backingFileWriteIter } from '@layerfs/backing-io';
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

test('a zero-length read completes inline: cleanup has run and the count is answered before the call returns', async () => {
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
    // No tick has passed: the cleanup ran inline, the request's file reference is already put, and
    // the count comes back as a number rather than a promise.
    expect(accessed).toBe(1);
    expect(file.refs).toBe(1);
    expect(done).toBe(0);
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

test('a read the page cache holds is answered as a count at once; a write whose completion hook waits, as a promise', async () => {
  const t = tempDir();
  try {
    const p = path.join(t.dir, 'rw');
    fs.writeFileSync(p, 'cached bytes'); // just written: in the page cache
    const file = await backingFileOpen({ userPath: '/rw', realPath: p, flags: fs.constants.O_RDWR });
    const buf = Buffer.alloc(64);
    const iocb = { pos: 0, flags: 0 };
    const n = backingFileReadIter(file, { buf }, iocb);
    expect(n).toBe(12);
    expect(buf.toString('utf8', 0, 12)).toBe('cached bytes');
    expect(iocb.pos).toBe(12);
    expect(file.refs).toBe(1); // the request's reference is already back

    let hookDone = false;
    const hook = {
      endWrite: () =>
        new Promise<void>((resolve) =>
          setImmediate(() => {
            hookDone = true;
            resolve();
          }),
        ),
    };
    const w = backingFileWriteIter(file, { buf: Buffer.from('!!') }, { pos: 12, flags: 0 }, hook);
    expect(w).toBeInstanceOf(Promise);
    expect(await w).toBe(2);
    expect(hookDone).toBe(true);
    expect(file.refs).toBe(1);
    expect(fs.readFileSync(p, 'utf8')).toBe('cached bytes!!');
    await file.put();
  } finally {
    t.cleanup();
  }
});
