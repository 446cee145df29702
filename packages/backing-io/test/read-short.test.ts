// A read is whole unless it reaches EOF. The first try is NOWAIT (preadv2 RWF_NOWAIT), which stops
// at the first page the host's page cache lacks and returns the bytes before it; a FUSE reply that
// short is EOF to the kernel (it zero-fills the rest and shrinks its size), so the core must read on.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { backingFileOpen, backingFileReadIter, nodeIoOps, syscalls, type BackingIoOps } from '@layerfs/backing-io';
import { tempDir } from './helpers';

const MiB = 1 << 20;

test('NOWAIT reads that stop short are continued: NOWAIT again, then one queued read for the uncached rest', async () => {
  const t = tempDir();
  try {
    const p = path.join(t.dir, 'f');
    const data = Buffer.alloc(MiB);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
    fs.writeFileSync(p, data);
    const calls: string[] = [];
    // Fake time: the "page cache" holds [0, 96 KiB) in two pieces, then nothing.
    const io: BackingIoOps = {
      ...nodeIoOps,
      readNowait: (fd, buf, off, len, pos) => {
        calls.push(`nowait ${pos} ${len}`);
        if (pos >= 96 * 1024) return undefined; // EAGAIN: not cached
        const n = Math.min(len, (pos < 64 * 1024 ? 64 * 1024 : 96 * 1024) - pos);
        return fs.readSync(fd, buf, off, n, pos);
      },
      read: (fd, buf, off, len, pos) => {
        calls.push(`queued ${pos} ${len}`);
        return nodeIoOps.read(fd, buf, off, len, pos);
      },
    };
    const file = await backingFileOpen({ userPath: '/f', realPath: p, flags: fs.constants.O_RDONLY, io });
    const buf = Buffer.alloc(512 * 1024);
    const n = await backingFileReadIter(file, { buf }, { pos: 0, flags: 0 });
    expect(n).toBe(buf.length);
    expect(buf.equals(data.subarray(0, buf.length))).toBe(true);
    expect(calls).toEqual(['nowait 0 524288', 'nowait 65536 458752', 'nowait 98304 425984', 'queued 98304 425984']);
    await file.put();
  } finally {
    t.cleanup();
  }
});

test('at EOF a NOWAIT read of 0 ends the read without a queued one', async () => {
  const t = tempDir();
  try {
    const p = path.join(t.dir, 'small');
    fs.writeFileSync(p, 'x'.repeat(1000));
    const queued: number[] = [];
    const io: BackingIoOps = { ...nodeIoOps, read: (fd, b, o, l, pos) => (queued.push(pos ?? -1), nodeIoOps.read(fd, b, o, l, pos)) };
    const file = await backingFileOpen({ userPath: '/small', realPath: p, flags: fs.constants.O_RDONLY, io });
    fs.readFileSync(p); // cached: the NOWAIT read answers
    expect(await backingFileReadIter(file, { buf: Buffer.alloc(4096) }, { pos: 0, flags: 0 })).toBe(1000);
    expect(queued).toEqual([]);
    await file.put();
  } finally {
    t.cleanup();
  }
});

test('a short NOWAIT read that ends inside a page is EOF: one read(2); one that ends on a page boundary asks again', async () => {
  const t = tempDir();
  try {
    const nowait: number[] = [];
    const io: BackingIoOps = {
      ...nodeIoOps,
      readNowait: (fd, b, o, l, pos) => (nowait.push(pos), nodeIoOps.readNowait!(fd, b, o, l, pos)),
    };
    for (const [size, calls] of [
      [1000, [0]],
      [5000, [0]],
      [8192, [0, 8192]],
    ] as const) {
      const p = path.join(t.dir, `f${size}`);
      fs.writeFileSync(p, Buffer.alloc(size, 7));
      fs.readFileSync(p); // cached
      nowait.length = 0;
      const file = await backingFileOpen({ userPath: `/f${size}`, realPath: p, flags: fs.constants.O_RDONLY, io });
      const buf = Buffer.alloc(64 * 1024);
      expect([size, await backingFileReadIter(file, { buf }, { pos: 0, flags: 0 })]).toEqual([size, size]);
      expect([size, nowait]).toEqual([size, calls]);
      await file.put();
    }
  } finally {
    t.cleanup();
  }
});

test('a real file with only some pages in the page cache reads back whole', async () => {
  const t = tempDir('layerfs-partly-cached-', '/var/tmp');
  try {
    const p = path.join(t.dir, 'big');
    const data = Buffer.alloc(8 * MiB);
    for (let i = 0; i < data.length; i += 4) data.writeUInt32LE(i, i);
    fs.writeFileSync(p, data);
    const fd = fs.openSync(p, 'r');
    fs.fsyncSync(fd);
    syscalls.fadviseDontNeed(fd); // clean pages leave the page cache
    fs.readSync(fd, Buffer.alloc(64 * 1024), 0, 64 * 1024, 3 * MiB); // one cached island
    fs.closeSync(fd);
    const file = await backingFileOpen({ userPath: '/big', realPath: p, flags: fs.constants.O_RDONLY });
    const buf = Buffer.alloc(MiB);
    for (let pos = 0; pos < data.length; pos += MiB) {
      expect([pos, await backingFileReadIter(file, { buf }, { pos, flags: 0 })]).toEqual([pos, MiB]);
      expect([pos, buf.equals(data.subarray(pos, pos + MiB))]).toEqual([pos, true]);
    }
    await file.put();
  } finally {
    t.cleanup();
  }
});
