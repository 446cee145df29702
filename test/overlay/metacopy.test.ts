// Layers the kernel's overlay wrote with metacopy=on: a chmod, chown or setxattr of a lower file
// copies up its metadata alone (a sparse upper file marked overlay.metacopy), and a rename of one
// adds overlay.redirect. Before layerfs followed them it served such a file's holes — zeros —
// where the kernel reads the lower data. Now: without metacopy=on a lookup answers EPERM, as the
// kernel's; with it the view equals the kernel's, and the first write brings the data up for good.
// Each layer set is checked as an upper and again pushed under a new upper (stacked layers).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { syscalls } from '@layerfs/backing-io';
import { overlayLayers } from '../helpers/scratch';
import { mountOverlay, withOverlay } from '../helpers/cli';
import { treeView } from '../helpers/tree-view';
import { testWhen } from '../helpers/test-when';

type Layers = ReturnType<typeof overlayLayers>;

/** The kernel's overlay of `lower` (top first) under `upper`, with metacopy=on, around `fn`. */
function kernel<T>(t: Layers, lower: string[], upper: string | undefined, work: string | undefined, fn: (m: string) => T): T {
  const o = `lowerdir=${lower.join(':')}${upper ? `,upperdir=${upper},workdir=${work}` : ''},metacopy=on,redirect_dir=on`;
  execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', o, t.mnt]);
  try {
    return fn(t.mnt);
  } finally {
    execFileSync('umount', [t.mnt]);
  }
}

/** Layers whose upper holds metadata-only copies, made by the kernel: f chmodded, g chowned and moved, h with a user xattr. */
function metacopyLayers(): Layers {
  const t = overlayLayers([{ f: 'lower data\n', 'd/g': 'deep data\n', h: 'third\n', plain: 'untouched\n' }]);
  kernel(t, t.lower, t.upper, t.work, (m) => {
    fs.chmodSync(path.join(m, 'f'), 0o600);
    fs.chownSync(path.join(m, 'd/g'), 7, 7);
    fs.renameSync(path.join(m, 'd/g'), path.join(m, 'g2'));
    syscalls.lsetxattr(path.join(m, 'h'), 'user.k', Buffer.from('v'));
  });
  return t;
}

/** What a reader shows of the files, owners and st_ino included. */
function view(m: string): string[] {
  const ids = ['f', 'g2', 'h', 'plain'].map((n) => {
    const st = fs.statSync(path.join(m, n));
    return `${n} ${st.uid}:${st.gid} ino ${st.ino} blocks>0 ${st.blocks > 0}`;
  });
  return [...treeView(m), ...ids];
}

const isMetacopy = (p: string) => syscalls.llistxattr(p).includes('trusted.overlay.metacopy');

let kernelHasMetacopy = true;
beforeAll(() => {
  const t = overlayLayers([{ f: 'x' }]);
  try {
    kernel(t, t.lower, t.upper, t.work, () => undefined);
  } catch {
    kernelHasMetacopy = false; // a kernel built without metacopy: nothing here to read
  } finally {
    t.cleanup();
  }
});

const maybe = testWhen(() => kernelHasMetacopy, 'the kernel refuses metacopy=on');

maybe('the kernel wrote metadata-only copies (the fixture is what it claims)', async () => {
  const t = metacopyLayers();
  try {
    for (const n of ['f', 'g2', 'h']) expect(isMetacopy(path.join(t.upper!, n))).toBe(true);
    expect(fs.readFileSync(path.join(t.upper!, 'f'), 'utf8')).toBe('\0'.repeat(11));
  } finally {
    t.cleanup();
  }
});

maybe('without metacopy=on such files answer EPERM, as on the kernel without it; the rest of the tree reads', async () => {
  const t = metacopyLayers();
  try {
    const m = await mountOverlay(t.mnt, t);
    try {
      expect(() => fs.readFileSync(path.join(t.mnt, 'f'))).toThrow(expect.objectContaining({ code: 'EPERM' }));
      expect(fs.readFileSync(path.join(t.mnt, 'plain'), 'utf8')).toBe('untouched\n');
    } finally {
      await m.unmount();
    }
  } finally {
    t.cleanup();
  }
});

maybe('with metacopy=on the view equals the kernel’s, as an upper and stacked under a new upper', async () => {
  const t = metacopyLayers();
  try {
    const want = kernel(t, t.lower, t.upper, t.work, view);
    expect(want.join('\n')).toContain('f 600 file 11 lower data');
    const m = await mountOverlay(t.mnt, t, ['metacopy=on']);
    try {
      expect(view(t.mnt)).toEqual(want);
    } finally {
      await m.unmount();
    }
    // Pushed down, a metacopy file shows its own st_ino, as any lower file does (no index=on).
    const stacked = { lower: [t.upper!, ...t.lower], upper: path.join(t.dir, 'upper2'), work: path.join(t.dir, 'work2') };
    fs.mkdirSync(stacked.upper);
    fs.mkdirSync(stacked.work);
    const wantStacked = kernel(t, stacked.lower, stacked.upper, stacked.work, view);
    const s = await mountOverlay(t.mnt, stacked, ['metacopy=on']);
    try {
      expect(view(t.mnt)).toEqual(wantStacked);
    } finally {
      await s.unmount();
    }
  } finally {
    t.cleanup();
  }
});

maybe('writes bring the data up (append, O_TRUNC, truncate); the kernel then reads what layerfs shows', async () => {
  for (const stackedUnder of [false, true]) {
    const t = metacopyLayers();
    try {
      const layers = stackedUnder
        ? { lower: [t.upper!, ...t.lower], upper: path.join(t.dir, 'upper2'), work: path.join(t.dir, 'work2') }
        : { lower: t.lower, upper: t.upper!, work: t.work! };
      fs.mkdirSync(layers.upper, { recursive: true });
      fs.mkdirSync(layers.work, { recursive: true });
      const ids = (v: string[]) => v.filter((l) => l.includes(' ino '));
      const idsBefore = ids(kernel(t, layers.lower, layers.upper, layers.work, view));
      const m = await mountOverlay(t.mnt, layers, ['metacopy=on']);
      let seen: string[];
      try {
        const held = fs.openSync(path.join(t.mnt, 'f'), 'r'); // opened on the lower data, follows the copy
        fs.appendFileSync(path.join(t.mnt, 'f'), 'more\n');
        const buf = Buffer.alloc(64);
        expect(buf.subarray(0, fs.readSync(held, buf, 0, 64, 0)).toString()).toBe('lower data\nmore\n');
        fs.closeSync(held);
        fs.writeFileSync(path.join(t.mnt, 'g2'), 'new\n');
        fs.truncateSync(path.join(t.mnt, 'h'), 3);
        seen = view(t.mnt);
      } finally {
        await m.unmount();
      }
      expect(seen.join('\n')).toMatch(/f 600 file 16 lower data\nmore\n/);
      expect(seen).toContain('g2 644 file 4 new\n []');
      expect(seen).toContain('h 644 file 3 thi [user.k=v]');
      // Owners and st_ino as before the writes (the data came up into the same inode, or a copy of
      // the metadata copy below).
      expect(ids(seen)).toEqual(idsBefore);
      expect(idsBefore.find((l) => l.startsWith('g2 '))).toMatch(/^g2 7:7 /);
      // Whole files in the upper layer now, and the kernel shows the same.
      for (const n of ['f', 'g2', 'h']) expect(isMetacopy(path.join(layers.upper, n))).toBe(false);
      expect(kernel(t, layers.lower, layers.upper, layers.work, view)).toEqual(seen);
    } finally {
      t.cleanup();
    }
  }
});

maybe(
  'with metacopy=on a change of metadata alone copies up only the metadata, as the kernel’s does; a write then brings the data',
  async () => {
    // The same changes on two copies of one lower layer: one through the kernel, one through layerfs.
    const tree = { f: 'lower data\n', 'd/g': 'deep data\n', h: 'third\n', plain: 'untouched\n' };
    const names = ['f', 'd/g', 'h', 'plain'];
    const changeAll = (m: string) => {
      fs.chmodSync(path.join(m, 'f'), 0o600);
      fs.chownSync(path.join(m, 'd/g'), 7, 7);
      fs.utimesSync(path.join(m, 'plain'), 1000, 2000);
      syscalls.lsetxattr(path.join(m, 'h'), 'user.k', Buffer.from('v'));
    };
    const marks = (upper: string) =>
      names.map((n) => `${n} metacopy ${isMetacopy(path.join(upper, n))} blocks ${fs.statSync(path.join(upper, n)).blocks}`);
    const shown = (m: string) => [
      ...treeView(m),
      ...names.map((n) => {
        const st = fs.statSync(path.join(m, n));
        return `${n} ${st.uid}:${st.gid} mtime ${st.mtimeMs} ino ${st.ino}`;
      }),
    ];
    const k = overlayLayers([tree]);
    const t = overlayLayers([tree]);
    try {
      kernel(k, k.lower, k.upper, k.work, changeAll);
      const seen = await withOverlay(t.mnt, t, ['metacopy=on'], (m) => {
        changeAll(m);
        return shown(m);
      });
      expect(marks(t.upper!)).toEqual(marks(k.upper!));
      expect(marks(t.upper!)[0]).toMatch(/^f metacopy true /);
      expect(seen).toContain('f 600 file 11 lower data\n []');
      // The kernel reads layerfs's metadata-only copies as layerfs showed them.
      expect(kernel(t, t.lower, t.upper, t.work, shown)).toEqual(seen);
      // A write brings the data up into the same inode; the kernel reads the result too.
      const written = await withOverlay(t.mnt, t, ['metacopy=on'], (m) => {
        fs.appendFileSync(path.join(m, 'f'), 'more\n');
        fs.chmodSync(path.join(m, 'f'), 0o640); // a metadata change of a whole upper file: nothing to copy
        return shown(m);
      });
      expect(written).toContain('f 640 file 16 lower data\nmore\n []');
      expect(isMetacopy(path.join(t.upper!, 'f'))).toBe(false);
      expect(kernel(t, t.lower, t.upper, t.work, shown)).toEqual(written);
      expect(fs.readFileSync(path.join(t.lower[0]!, 'f'), 'utf8')).toBe('lower data\n');
    } finally {
      k.cleanup();
      t.cleanup();
    }
  },
);
