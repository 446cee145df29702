// A small write is done on the request thread only where it cannot wait for a disk: nothing of the
// file to read first (past its end, or the pages at both ends of the write in the page cache), and
// not while writes are being slowed down (dirty-page throttling). The rest, and every write of a
// SYNC/DSYNC request, is queued on the threadpool as before. The clock and the page-cache probe are
// fakes: on a loaded machine a real clock makes any write look slow now and then, and what a real
// page cache holds is the kernel's to decide (a dropped page can be read back by readahead at once).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { IocbFlags, backingFileOpen, backingFileWriteIter, nodeIoOps, type BackingIoOps } from '@layerfs/backing-io';
import { writeAtOnce, writeAtOnceHost } from '../src/write-at-once';
import { tempDir, withFile } from './helpers';

let now = 0n;
/** How far each reading of the clock moves it: 0 makes every write fast. */
let step = 0n;
writeAtOnceHost.now = () => (now += step);
/** The positions probed, and what the fake page cache answers for them. */
let probed: number[] = [];
let cachedPages = (_pos: number) => true;
writeAtOnceHost.pageCached = (_fd, pos) => (probed.push(pos), cachedPages(pos));

test('a small write past the end of a file is done at once, as pwrite(2) would', () => {
  withFile('new', (fd, p) => {
    expect(writeAtOnce(fd, Buffer.from('hello world'), 6, 5, 0)).toBe(5);
    expect(writeAtOnce(fd, Buffer.from('!'), 0, 1, 5)).toBe(1);
    expect(fs.readFileSync(p, 'utf8')).toBe('world!');
    // Larger than what the request thread copies itself: queued.
    expect(writeAtOnce(fd, Buffer.alloc(65 * 1024), 0, 65 * 1024, 6)).toBeUndefined();
    expect(fs.statSync(p).size).toBe(6);
  });
});

test('a write into part of a page the cache lacks is queued (ext4 would read it from disk first); once cached, done at once', () => {
  withFile('old', (fd, p) => {
    fs.writeSync(fd, Buffer.alloc(256 * 1024, 0x61), 0, 256 * 1024, 0);
    probed = [];
    cachedPages = (pos) => pos < 98_304 || pos >= 102_400; // the page holding [100000, 100003) is not cached
    expect(writeAtOnce(fd, Buffer.from('xyz'), 0, 3, 100_000)).toBeUndefined();
    expect(fs.readFileSync(p).subarray(100_000, 100_003).toString()).toBe('aaa');
    expect(probed).toEqual([100_000]);
    cachedPages = () => true;
    probed = [];
    expect(writeAtOnce(fd, Buffer.from('xyz'), 0, 3, 100_000)).toBe(3);
    expect(probed).toEqual([100_000, 100_002]); // both ends of the write
    expect(fs.readFileSync(p).subarray(99_999, 100_004).toString()).toBe('axyza');
    // Across the end of the file: only the end inside it is probed; past the end nothing is.
    probed = [];
    expect(writeAtOnce(fd, Buffer.from('12345'), 0, 5, 256 * 1024 - 2)).toBe(5);
    expect(probed).toEqual([256 * 1024 - 2]);
    probed = [];
    expect(writeAtOnce(fd, Buffer.from('z'), 0, 1, 300_000)).toBe(1);
    expect(probed).toEqual([]);
    expect(fs.statSync(p).size).toBe(300_001);
  });
});

test('a write that took long (throttled) sends the writes after it to the queue for a while, longer each time', () => {
  withFile('slow', (fd, p) => {
    step = 2_000_000n; // every write now takes 2 ms
    expect(writeAtOnce(fd, Buffer.from('a'), 0, 1, 0)).toBe(1); // done, but slow: 100 ms of queueing
    step = 0n;
    expect(writeAtOnce(fd, Buffer.from('b'), 0, 1, 1)).toBeUndefined();
    now += 99_000_000n;
    expect(writeAtOnce(fd, Buffer.from('b'), 0, 1, 1)).toBeUndefined();
    now += 2_000_000n;
    step = 2_000_000n;
    expect(writeAtOnce(fd, Buffer.from('b'), 0, 1, 1)).toBe(1); // slow again: 200 ms now
    step = 0n;
    now += 150_000_000n;
    expect(writeAtOnce(fd, Buffer.from('c'), 0, 1, 2)).toBeUndefined();
    now += 60_000_000n;
    expect(writeAtOnce(fd, Buffer.from('c'), 0, 1, 2)).toBe(1); // fast: back to 100 ms for the next slow one
    expect(fs.readFileSync(p, 'utf8')).toBe('abc');
  });
});

test('the core writes through writeAtOnce, but a SYNC/DSYNC write goes to the queue with its sync', async () => {
  const t = tempDir();
  try {
    const p = path.join(t.dir, 'f');
    fs.writeFileSync(p, '');
    const calls: string[] = [];
    const io: BackingIoOps = {
      ...nodeIoOps,
      writeAtOnce: (...a) => (calls.push('at once?'), nodeIoOps.writeAtOnce!(...a)),
      write: (...a) => (calls.push('queued'), nodeIoOps.write(...a)),
    };
    const file = await backingFileOpen({ userPath: '/f', realPath: p, flags: fs.constants.O_RDWR, io });
    expect(await backingFileWriteIter(file, { buf: Buffer.from('abc') }, { pos: 0, flags: 0 })).toBe(3);
    expect(calls[0]).toBe('at once?');
    calls.length = 0;
    expect(await backingFileWriteIter(file, { buf: Buffer.from('def') }, { pos: 3, flags: IocbFlags.DSYNC })).toBe(3);
    expect(calls).toEqual(['queued']);
    expect(fs.readFileSync(p, 'utf8')).toBe('abcdef');
    await file.put();
  } finally {
    t.cleanup();
  }
});
