import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  BACKING_IOCB_MASK,
  IocbFlags,
  backingFileOpen,
  backingFileReadIter,
  backingFileWriteIter,
  iocbFlagsFromOpenFlags,
  kiocbClone,
} from '@layerfs/backing-io';
import { tempDir } from './helpers';

test('the backing clone keeps exactly the flags in BACKING_IOCB_MASK', () => {
  expect(BACKING_IOCB_MASK).toBe(IocbFlags.APPEND | IocbFlags.DSYNC | IocbFlags.SYNC | IocbFlags.NOWAIT | IocbFlags.HIPRI);
  const all = Object.values(IocbFlags).reduce((a, b) => a | b, 0);
  const clone = kiocbClone({ pos: 77, flags: all });
  expect(clone).toEqual({ pos: 77, flags: BACKING_IOCB_MASK });
  expect(clone.flags & IocbFlags.DIRECT).toBe(0);
});

test('open flags map to request flags (O_SYNC implies DSYNC)', () => {
  const { O_APPEND, O_SYNC, O_DSYNC, O_RDWR } = fs.constants;
  expect(iocbFlagsFromOpenFlags(O_RDWR)).toBe(0);
  expect(iocbFlagsFromOpenFlags(O_RDWR | O_APPEND)).toBe(IocbFlags.APPEND);
  expect(iocbFlagsFromOpenFlags(O_DSYNC)).toBe(IocbFlags.DSYNC);
  expect(iocbFlagsFromOpenFlags(O_SYNC)).toBe(IocbFlags.SYNC | IocbFlags.DSYNC);
});

test("the position after the I/O is copied back to the caller's request", async () => {
  const t = tempDir();
  try {
    const p = path.join(t.dir, 'f');
    fs.writeFileSync(p, '0123456789');
    const file = await backingFileOpen({ userPath: '/f', realPath: p, flags: fs.constants.O_RDWR });
    const rd = { pos: 2, flags: 0 };
    const buf = Buffer.alloc(4);
    expect(await backingFileReadIter(file, { buf }, rd)).toBe(4);
    expect(buf.toString()).toBe('2345');
    expect(rd.pos).toBe(6);
    const short = { pos: 8, flags: 0 };
    expect(await backingFileReadIter(file, { buf: Buffer.alloc(10) }, short)).toBe(2);
    expect(short.pos).toBe(10);
    const wr = { pos: 10, flags: 0 };
    expect(await backingFileWriteIter(file, { buf: Buffer.from('abc') }, wr)).toBe(3);
    expect(wr.pos).toBe(13);
    expect(fs.readFileSync(p, 'utf8')).toBe('0123456789abc');
    await file.put();
  } finally {
    t.cleanup();
  }
});
