// Names are bytes, not UTF-8: a name with bytes that are not UTF-8 (Latin-1 archives, stress-ng's
// `filename` stressor, 255 × 0x80) is created, listed, renamed, linked, removed and read through both
// filesystems under exactly its bytes, symlink targets and xattr names too, and the layers hold the
// same bytes — so the kernel's overlay on those layers shows the same tree. Both transports: on
// fuse-native through the patched binding, which passes names as bytes (a stock binding cannot).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { mountOverlay, mountPassthrough } from './helpers/cli';
import { overlayLayers, scratch } from './helpers/scratch';
import { kernelImpl } from './helpers/interop';

const b = (...parts: (string | number[])[]) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));
const join = (dir: string | Buffer, name: Buffer) =>
  Buffer.concat([typeof dir === 'string' ? Buffer.from(dir) : dir, Buffer.from('/'), name]);

const LATIN1_DIR = b('l', [0xff]);
const LATIN1_FILE = b('in', [0xe9]);
const LOWER_FILE = b('f', [0xfe]);
const LOWER_LINK = b('s', [0xfd]);
const LINK_TARGET = b('tgt', [0x80, 0xff]);
/** The UTF-8-looking encoding of a lone surrogate (U+DC80): invalid UTF-8, three bytes to keep. */
const SURROGATE_BYTES = b('d', [0xed, 0xb2, 0x80]);
/** NAME_MAX bytes, none of them UTF-8: 765 bytes if each became U+FFFD. */
const LONGEST = Buffer.alloc(255, 0x80);

/** Every entry under `root` as "hex(path) type detail", sorted: bytes compared, not strings. */
function byteTree(root: Buffer, rel: Buffer = Buffer.alloc(0)): string[] {
  const out: string[] = [];
  const dir = rel.length ? join(root, rel) : root;
  for (const name of fs.readdirSync(dir, { encoding: 'buffer' })) {
    const r = rel.length ? join(rel, name) : name;
    const p = join(root, r);
    const st = fs.lstatSync(p);
    if (st.isDirectory()) {
      out.push(`${r.toString('hex')} dir`, ...byteTree(root, r));
    } else if (st.isSymbolicLink()) {
      out.push(`${r.toString('hex')} link ${fs.readlinkSync(p, { encoding: 'buffer' }).toString('hex')}`);
    } else {
      out.push(`${r.toString('hex')} file ${fs.readFileSync(p).toString('hex')} nlink=${st.nlink}`);
    }
  }
  return out.sort();
}

/** The changes both filesystems must carry out under the names' exact bytes. */
function change(mnt: string): void {
  const m = Buffer.from(mnt);
  fs.writeFileSync(join(m, b('new', [0x80])), 'n');
  fs.mkdirSync(join(m, SURROGATE_BYTES));
  fs.writeFileSync(join(join(m, SURROGATE_BYTES), b([0xc3])), 'truncated sequence');
  fs.symlinkSync(b([0xff, 0xfe]), join(m, b('sym', [0xc3])));
  fs.writeFileSync(join(m, LONGEST), 'longest');
  fs.linkSync(join(m, LONGEST), join(m, b('hl', [0x81])));
  fs.renameSync(join(m, b('new', [0x80])), join(m, b('new2', [0x82])));
}

function expectChanged(mnt: string): void {
  const m = Buffer.from(mnt);
  const names = fs.readdirSync(m, { encoding: 'buffer' });
  for (const n of [b('new2', [0x82]), SURROGATE_BYTES, b('sym', [0xc3]), LONGEST, b('hl', [0x81])]) {
    expect(names.some((x) => x.equals(n))).toBe(true);
  }
  expect(names.some((x) => x.equals(b('new', [0x80])))).toBe(false);
  expect(fs.readlinkSync(join(m, b('sym', [0xc3])), { encoding: 'buffer' })).toEqual(b([0xff, 0xfe]));
  expect(fs.readFileSync(join(m, b('hl', [0x81])), 'utf8')).toBe('longest');
  expect(fs.lstatSync(join(m, LONGEST)).nlink).toBe(2);
  // What a listing hands back opens the same file: the names round-trip.
  for (const n of names) expect(() => fs.lstatSync(join(m, n))).not.toThrow();
}

/**
 * An xattr whose name is not UTF-8 (`user.x` + 0xff) set through the mount on `name`: its name as
 * listed through the mount and as the backing file holds it, in hex (Node has no xattr calls).
 */
function xattrNamesVia(mnt: string, backing: string, name: Buffer): string[] {
  const script = [
    'import os, sys',
    'm, h, n = sys.argv[1].encode(), sys.argv[2].encode(), bytes.fromhex(sys.argv[3])',
    "os.setxattr(m + b'/' + n, b'user.x\\xff', b'v')",
    "hexes = lambda p: [x.encode('utf-8', 'surrogateescape').hex() for x in os.listxattr(p + b'/' + n)]",
    'print(*hexes(m), *hexes(h))',
  ].join('\n');
  return execFileSync('python3', ['-c', script, mnt, backing, name.toString('hex')], { encoding: 'utf8' })
    .trim()
    .split(' ');
}
const XATTR_HEX = b('user.x', [0xff]).toString('hex');

describe('names that are not UTF-8', () => {
  test('passthrough: the source holds the exact bytes, and lists back the same', async () => {
    const t = scratch();
    const src = path.join(t.dir, 'src');
    const mnt = path.join(t.dir, 'mnt');
    fs.mkdirSync(src);
    fs.mkdirSync(mnt);
    fs.mkdirSync(join(Buffer.from(src), LATIN1_DIR));
    fs.writeFileSync(join(join(Buffer.from(src), LATIN1_DIR), LATIN1_FILE), 'latin-1');
    const m = await mountPassthrough(src, mnt);
    try {
      expect(byteTree(Buffer.from(mnt))).toEqual(byteTree(Buffer.from(src)));
      change(mnt);
      expectChanged(mnt);
      fs.renameSync(join(Buffer.from(mnt), LATIN1_DIR), join(Buffer.from(mnt), b('l2', [0xfa])));
      expect(xattrNamesVia(mnt, src, b('new2', [0x82]))).toEqual([XATTR_HEX, XATTR_HEX]);
      expect(byteTree(Buffer.from(mnt))).toEqual(byteTree(Buffer.from(src)));
      expect(fs.existsSync(join(Buffer.from(src), join(b('l2', [0xfa]), LATIN1_FILE)))).toBe(true);
    } finally {
      await m.unmount();
      t.cleanup();
    }
  });

  const asRoot = process.getuid?.() === 0 ? test : test.skip;
  asRoot('overlay: lower names shown, new names written to the upper layer as bytes; the kernel overlay shows the same tree', async () => {
    const t = overlayLayers([{}]);
    const upper = t.upper!;
    const lower = Buffer.from(t.lower[0]!);
    fs.mkdirSync(join(lower, LATIN1_DIR));
    fs.writeFileSync(join(join(lower, LATIN1_DIR), LATIN1_FILE), 'latin-1');
    fs.writeFileSync(join(lower, LOWER_FILE), 'lower');
    fs.symlinkSync(LINK_TARGET, join(lower, LOWER_LINK));
    const before = byteTree(lower);

    const m = await mountOverlay(t.mnt, t);
    let seen: string[];
    try {
      expect(byteTree(Buffer.from(t.mnt))).toEqual(before);
      change(t.mnt);
      expectChanged(t.mnt);
      const mnt = Buffer.from(t.mnt);
      // A lower directory renamed (a redirect holding its old name's bytes) and a lower file removed
      // (a whiteout under its bytes).
      fs.renameSync(join(mnt, LATIN1_DIR), join(mnt, b('l2', [0xfa])));
      fs.unlinkSync(join(mnt, LOWER_FILE));
      expect(fs.readFileSync(join(join(mnt, b('l2', [0xfa])), LATIN1_FILE), 'utf8')).toBe('latin-1');
      expect(fs.readlinkSync(join(mnt, LOWER_LINK), { encoding: 'buffer' })).toEqual(LINK_TARGET);
      expect(xattrNamesVia(t.mnt, upper, b('new2', [0x82]))).toEqual([XATTR_HEX, XATTR_HEX]);
      seen = byteTree(mnt);
      expect(seen.some((l) => l.startsWith(LOWER_FILE.toString('hex') + ' '))).toBe(false);
    } finally {
      await m.unmount();
    }
    const upperNames = fs.readdirSync(upper, { encoding: 'buffer' });
    for (const n of [b('new2', [0x82]), SURROGATE_BYTES, LONGEST, b('l2', [0xfa]), LOWER_FILE]) {
      expect(upperNames.some((x) => x.equals(n))).toBe(true);
    }
    expect(byteTree(lower)).toEqual(before);

    const k = await kernelImpl.mount(t);
    try {
      expect(byteTree(Buffer.from(k))).toEqual(seen);
    } finally {
      await kernelImpl.unmount(k);
      t.cleanup();
    }
  });
});
