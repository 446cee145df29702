// Names are bytes (host-names.ts): any byte string decodes to a name that encodes back to the same
// bytes, valid UTF-8 decodes as Node decodes it, and the syscalls take and give such names — a
// directory listing (getdents64), readlink and listxattr hand back names that reach the same files.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { hasEscapedBytes, hostPath, nameByteLength, nameFromBytes, nameToBytes, syscalls } from '@layerfs/backing-io';
import { tempDir } from './helpers';

const bytes = (...xs: number[]) => Buffer.from(xs);

describe('nameFromBytes / nameToBytes', () => {
  test.each([
    ['ASCII', Buffer.from('plain-name.txt')],
    ['UTF-8 with a 2-, 3- and 4-byte character', Buffer.from('é€😀')],
    ['U+FFFD written as UTF-8 (not an escape)', Buffer.from('a\uFFFDb')],
    ['a lone 0x80', bytes(0x61, 0x80, 0x62)],
    ['Latin-1 é', bytes(0x63, 0x61, 0x66, 0xe9)],
    ['an overlong NUL (C0 80)', bytes(0xc0, 0x80)],
    ['a UTF-8-encoded surrogate (ED B2 80)', bytes(0xed, 0xb2, 0x80)],
    ['a truncated 3-byte sequence', bytes(0xe2, 0x82)],
    ['a truncated sequence before ASCII', bytes(0xe2, 0x82, 0x41)],
    ['bytes above U+10FFFF (F4 90 80 80)', bytes(0xf4, 0x90, 0x80, 0x80)],
    ['F5..FF', bytes(0xf5, 0xfe, 0xff)],
    ['255 × 0x80', Buffer.alloc(255, 0x80)],
  ])('%s round-trips', (_what, b) => {
    const name = nameFromBytes(b);
    expect(nameToBytes(name)).toEqual(b);
    expect(nameByteLength(name)).toBe(b.length);
  });

  test('valid UTF-8 decodes as Node decodes it, and carries no escapes', () => {
    for (const s of ['x', 'é€😀', 'a\uFFFDb', '\u{10080}' /* a pair whose low half is in the escape range */]) {
      const name = nameFromBytes(Buffer.from(s));
      expect(name).toBe(s);
      expect(hasEscapedBytes(name)).toBe(false);
      expect(hostPath(name)).toBe(s); // no copy for the common case
    }
  });

  test('each byte that is not UTF-8 is one lone surrogate U+DC80..U+DCFF', () => {
    expect(nameFromBytes(bytes(0x61, 0x80, 0xff))).toBe('a\uDC80\uDCFF');
    expect(hasEscapedBytes('a\uDC80')).toBe(true);
    expect(hostPath('a\uDC80')).toEqual(bytes(0x61, 0x80));
  });

  test('random byte strings round-trip (20 000 of them)', () => {
    let seed = 12345;
    const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) >>> 8;
    for (let i = 0; i < 20000; i++) {
      const b = Buffer.alloc(1 + (rand() % 24));
      // Mostly high bytes: invalid and valid multi-byte sequences alike.
      for (let k = 0; k < b.length; k++) b[k] = rand() % 3 === 0 ? 0x20 + (rand() % 0x5e) : 0x80 + (rand() % 0x80);
      expect(nameToBytes(nameFromBytes(b))).toEqual(b);
    }
  });
});

describe('syscalls with names that are not UTF-8', () => {
  test('create, list (getdents64), stat, readlink, listxattr and unlink by the decoded names', () => {
    const t = tempDir('layerfs-names-');
    const dirFd = fs.openSync(t.dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    try {
      const file = nameFromBytes(bytes(0x66, 0xfe));
      const link = nameFromBytes(bytes(0x73, 0xed, 0xb2, 0x80));
      const target = nameFromBytes(bytes(0x74, 0x80, 0xff));
      fs.closeSync(syscalls.openat(dirFd, file, fs.constants.O_CREAT | fs.constants.O_WRONLY, 0o644));
      syscalls.symlinkAt(target, dirFd, link);
      syscalls.mkdirAt(dirFd, nameFromBytes(bytes(0x64, 0xc0, 0x80)), 0o755);
      // On the host, the exact bytes.
      const host = fs.readdirSync(t.dir, { encoding: 'buffer' }).map((b) => b.toString('hex'));
      expect(host.sort()).toEqual(['66fe', '73edb280', '64c080'].sort());
      const listed = syscalls.readdirFd(dirFd);
      expect(listed.map((e) => e.name).sort()).toEqual([file, link, nameFromBytes(bytes(0x64, 0xc0, 0x80))].sort());
      for (const e of listed) expect(e.ino).toBe(syscalls.lstatAt(dirFd, e.name).ino);
      expect(syscalls.readlinkAt(dirFd, link)).toBe(target);
      const at = hostPath(path.join(t.dir, file));
      syscalls.lsetxattr(at, nameFromBytes(Buffer.from('user.x\xff', 'latin1')), Buffer.from('v'));
      expect(syscalls.llistxattr(at)).toEqual(['user.x\uDCFF']);
      syscalls.unlinkAt(dirFd, file);
      expect(fs.readdirSync(t.dir, { encoding: 'buffer' }).some((b) => b.equals(bytes(0x66, 0xfe)))).toBe(false);
    } finally {
      fs.closeSync(dirFd);
      t.cleanup();
    }
  });

  test('readdirFd lists a directory larger than one getdents64 buffer, with d_ino and d_type', () => {
    const t = tempDir('layerfs-getdents-');
    try {
      const want = new Set<string>();
      for (let i = 0; i < 1500; i++) {
        const name = `${'n'.repeat(60)}-${i}`;
        if (i % 3 === 0) fs.mkdirSync(path.join(t.dir, name));
        else fs.writeFileSync(path.join(t.dir, name), '');
        want.add(name);
      }
      const fd = fs.openSync(t.dir, syscalls.O_PATH);
      try {
        const got = syscalls.readdirFd(fd);
        expect(new Set(got.map((e) => e.name))).toEqual(want);
        expect(got).toHaveLength(1500);
        for (const e of got.slice(0, 50)) {
          const st = fs.lstatSync(path.join(t.dir, e.name), { bigint: true });
          expect([e.name, e.ino, e.type]).toEqual([e.name, st.ino, Number(st.mode) & fs.constants.S_IFMT]);
        }
        const dots = syscalls.readdirFd(fd, { withDots: true }).map((e) => e.name);
        expect(dots).toEqual(expect.arrayContaining(['.', '..']));
        expect(dots).toHaveLength(1502);
      } finally {
        fs.closeSync(fd);
      }
    } finally {
      t.cleanup();
    }
  });
});
