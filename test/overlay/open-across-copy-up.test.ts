// Open files across copy-up, as the kernel's overlay (since 4.19) behaves: a file opened read-only
// before another handle's write copied it up reads the new content afterwards; O_APPEND after a
// copy-up appends to the upper file.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { overlayLayers } from '../helpers/scratch';
import { mountOverlay } from '../helpers/cli';

test('a read-only fd opened before the copy-up sees the written content', async () => {
  const t = overlayLayers([{ f: 'lower!' }]);
  const m = await mountOverlay(t.mnt, t, ['cache=none']);
  try {
    const f = path.join(t.mnt, 'f');
    const ro = fs.openSync(f, 'r');
    try {
      const rw = fs.openSync(f, 'r+');
      fs.writeSync(rw, 'UPPER', 0);
      fs.writeSync(rw, ' and more', 6);
      fs.closeSync(rw);
      expect(fs.fstatSync(ro).size).toBe(15);
      const buf = Buffer.alloc(15);
      fs.readSync(ro, buf, 0, 15, 0);
      expect(buf.toString()).toBe('UPPER! and more');
    } finally {
      fs.closeSync(ro);
    }
    expect(fs.readFileSync(path.join(t.lower[0]!, 'f'), 'utf8')).toBe('lower!');
  } finally {
    await m.unmount();
    t.cleanup();
  }
});

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
