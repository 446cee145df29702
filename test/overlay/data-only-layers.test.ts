// Data-only lower layers (lowerdir=LOWER::DATA, the kernel's since 6.5; composefs's layout): the
// lower layer holds metadata-only files (sparse at their size, overlay.metacopy) whose absolute
// overlay.redirect names a file in a data-only layer; nothing of a data-only layer shows by name.
// The kernel follows them without metacopy=on (since 6.16), and so does layerfs: each view here is
// compared with the kernel's on the same layers.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { syscalls } from '@layerfs/backing-io';
import { overlayLayers } from '../helpers/scratch';
import { layerfs, withOverlay } from '../helpers/cli';
import { testWhen } from '../helpers/test-when';
import { treeView } from '../helpers/tree-view';

type Layers = ReturnType<typeof overlayLayers>;
interface DataLayers {
  t: Layers;
  lower: string[];
  data: string[];
}

/** A metadata-only file at `p` whose data is at `redirect` in some layer below (composefs's form). */
function metacopyFile(p: string, size: number, redirect: string, prefix = 'trusted', mode = 0o644): void {
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, '');
  fs.truncateSync(p, size);
  fs.chmodSync(p, mode);
  syscalls.lsetxattr(p, `${prefix}.overlay.metacopy`, Buffer.alloc(0));
  syscalls.lsetxattr(p, `${prefix}.overlay.redirect`, Buffer.from(redirect));
}

/**
 * A lower layer of metadata (a plain file, two files whose data is in the data-only layers, one of
 * them found only in the second) over two data-only layers, each with an entry of its own that
 * must never show.
 */
function dataLayers(prefix = 'trusted'): DataLayers {
  const t = overlayLayers([
    { 'etc/plain': 'plain\n' },
    { 'objects/ab/cdef': 'first object\n', 'top-of-data': 'hidden\n' },
    { 'objects/12/3456': 'second object\n', 'also-hidden/x': 'x' },
  ]);
  const [lower, data1, data2] = t.lower as [string, string, string];
  metacopyFile(path.join(lower, 'etc/a.conf'), 'first object\n'.length, '/objects/ab/cdef', prefix, 0o600);
  metacopyFile(path.join(lower, 'bin/tool'), 'second object\n'.length, '/objects/12/3456', prefix, 0o755);
  return { t, lower: [lower], data: [data1, data2] };
}

/** The kernel's overlay of `d` (and an upper when given) around `fn`; `extra`: more options. */
function kernel<T>(d: DataLayers, upper: { upper: string; work: string } | undefined, extra: string[], fn: (m: string) => T): T {
  const o = [
    `lowerdir=${d.lower.join(':')}::${d.data.join('::')}`,
    ...(upper ? [`upperdir=${upper.upper}`, `workdir=${upper.work}`] : []),
    ...extra,
  ];
  execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', o.join(','), d.t.mnt]);
  try {
    return fn(d.t.mnt);
  } finally {
    execFileSync('umount', [d.t.mnt]);
  }
}

const view = (m: string) => [
  ...treeView(m),
  ...['etc/a.conf', 'bin/tool', 'etc/plain'].map((n) => {
    const st = fs.statSync(path.join(m, n));
    return `${n} ino ${st.ino} blocks>0 ${st.blocks > 0}`;
  }),
];

let kernelHasDataLayers = true;
beforeAll(() => {
  const d = dataLayers();
  try {
    kernel(d, undefined, [], (m) => fs.readFileSync(path.join(m, 'etc/a.conf')));
  } catch {
    kernelHasDataLayers = false; // before 6.16 the kernel wants metacopy=on with them; before 6.5 it has none
  } finally {
    d.t.cleanup();
  }
});

const maybe = testWhen(() => kernelHasDataLayers, 'this kernel does not follow data-only layers without metacopy=on');

maybe('read-only: data from the data-only layers, none of their own entries shown; the same view as the kernel’s', async () => {
  const d = dataLayers();
  try {
    const want = kernel(d, undefined, [], view);
    expect(want).toContain('etc/a.conf 600 file 13 first object\n []');
    expect(want).toContain('bin/tool 755 file 14 second object\n []');
    expect(want.some((l) => l.startsWith('objects') || l.startsWith('top-of-data') || l.startsWith('also-hidden'))).toBe(false);
    await withOverlay(d.t.mnt, d, [], (m) => {
      expect(view(m)).toEqual(want);
    });
    // The same with metacopy=on.
    await withOverlay(d.t.mnt, d, ['metacopy=on'], (m) => {
      expect(view(m)).toEqual(want);
    });
  } finally {
    d.t.cleanup();
  }
});

maybe('with an upper layer: a write copies the whole file up from the data-only layer, and the kernel reads the result', async () => {
  const d = dataLayers();
  try {
    const rw = { upper: d.t.upper!, work: d.t.work! };
    const seen = await withOverlay(d.t.mnt, { ...d, ...rw }, [], (m) => {
      fs.appendFileSync(path.join(m, 'etc/a.conf'), 'appended\n');
      fs.chmodSync(path.join(m, 'bin/tool'), 0o700);
      return view(m);
    });
    expect(seen).toContain('etc/a.conf 600 file 22 first object\nappended\n []');
    expect(seen).toContain('bin/tool 700 file 14 second object\n []');
    // Whole files in the upper layer: no metadata-only copy of data that lives in a data-only layer.
    for (const n of ['etc/a.conf', 'bin/tool']) {
      const up = path.join(rw.upper, n);
      expect(syscalls.llistxattr(up).filter((x) => x.endsWith('.metacopy'))).toEqual([]);
      expect(fs.statSync(up).blocks).toBeGreaterThan(0);
    }
    expect(kernel(d, rw, [], view)).toEqual(seen);
    // The data-only layers are untouched.
    expect(fs.readFileSync(path.join(d.data[0]!, 'objects/ab/cdef'), 'utf8')).toBe('first object\n');
  } finally {
    d.t.cleanup();
  }
});

maybe('user xattrs (userxattr): the same files by user.overlay.* marks, as the kernel reads them', async () => {
  const d = dataLayers('user');
  try {
    const want = kernel(d, undefined, ['userxattr'], view);
    expect(want).toContain('etc/a.conf 600 file 13 first object\n []');
    await withOverlay(d.t.mnt, d, ['userxattr'], (m) => {
      expect(view(m)).toEqual(want);
    });
  } finally {
    d.t.cleanup();
  }
});

maybe(
  'without metacopy=on a metadata-only file is followed only from the last lower layer (EPERM above another one, as by the kernel); a missing object, or one that is not a regular file, answers ENOENT at open and stats as the kernel guesses',
  async () => {
    const d = dataLayers();
    try {
      // A second lower layer with a data file, and a metadata-only file pointing into it.
      const lower2 = path.join(d.t.dir, 'lower-data');
      fs.mkdirSync(path.join(lower2, 'objects'), { recursive: true });
      fs.writeFileSync(path.join(lower2, 'objects/in-lower'), 'lower layer data\n');
      metacopyFile(path.join(d.lower[0]!, 'etc/b.conf'), 17, '/objects/in-lower');
      metacopyFile(path.join(d.lower[0]!, 'etc/missing'), 5, '/objects/none');
      // An object that is a symlink (to a real object): the kernel's lazy lookup of the data finds
      // no regular file, as for a missing one; never followed.
      fs.symlinkSync('ab/cdef', path.join(d.data[0]!, 'objects/link'));
      metacopyFile(path.join(d.lower[0]!, 'etc/linked'), 5, '/objects/link');
      const two = { ...d, lower: [d.lower[0]!, lower2] };
      const readOrError = (p: string) => {
        try {
          return fs.readFileSync(p, 'utf8');
        } catch (err) {
          return (err as NodeJS.ErrnoException).code;
        }
      };
      const probe = (m: string) => ['etc/b.conf', 'etc/missing', 'etc/linked', 'etc/a.conf'].map((n) => readOrError(path.join(m, n)));
      // Size and blocks: the kernel shows a metadata-only file's data blocks, guessed from its size
      // while the data is not looked up (and so always where no data-only layer holds it).
      const sizes = (m: string) =>
        ['etc/missing', 'etc/linked'].map((n) => {
          const st = fs.statSync(path.join(m, n));
          return [st.size, st.blocks];
        });
      // One lower layer: the data-only layers' data is followed; a file whose object is in none of
      // them as a regular file still stats (its own metadata), and its open answers ENOENT.
      const one = kernel(d, undefined, [], (m) => [...probe(m), ...sizes(m)]);
      expect(one.slice(0, 4)).toEqual(['ENOENT', 'ENOENT', 'ENOENT', 'first object\n']);
      await withOverlay(d.t.mnt, d, [], (m) => {
        expect([...probe(m), ...sizes(m)]).toEqual(one);
      });
      // Another lower layer below: the kernel follows no metadata-only file above it.
      const want = kernel(two, undefined, [], probe);
      expect(want[0]).toBe('EPERM');
      await withOverlay(d.t.mnt, two, [], (m) => {
        expect(probe(m)).toEqual(want);
      });
      // With metacopy=on the lower layer's data is followed.
      await withOverlay(d.t.mnt, two, ['metacopy=on'], (m) => {
        expect(fs.readFileSync(path.join(m, 'etc/b.conf'), 'utf8')).toBe('lower layer data\n');
        expect(fs.readFileSync(path.join(m, 'etc/a.conf'), 'utf8')).toBe('first object\n');
      });
    } finally {
      d.t.cleanup();
    }
  },
);

test('a lower layer after a data-only one, or data-only layers alone, is refused with one line', async () => {
  const t = overlayLayers([{ a: 'a' }, { b: 'b' }, { c: 'c' }]);
  try {
    const [a, b, c] = t.lower as [string, string, string];
    for (const [value, message] of [
      [`${a}::${b}:${c}`, /a lower layer after a data-only one/],
      [`::${b}`, /only data-only layers given/],
    ] as const) {
      const r = await layerfs(['overlay', '-o', `lowerdir=${value}`, t.mnt]);
      expect(r.code).toBe(2); // a usage error, as every malformed option
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(message);
    }
    // The new mount API's form: lowerdir+= and datadir+=.
    const r = await layerfs(['overlay', '-o', `lowerdir+=${a},datadir+=${b}`, t.mnt]);
    expect(r.code).toBe(0);
    try {
      expect(fs.readdirSync(t.mnt)).toEqual(['a']);
    } finally {
      await layerfs(['umount', t.mnt]);
    }
  } finally {
    t.cleanup();
  }
});

maybe(
  'with an upper layer: a metadata-only file without its data answers ENOENT to any change, as the kernel, and nothing comes up',
  async () => {
    const d = dataLayers();
    try {
      fs.symlinkSync('ab/cdef', path.join(d.data[0]!, 'objects/link'));
      metacopyFile(path.join(d.lower[0]!, 'etc/missing'), 5, '/objects/none');
      metacopyFile(path.join(d.lower[0]!, 'etc/linked'), 5, '/objects/link');
      const rw = { upper: d.t.upper!, work: d.t.work! };
      const codeOf = (fn: () => void) => {
        try {
          fn();
          return 'ok';
        } catch (err) {
          return (err as NodeJS.ErrnoException).code;
        }
      };
      // Truncate (an O_TRUNC open: no data needed), append, chmod (with and without metacopy=on).
      const changes = (m: string) =>
        ['etc/missing', 'etc/linked'].flatMap((n) => {
          const p = path.join(m, n);
          return [codeOf(() => fs.writeFileSync(p, '')), codeOf(() => fs.appendFileSync(p, 'x')), codeOf(() => fs.chmodSync(p, 0o600))];
        });
      for (const extra of [[], ['metacopy=on']]) {
        const want = kernel(d, rw, extra, changes);
        expect(want).toEqual(Array(6).fill('ENOENT'));
        expect(fs.readdirSync(rw.upper)).toEqual([]);
        await withOverlay(d.t.mnt, { ...d, ...rw }, extra, (m) => {
          expect(changes(m)).toEqual(want);
        });
        expect(fs.readdirSync(rw.upper)).toEqual([]);
      }
    } finally {
      d.t.cleanup();
    }
  },
);
