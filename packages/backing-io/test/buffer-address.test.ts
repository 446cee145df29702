// The request loop's syscalls take their buffers as addresses (buffer-address.ts). An address that
// is off by a byte, or stale after a collection, writes into memory nobody reads back: check that
// every byte lands exactly inside the range asked for, in the kinds of arrays the daemon passes
// (pooled Buffers sharing one ArrayBuffer, subarrays at odd offsets, small arrays V8 keeps on its
// heap until their buffer is taken), before and after garbage collections that move objects.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { syscalls } from '@layerfs/backing-io';
import { tempDir } from './helpers';

const gc = (globalThis as { gc?: () => void }).gc;

function collectMovingObjects(): void {
  // Young-generation collections move objects; a few rounds of garbage make V8 run them.
  let junk: unknown[] = [];
  for (let i = 0; i < 30; i++) {
    junk.push(Array.from({ length: 20_000 }, (_, j) => ({ j })));
    if (junk.length > 3) junk = junk.slice(1);
  }
  gc?.();
}

test('preadNowait, readOrErrno and writeOrErrno touch exactly the bytes asked for, also after collections', () => {
  const t = tempDir();
  try {
    const p = path.join(t.dir, 'f');
    const data = Buffer.alloc(10_000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 13 + 1) & 0xff || 1; // no zero bytes
    fs.writeFileSync(p, data);
    const fd = fs.openSync(p, 'r+');
    try {
      fs.readFileSync(p); // cached: a NOWAIT read of it answers
      for (let round = 0; round < 2; round++) {
        const arrays: Uint8Array[] = [
          new Uint8Array(8), // small: on V8's heap until its buffer is taken
          Buffer.allocUnsafe(40).fill(0), // from Node's shared pool: a byteOffset into a larger buffer
          Buffer.alloc(5000).subarray(123, 4123),
          new Uint8Array(new ArrayBuffer(9000), 7, 3001),
        ];
        for (const a of arrays) {
          const guard = new Uint8Array(a.buffer, 0, a.buffer.byteLength).slice(); // everything around `a`
          const len = a.length - 3;
          const n = syscalls.preadNowait(fd, a, 2, len, 17);
          // Checked before anything allocates: a small Buffer from Node's pool would share `a`'s ArrayBuffer.
          const whole = new Uint8Array(a.buffer, 0, a.buffer.byteLength);
          let outside = -1;
          for (let i = 0; i < whole.length && outside < 0; i++) {
            const inside = i >= a.byteOffset + 2 && i < a.byteOffset + 2 + len;
            if (!inside && whole[i] !== guard[i]) outside = i;
          }
          expect(n).toBe(len);
          expect(outside).toBe(-1);
          expect(data.compare(a, 2, 2 + len, 17, 17 + len)).toBe(0);
          collectMovingObjects();
        }
        // write(2) from a subarray at an odd offset, read(2) back into another: the same bytes.
        const src = Buffer.alloc(3000).subarray(5, 2005);
        for (let i = 0; i < src.length; i++) src[i] = (i * 31 + 7) & 0xff;
        const w = fs.openSync(path.join(t.dir, `w${round}`), 'w+');
        try {
          expect(syscalls.writeOrErrno(w, src)).toBe(src.length);
          collectMovingObjects();
          const back = new Uint8Array(4000).subarray(1, 2001);
          const r = fs.openSync(path.join(t.dir, `w${round}`), 'r');
          try {
            expect(syscalls.readOrErrno(r, back)).toBe(src.length);
          } finally {
            fs.closeSync(r);
          }
          expect(Buffer.from(back).equals(src)).toBe(true);
        } finally {
          fs.closeSync(w);
        }
      }
      // A range past the array is refused before any syscall.
      expect(() => syscalls.preadNowait(fd, new Uint8Array(10), 5, 6, 0)).toThrow(RangeError);
    } finally {
      fs.closeSync(fd);
    }
  } finally {
    t.cleanup();
  }
});
