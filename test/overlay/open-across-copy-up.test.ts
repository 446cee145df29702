// Open files across copy-up: a file opened read-only before another handle's write copied it up
// (policy below, per transport); O_APPEND after a copy-up appends to the upper file.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { overlayLayers } from '../helpers/scratch';
import { TRANSPORT, mountOverlay } from '../helpers/cli';
import { SERVED_READ_MAX } from '@layerfs/fuse-wire';

// With kernel passthrough (the wire transport's default) the kernel reads the file the open was
// given; it cannot be moved to the upper file later. So a read-only fd of a file passed through keeps
// reading the lower file, as the kernel overlay did before 4.19; new opens see the new content. With
// the daemon on the data path (fuse-native, -o passthrough=off, or a read-only open of a file of at
// most SERVED_READ_MAX bytes, which the wire transport serves itself) the fd follows the copy-up, as
// the kernel overlay does since 4.19.
const BIG = SERVED_READ_MAX + 1;
const modes =
  TRANSPORT === 'wire'
    ? [
        { opts: ['passthrough=off'], pad: 0, follows: true },
        { opts: [], pad: 0, follows: true },
        { opts: ['passthrough=off'], pad: BIG, follows: true },
        { opts: [], pad: BIG, follows: false },
      ]
    : [
        { opts: [], pad: 0, follows: true },
        { opts: [], pad: BIG, follows: true },
      ];

test.each(modes)(
  'a read-only fd opened before the copy-up ($opts, $pad more bytes): follows the copy-up = $follows',
  async ({ opts, pad, follows }) => {
    const lower = 'lower!' + '.'.repeat(pad);
    const t = overlayLayers([{ f: lower }]);
    // attr_timeout=0: fstat asks the daemon rather than the kernel's copy of the attributes from the open.
    const m = await mountOverlay(t.mnt, t, ['cache=none', 'attr_timeout=0', ...opts]);
    try {
      const f = path.join(t.mnt, 'f');
      const ro = fs.openSync(f, 'r');
      try {
        const rw = fs.openSync(f, 'r+');
        fs.writeSync(rw, 'UPPER', 0);
        fs.writeSync(rw, ' and more', 6);
        fs.closeSync(rw);
        const written = 'UPPER! and more' + lower.slice(15);
        const expected = follows ? written : lower;
        expect(fs.fstatSync(ro).size).toBe(expected.length);
        const buf = Buffer.alloc(15);
        const n = fs.readSync(ro, buf, 0, 15, 0);
        expect(buf.subarray(0, n).toString()).toBe(expected.slice(0, 15));
        expect(fs.readFileSync(f, 'utf8')).toBe(written);
      } finally {
        fs.closeSync(ro);
      }
      expect(fs.readFileSync(path.join(t.lower[0]!, 'f'), 'utf8')).toBe(lower);
    } finally {
      await m.unmount();
      t.cleanup();
    }
  },
);

test('O_APPEND after copy-up appends to the upper file, with a writer outside the mount', async () => {
  const t = overlayLayers([{ log: 'line0\n' }]);
  const m = await mountOverlay(t.mnt, t);
  try {
    const f = path.join(t.mnt, 'log');
    const a = fs.openSync(f, 'a'); // copies up
    fs.writeSync(a, 'line1\n');
    fs.appendFileSync(path.join(t.upper!, 'log'), 'outside\n');
    fs.writeSync(a, 'line2\n', 0); // position ignored
    fs.closeSync(a);
    expect(fs.readFileSync(path.join(t.upper!, 'log'), 'utf8')).toBe('line0\nline1\noutside\nline2\n');
    expect(fs.readFileSync(path.join(t.lower[0]!, 'log'), 'utf8')).toBe('line0\n');
  } finally {
    await m.unmount();
    t.cleanup();
  }
});
