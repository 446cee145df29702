// A completion must never touch a closed or recycled fd: in-flight reads hold references on the
// BackingFile, so releasing it while they are queued keeps the fd alive until the last one finishes.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { backingFileOpen, backingFileReadIter, nodeIoOps } from '@layerfs/backing-io';
import { gatedIo, tempDir } from './helpers';

test('reads in flight across release and fd recycling return bytes of the right file', async () => {
  const t = tempDir();
  try {
    const victim = path.join(t.dir, 'victim');
    fs.writeFileSync(victim, 'V'.repeat(4096));
    const others = Array.from({ length: 8 }, (_, i) => {
      const p = path.join(t.dir, `other${i}`);
      fs.writeFileSync(p, 'O'.repeat(4096));
      return p;
    });

    const gate = gatedIo();
    const file = await backingFileOpen({ userPath: '/victim', realPath: victim, flags: fs.constants.O_RDONLY, io: gate.ops });
    const victimFd = file.fd;
    const bufs = Array.from({ length: 4 }, () => Buffer.alloc(1024));
    const reads = bufs.map((buf, i) => backingFileReadIter(file, { buf }, { pos: i * 1024, flags: 0 }));
    expect(file.refs).toBe(1 + reads.length);

    // The opener lets go while the reads are still queued: the fd must stay open.
    await file.put();
    expect(gate.closed).toEqual([]);
    expect(file.isClosed).toBe(false);

    // Open other files. Had the victim's fd been closed, one of these would now own its number.
    const otherFiles = await Promise.all(
      others.map((p) => backingFileOpen({ userPath: p, realPath: p, flags: fs.constants.O_RDONLY, io: nodeIoOps })),
    );
    expect(otherFiles.map((f) => f.fd)).not.toContain(victimFd);

    gate.release();
    const counts = await Promise.all(reads);
    expect(counts).toEqual([1024, 1024, 1024, 1024]);
    for (const buf of bufs) expect(buf.toString()).toBe('V'.repeat(1024));

    // Closed exactly once, after the last completion.
    await file.whenClosed();
    expect(gate.closed).toEqual([victimFd]);
    expect(file.isClosed).toBe(true);
    expect(() => file.fd).toThrow(/EBADF/);
    await Promise.all(otherFiles.map((f) => f.put()));
  } finally {
    t.cleanup();
  }
});

test('the fd closes at the last put, not before, and a put too many is a bug', async () => {
  const t = tempDir();
  try {
    const p = path.join(t.dir, 'f');
    fs.writeFileSync(p, 'x');
    const gate = gatedIo();
    gate.release();
    const file = await backingFileOpen({ userPath: '/f', realPath: p, flags: fs.constants.O_RDONLY, io: gate.ops });
    file.get();
    await file.put();
    expect(gate.closed).toEqual([]);
    await file.put();
    expect(gate.closed).toHaveLength(1);
    expect(() => file.put()).toThrow(/put more than taken/);
    expect(() => file.get()).toThrow(/EBADF/);
  } finally {
    t.cleanup();
  }
});

test('put returns a promise only while a close is still running', async () => {
  const t = tempDir();
  try {
    const p = path.join(t.dir, 'f');
    fs.writeFileSync(p, 'x');
    // Read-only: closed at once at the last put, nothing to wait for (a release answers synchronously).
    const ro = await backingFileOpen({ userPath: '/f', realPath: p, flags: fs.constants.O_RDONLY, io: nodeIoOps });
    ro.get();
    expect(ro.put()).toBeUndefined();
    expect(ro.put()).toBeUndefined();
    expect(ro.isClosed).toBe(true);
    // Opened for writing, bigger than a close may flush on the request thread: the close runs on
    // the threadpool, and the last put is its promise.
    fs.writeFileSync(p, Buffer.alloc(2 << 20, 1));
    const big = await backingFileOpen({ userPath: '/f', realPath: p, flags: fs.constants.O_RDWR, io: nodeIoOps });
    const closing = big.put();
    expect(closing).toBeInstanceOf(Promise);
    await closing;
    expect(big.isClosed).toBe(true);
    // The last reference to an unlinked file frees its blocks at close: the threadpool too.
    const gone = await backingFileOpen({ userPath: '/f', realPath: p, flags: fs.constants.O_RDWR, io: nodeIoOps });
    fs.writeFileSync(p, 'small');
    fs.unlinkSync(p);
    const closingGone = gone.put();
    expect(closingGone).toBeInstanceOf(Promise);
    await closingGone;
  } finally {
    t.cleanup();
  }
});

const TMPFS_MAGIC = 0x01021994;
const shm = fs.existsSync('/dev/shm') && fs.statfsSync('/dev/shm').type === TMPFS_MAGIC;

// tmpfs is one of the filesystems whose close(2) waits for no I/O (close-at-once.ts); every Debian
// machine mounts one at /dev/shm.
(shm ? test : test.skip)('a small file open for writing on a local filesystem closes at once', async () => {
  const t = tempDir('layerfs-unit-', '/dev/shm');
  try {
    const p = path.join(t.dir, 'f');
    fs.writeFileSync(p, 'x');
    const rw = await backingFileOpen({ userPath: '/f', realPath: p, flags: fs.constants.O_RDWR, io: nodeIoOps });
    const fd = rw.fd;
    expect(rw.put()).toBeUndefined();
    await rw.whenClosed();
    expect(rw.isClosed).toBe(true);
    expect(() => fs.fstatSync(fd)).toThrow(/EBADF/);
  } finally {
    t.cleanup();
  }
});
