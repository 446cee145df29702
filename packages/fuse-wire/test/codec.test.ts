// Every request layout the wire transport decodes and every reply it encodes, against bytes built by
// hand from include/uapi/linux/fuse.h (not from the codec), including INIT for an older kernel.
import { abi, codec } from '@layerfs/fuse-wire';
import type { Attr, Ino } from '@layerfs/fuse-bridge';

const { Opcode } = abi;

/** A request as the kernel writes it: fuse_in_header, then the argument bytes. */
function request(opcode: number, args: Buffer, nodeid = 7n, unique = 0x1122334455667788n): Buffer {
  const h = Buffer.alloc(40);
  h.writeUInt32LE(40 + args.length, 0);
  h.writeUInt32LE(opcode, 4);
  h.writeBigUInt64LE(unique, 8);
  h.writeBigUInt64LE(nodeid, 16);
  h.writeUInt32LE(1000, 24);
  h.writeUInt32LE(100, 28);
  h.writeUInt32LE(4242, 32);
  return Buffer.concat([h, args]);
}

/** Little-endian fields: [bits, value] pairs. */
function le(...fields: Array<[8 | 16 | 32 | 64, number | bigint]>): Buffer {
  const parts = fields.map(([bits, v]) => {
    const b = Buffer.alloc(bits / 8);
    if (bits === 64) b.writeBigUInt64LE(BigInt(v));
    else if (bits === 32) b.writeUInt32LE(Number(v));
    else if (bits === 16) b.writeUInt16LE(Number(v));
    else b.writeUInt8(Number(v));
    return b;
  });
  return Buffer.concat(parts);
}

const z = (s: string) => Buffer.from(`${s}\0`);

function decoded(opcode: number, args: Buffer) {
  const raw = request(opcode, args);
  const req = codec.decodeRequest(raw, raw.length);
  expect(req).toMatchObject({ opcode, unique: 0x1122334455667788n, nodeid: 7, uid: 1000, gid: 100, pid: 4242 });
  return req.body;
}

describe('request layouts', () => {
  test('header: length must match what was read; extensions are cut off the arguments', () => {
    const raw = request(Opcode.LOOKUP, z('name'));
    expect(() => codec.decodeRequest(raw, raw.length - 1)).toThrow(/length/);
    const ext = Buffer.concat([raw, Buffer.alloc(8, 0xff)]);
    ext.writeUInt32LE(ext.length, 0);
    ext.writeUInt16LE(1, 36); // total_extlen in 8-byte units
    expect(codec.decode.name(codec.decodeRequest(ext, ext.length).body)).toBe('name');
  });

  test('arguments end where the request does: stale bytes of a reused buffer past it are never read', () => {
    const raw = request(Opcode.LOOKUP, Buffer.from('abc')); // no NUL: the name ends with the request
    const big = Buffer.alloc(raw.length + 64, 0x41);
    raw.copy(big);
    expect(codec.decode.name(codec.decodeRequest(big, raw.length).body)).toBe('abc');
    const w = request(
      Opcode.WRITE,
      Buffer.concat([le([64, 1], [64, 0], [32, 100], [32, 0], [64, 0], [32, 0], [32, 0]), Buffer.from('xyz')]),
    );
    const bigW = Buffer.alloc(w.length + 200, 0x42);
    w.copy(bigW);
    // It claims 100 bytes; 3 came with it.
    expect(codec.decode.write(codec.decodeRequest(bigW, w.length).body).data).toEqual(Buffer.from('xyz'));
  });

  test('INIT (fuse_init_in with flags2)', () => {
    const b = decoded(
      Opcode.INIT,
      le([32, 7], [32, 45], [32, 131072], [32, 0x1234], [32, 0x20], ...(Array(11).fill([32, 0]) as Array<[32, number]>)),
    );
    expect(codec.decode.init(b)).toEqual({ major: 7, minor: 45, maxReadahead: 131072, flags: 0x1234n | (0x20n << 32n) });
  });

  test('LOOKUP, UNLINK, RMDIR, REMOVEXATTR: one name', () => {
    for (const op of [Opcode.LOOKUP, Opcode.UNLINK, Opcode.RMDIR, Opcode.REMOVEXATTR]) {
      expect(codec.decode.name(decoded(op, z('héllo')))).toBe('héllo');
    }
  });

  test('FORGET and BATCH_FORGET', () => {
    expect(codec.decode.forget(decoded(Opcode.FORGET, le([64, 3])))).toBe(3);
    expect(codec.decode.batchForget(decoded(Opcode.BATCH_FORGET, le([32, 2], [32, 0], [64, 9], [64, 1], [64, 10], [64, 4])))).toEqual([
      { nodeid: 9, nlookup: 1 },
      { nodeid: 10, nlookup: 4 },
    ]);
  });

  test('GETATTR', () => {
    expect(codec.decode.getattr(decoded(Opcode.GETATTR, le([32, 1], [32, 0], [64, 77])))).toEqual({ flags: 1, fh: 77 });
  });

  test('SETATTR (fuse_setattr_in, 88 bytes)', () => {
    const b = le(
      [32, 0x3f],
      [32, 0],
      [64, 5],
      [64, 4096],
      [64, 0],
      [64, 1700000000],
      [64, 1600000000],
      [64, 0],
      [32, 11],
      [32, 22],
      [32, 0],
      [32, 0o100644],
      [32, 0],
      [32, 1000],
      [32, 100],
      [32, 0],
    );
    expect(b.length).toBe(88);
    expect(codec.decode.setattr(decoded(Opcode.SETATTR, b))).toEqual({
      valid: 0x3f,
      fh: 5,
      size: 4096,
      atime: 1700000000n,
      mtime: 1600000000n,
      atimensec: 11,
      mtimensec: 22,
      mode: 0o100644,
      uid: 1000,
      gid: 100,
    });
  });

  test('SYMLINK: name then target', () => {
    expect(codec.decode.symlink(decoded(Opcode.SYMLINK, Buffer.concat([z('link'), z('../target')])))).toEqual({
      name: 'link',
      target: '../target',
    });
  });

  test('MKNOD, MKDIR, CREATE carry the umask', () => {
    expect(
      codec.decode.mknod(decoded(Opcode.MKNOD, Buffer.concat([le([32, 0o10644], [32, 0x0801], [32, 0o22], [32, 0]), z('fifo')]))),
    ).toEqual({ mode: 0o10644, rdev: 0x0801, umask: 0o22, name: 'fifo' });
    expect(codec.decode.mkdir(decoded(Opcode.MKDIR, Buffer.concat([le([32, 0o755], [32, 0o22]), z('dir')])))).toEqual({
      mode: 0o755,
      umask: 0o22,
      name: 'dir',
    });
    expect(
      codec.decode.create(decoded(Opcode.CREATE, Buffer.concat([le([32, 0o102], [32, 0o100644], [32, 0o22], [32, 1]), z('f')]))),
    ).toEqual({ flags: 0o102, mode: 0o100644, umask: 0o22, openFlags: 1 /* OPEN_KILL_SUIDGID */, name: 'f' });
  });

  test('RENAME and RENAME2', () => {
    expect(codec.decode.rename(decoded(Opcode.RENAME, Buffer.concat([le([64, 12]), z('a'), z('b')])))).toEqual({
      newdir: 12,
      flags: 0,
      from: 'a',
      to: 'b',
    });
    expect(codec.decode.rename2(decoded(Opcode.RENAME2, Buffer.concat([le([64, 12], [32, 2], [32, 0]), z('a'), z('b')])))).toEqual({
      newdir: 12,
      flags: 2,
      from: 'a',
      to: 'b',
    });
  });

  test('LINK', () => {
    expect(codec.decode.link(decoded(Opcode.LINK, Buffer.concat([le([64, 33]), z('second')])))).toEqual({ oldnodeid: 33, name: 'second' });
  });

  test('OPEN and OPENDIR', () => {
    expect(codec.decode.open(decoded(Opcode.OPEN, le([32, 0o2002], [32, 1])))).toEqual({ flags: 0o2002, openFlags: 1 });
  });

  test('READ, READDIR, READDIRPLUS (fuse_read_in)', () => {
    for (const op of [Opcode.READ, Opcode.READDIR, Opcode.READDIRPLUS]) {
      expect(codec.decode.read(decoded(op, le([64, 4], [64, 2 ** 40], [32, 131072], [32, 0], [64, 0], [32, 0], [32, 0])))).toEqual({
        fh: 4,
        offset: 2 ** 40,
        size: 131072,
      });
    }
  });

  test('WRITE: the payload follows the 40-byte fuse_write_in and stays a view', () => {
    const args = Buffer.concat([le([64, 4], [64, 100], [32, 5], [32, 1], [64, 0], [32, 0], [32, 0]), Buffer.from('hello')]);
    const w = codec.decode.write(decoded(Opcode.WRITE, args));
    expect(w).toMatchObject({ fh: 4, offset: 100, size: 5, writeFlags: 1 });
    expect(w.data.toString()).toBe('hello');
  });

  test('RELEASE, RELEASEDIR, FLUSH, FSYNC, FSYNCDIR', () => {
    expect(codec.decode.release(decoded(Opcode.RELEASE, le([64, 8], [32, 2], [32, 1], [64, 0])))).toEqual({
      fh: 8,
      flags: 2,
      releaseFlags: 1,
    });
    expect(codec.decode.flush(decoded(Opcode.FLUSH, le([64, 8], [32, 0], [32, 0], [64, 99])))).toEqual({ fh: 8 });
    expect(codec.decode.fsync(decoded(Opcode.FSYNC, le([64, 8], [32, 1], [32, 0])))).toEqual({ fh: 8, fsyncFlags: 1 });
  });

  test('SETXATTR, GETXATTR, LISTXATTR', () => {
    expect(
      codec.decode.setxattr(decoded(Opcode.SETXATTR, Buffer.concat([le([32, 3], [32, 1]), z('user.k'), Buffer.from('v\0w')]))),
    ).toEqual({ flags: 1, name: 'user.k', value: Buffer.from('v\0w') });
    expect(codec.decode.getxattr(decoded(Opcode.GETXATTR, Buffer.concat([le([32, 0], [32, 0]), z('user.k')])))).toEqual({
      size: 0,
      name: 'user.k',
    });
    expect(codec.decode.listxattr(decoded(Opcode.LISTXATTR, le([32, 256], [32, 0])))).toEqual({ size: 256 });
  });

  test('ACCESS, INTERRUPT', () => {
    expect(codec.decode.access(decoded(Opcode.ACCESS, le([32, 4], [32, 0])))).toEqual({ mask: 4 });
    expect(codec.decode.interrupt(decoded(Opcode.INTERRUPT, le([64, 0xabcdefn])))).toBe(0xabcdefn);
  });

  test('FALLOCATE, LSEEK, COPY_FILE_RANGE', () => {
    expect(codec.decode.fallocate(decoded(Opcode.FALLOCATE, le([64, 3], [64, 4096], [64, 8192], [32, 3], [32, 0])))).toEqual({
      fh: 3,
      offset: 4096,
      length: 8192,
      mode: 3,
    });
    expect(codec.decode.lseek(decoded(Opcode.LSEEK, le([64, 3], [64, 10], [32, 3], [32, 0])))).toEqual({ fh: 3, offset: 10, whence: 3 });
    expect(
      codec.decode.copyFileRange(decoded(Opcode.COPY_FILE_RANGE, le([64, 1], [64, 2], [64, 3], [64, 4], [64, 5], [64, 6], [64, 0]))),
    ).toEqual({ fhIn: 1, offIn: 2, nodeidOut: 3, fhOut: 4, offOut: 5, len: 6, flags: 0 });
  });
});

const attr: Attr = {
  ino: 0x1_0000_0001n as Ino,
  mode: 0o100640,
  nlink: 2,
  uid: 1000,
  gid: 100,
  rdev: 0,
  size: 12345n,
  blocks: 24n,
  blksize: 4096,
  atimeNs: 1_700_000_000_123_456_789n,
  mtimeNs: -1_500_000_000n,
  ctimeNs: 5n,
};

/** struct fuse_attr, built field by field. */
function attrBytes(): Buffer {
  return le(
    [64, attr.ino],
    [64, 12345],
    [64, 24],
    [64, 1700000000],
    [64, BigInt.asUintN(64, -2n)],
    [64, 0],
    [32, 123456789],
    [32, 500000000],
    [32, 5],
    [32, 0o100640],
    [32, 2],
    [32, 1000],
    [32, 100],
    [32, 0],
    [32, 4096],
    [32, 0],
  );
}

/** A reply (a Uint8Array over shared reply memory) as a Buffer over the same bytes, to read fields with. */
function B(u: Uint8Array): Buffer {
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

function header(len: number, error: number, unique: bigint): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt32LE(len, 0);
  b.writeInt32LE(error, 4);
  b.writeBigUInt64LE(unique, 8);
  return b;
}

describe('reply layouts', () => {
  test('error: a bare header with the negated errno', () => {
    expect(B(codec.errorReply(9n, 2))).toEqual(header(16, -2, 9n));
  });

  test('attr_out: timeout, then fuse_attr (pre-1970 times borrow a second)', () => {
    const r = B(codec.attrReply(9n, attr, 1.5));
    expect(r).toEqual(Buffer.concat([header(16 + 104, 0, 9n), le([64, 1], [32, 500000000], [32, 0]), attrBytes()]));
  });

  test('fuse_attr: sizes past 32 bits, times far before 1970 and past 2106, whole negative seconds', () => {
    const NS = 1_000_000_000n;
    const far: Attr = {
      ...attr,
      size: 2n ** 40n + 7n,
      blocks: 2n ** 32n,
      atimeNs: -(2n ** 33n) * NS - 1n, // 1 ns before -2^33 s: the seconds one lower, 999 999 999 ns
      mtimeNs: 2n ** 33n * NS + 3n,
      ctimeNs: -NS,
    };
    const r = B(codec.attrReply(9n, far, 0)).subarray(16 + 16);
    expect(r.readBigUInt64LE(8)).toBe(2n ** 40n + 7n);
    expect(r.readBigUInt64LE(16)).toBe(2n ** 32n);
    expect([r.readBigInt64LE(24), r.readUInt32LE(48)]).toEqual([-(2n ** 33n) - 1n, 999_999_999]);
    expect([r.readBigInt64LE(32), r.readUInt32LE(52)]).toEqual([2n ** 33n, 3]);
    expect([r.readBigInt64LE(40), r.readUInt32LE(56)]).toEqual([-1n, 0]);
  });

  test('entry_out: node id, generation, timeouts, attributes', () => {
    const r = B(codec.entryReply(9n, { nodeid: 5, generation: 2, entryTimeout: 1, attrTimeout: 0.25, attr }));
    expect(r).toEqual(
      Buffer.concat([header(16 + 128, 0, 9n), le([64, 5], [64, 2], [64, 1], [64, 0], [32, 0], [32, 250000000]), attrBytes()]),
    );
    const neg = B(codec.negativeEntryReply(9n, 2));
    expect(neg.subarray(16, 24)).toEqual(Buffer.alloc(8));
    expect(neg.readBigUInt64LE(16 + 16)).toBe(2n);
  });

  test('open_out and create (entry_out + open_out), with a passthrough backing id', () => {
    expect(B(codec.openReply(9n, { fh: 3, openFlags: abi.OpenOut.PASSTHROUGH, backingId: 7 }))).toEqual(
      Buffer.concat([header(32, 0, 9n), le([64, 3], [32, 1 << 7], [32, 7])]),
    );
    const c = B(
      codec.createReply(9n, { nodeid: 5, generation: 0, entryTimeout: 1, attrTimeout: 1, attr }, { fh: 3, openFlags: 0, backingId: 0 }),
    );
    expect(c.length).toBe(16 + 128 + 16);
    expect(c.readBigUInt64LE(16 + 128)).toBe(3n);
  });

  test('write_out / getxattr_out, lseek_out, data', () => {
    expect(B(codec.sizeReply(9n, 4096))).toEqual(Buffer.concat([header(24, 0, 9n), le([32, 4096], [32, 0])]));
    expect(B(codec.u64Reply(9n, 2 ** 33))).toEqual(Buffer.concat([header(24, 0, 9n), le([64, 2 ** 33])]));
    expect(B(codec.dataReply(9n, Buffer.from('abc')))).toEqual(Buffer.concat([header(19, 0, 9n), Buffer.from('abc')]));
  });

  test('statfs_out', () => {
    const r = B(
      codec.statfsReply(9n, {
        bsize: 4096,
        frsize: 4096,
        blocks: 100n,
        bfree: 50n,
        bavail: 40n,
        files: 10n,
        ffree: 5n,
        namemax: 255,
      }),
    );
    expect(r).toEqual(
      Buffer.concat([
        header(96, 0, 9n),
        le([64, 100], [64, 50], [64, 40], [64, 10], [64, 5], [32, 4096], [32, 255], [32, 4096], [32, 0]),
        Buffer.alloc(24),
      ]),
    );
  });

  test('dirent and direntplus: 8-byte aligned records, offset of the next entry, the header sized to what was filled', () => {
    const d = new codec.DirentWriter(9n, 4096);
    d.buf.fill(0xee, 16); // padding must come out zeroed, whatever the buffer held
    d.dirent(42n, 3, 8, Buffer.from('abcde'));
    d.dirent(43n, 4, 4, Buffer.from('12345678'));
    const r = B(d.finish());
    expect(r).toEqual(
      Buffer.concat([
        header(16 + 32 + 32, 0, 9n),
        le([64, 42], [64, 3], [32, 5], [32, 8]),
        Buffer.from('abcde'),
        Buffer.alloc(3),
        le([64, 43], [64, 4], [32, 8], [32, 4]),
        Buffer.from('12345678'),
      ]),
    );
    const plus = new codec.DirentWriter(9n, 4096);
    plus.direntplus({ nodeid: 5, generation: 0, entryTimeout: 1, attrTimeout: 1, attr }, attr.ino, 1, 8, Buffer.from('x'));
    expect(plus.off - 16).toBe(codec.direntplusSize(1));
    expect(plus.off - 16).toBe(128 + 24 + 8);
    plus.buf.fill(0xee, plus.off);
    plus.direntplus(null, 77n, 2, 8, Buffer.from('y'));
    const p = B(plus.finish());
    expect(p.length).toBe(16 + 2 * (128 + 24 + 8));
    expect(p.readUInt32LE(0)).toBe(p.length);
    expect(p.readBigUInt64LE(16)).toBe(5n);
    expect(p.readBigUInt64LE(16 + 128)).toBe(attr.ino);
    // An entry the kernel must not instantiate: a zeroed entry_out (nodeid 0), then its dirent.
    const second = 16 + 160;
    expect(p.subarray(second, second + 128)).toEqual(Buffer.alloc(128));
    expect(p.subarray(second + 128, second + 160)).toEqual(
      Buffer.concat([le([64, 77], [64, 2], [32, 1], [32, 8]), Buffer.from('y'), Buffer.alloc(7)]),
    );
  });

  test('replies never share memory: each keeps its bytes while thousands more are made (slabs, and replies too big for one)', () => {
    const kept: [Uint8Array, bigint, number][] = [];
    for (let i = 0; i < 5000; i++) {
      const unique = BigInt(i) * 7n + 1n;
      // Mostly small replies, now and then a listing bigger than a slab shares out.
      if (i % 500 === 0) {
        const d = new codec.DirentWriter(unique, 20_000);
        d.dirent(BigInt(i), 1, 8, Buffer.alloc(200, i & 0xff));
        kept.push([d.finish(), unique, 16 + codec.direntSize(200)]);
      } else if (i % 3 === 0) kept.push([codec.errorReply(unique, 2), unique, 16]);
      else kept.push([codec.sizeReply(unique, i), unique, 24]);
    }
    const regions = new Map<ArrayBufferLike, [number, number][]>();
    for (const [r, unique, len] of kept) {
      const b = B(r);
      expect([b.readUInt32LE(0), b.readBigUInt64LE(8)]).toEqual([len, unique]);
      expect(r.length).toBe(len);
      const list = regions.get(r.buffer) ?? [];
      list.push([r.byteOffset, r.byteOffset + r.length]);
      regions.set(r.buffer, list);
    }
    for (const list of regions.values()) {
      list.sort((x, y) => x[0] - y[0]);
      for (let i = 1; i < list.length; i++) expect(list[i]![0]).toBeGreaterThanOrEqual(list[i - 1]![1]);
    }
  });

  const init = (minor: number) =>
    B(
      codec.initReply(9n, {
        major: 7,
        minor,
        maxReadahead: 131072,
        flags: abi.InitFlag.ASYNC_READ | abi.InitFlag.PASSTHROUGH,
        maxBackground: 64,
        congestionThreshold: 48,
        maxWrite: 1 << 20,
        timeGran: 1,
        maxPages: 256,
        maxStackDepth: 1,
      }),
    );

  test('INIT reply for a current kernel: 64-byte fuse_init_out with flags2 and max_stack_depth', () => {
    const r = init(45);
    expect(r).toEqual(
      Buffer.concat([
        header(80, 0, 9n),
        le([32, 7], [32, 45], [32, 131072], [32, 1], [16, 64], [16, 48], [32, 1 << 20], [32, 1], [16, 256], [16, 0], [32, 1 << 5], [32, 1]),
        Buffer.alloc(24),
      ]),
    );
  });

  test('INIT reply for an old kernel (minor < 23): the 24-byte layout it knows', () => {
    const r = init(22);
    expect(r).toEqual(Buffer.concat([header(40, 0, 9n), le([32, 7], [32, 22], [32, 131072], [32, 1], [16, 64], [16, 48], [32, 1 << 20])]));
  });
});
