// Random operations on one file through the mount, each checked against a model of the bytes it must
// hold (helpers/file-exerciser.py, in the manner of fsx): reads and writes across holes and EOF,
// mapped reads and writes, truncates, fallocate's modes, copy_file_range, fsync, close and reopen,
// and reads through a fresh open while the first fd's writes may still sit in the page cache. What it
// guards: the kernel's page cache kept across opens (FOPEN_KEEP_CACHE) and the writeback cache of a
// daemon-served mount against the size and bytes the daemon reports; copy-up of a lower file by the
// first write; the size after fallocate and truncate on both data paths.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Mounted, TRANSPORT, mountOverlay, mountPassthrough } from './helpers/cli';
import { overlayLayers, sourceAndMountpoint } from './helpers/scratch';

const EXERCISER = path.join(__dirname, 'helpers', 'file-exerciser.py');
/** Kernel passthrough (the wire's default as root) and the daemon-served path every rootless mount gets. */
const DATA_PATHS: Array<{ name: string; options: string[] }> =
  TRANSPORT === 'wire'
    ? [
        { name: 'kernel passthrough', options: [] },
        { name: 'daemon-served', options: ['passthrough=off'] },
      ]
    : [{ name: 'daemon-served', options: [] }];
/** FUSE forwards these fallocate modes (fuse_file_fallocate refuses collapse and insert); libfuse 2's binding none. */
const MODES = TRANSPORT === 'wire' ? 'fallocate,keep_size,punch,zero' : 'none';
/** Long runs over a 256 KiB file, then short ones over a 20 000-byte file reopened every few operations. */
const RUNS = [
  { seed: 1, ops: 6000, extra: ['--reopen-every', '40'] },
  { seed: 2, ops: 4000, extra: ['--reopen-every', '3', '--max-len', '20000'] },
];

function exercise(file: string, run: (typeof RUNS)[number]): string {
  try {
    return execFileSync('python3', [EXERCISER, file, String(run.ops), String(run.seed), ...run.extra], {
      encoding: 'utf8',
      timeout: 120_000,
    }).trim();
  } catch (err) {
    const e = err as { stdout?: string; message: string };
    return e.stdout?.trim() || e.message;
  }
}

function randomFile(p: string, size: number): void {
  fs.writeFileSync(p, Buffer.from(Array.from({ length: size }, (_, i) => (i * 131 + (i >> 8)) & 255)));
}

describe.each(DATA_PATHS)('random operations checked against a model ($name)', ({ options }) => {
  test('passthrough: a source file', async () => {
    const t = sourceAndMountpoint();
    let m: Mounted | undefined;
    try {
      randomFile(path.join(t.src, 'f'), 200_000);
      m = await mountPassthrough(t.src, t.mnt, options);
      for (const run of RUNS) {
        expect(exercise(path.join(t.mnt, 'f'), run)).toMatch(new RegExp(`^ok: \\d+ operations, .* modes ${MODES}$`));
      }
      const shown = fs.readFileSync(path.join(t.mnt, 'f'));
      await m.unmount();
      m = undefined;
      expect(fs.readFileSync(path.join(t.src, 'f')).equals(shown)).toBe(true);
    } finally {
      await m?.unmount();
      t.cleanup();
    }
  });

  test('overlay: a lower file, copied up by the first write; the upper file holds what the mount showed', async () => {
    const t = overlayLayers([{}]);
    let m: Mounted | undefined;
    try {
      randomFile(path.join(t.lower[0]!, 'f'), 200_000);
      const lowerBefore = fs.readFileSync(path.join(t.lower[0]!, 'f'));
      m = await mountOverlay(t.mnt, t, options);
      for (const run of RUNS) {
        expect(exercise(path.join(t.mnt, 'f'), run)).toMatch(new RegExp(`^ok: \\d+ operations, .* modes ${MODES}$`));
      }
      const shown = fs.readFileSync(path.join(t.mnt, 'f'));
      await m.unmount();
      m = undefined;
      expect(fs.readFileSync(path.join(t.upper!, 'f')).equals(shown)).toBe(true);
      expect(fs.readFileSync(path.join(t.lower[0]!, 'f')).equals(lowerBefore)).toBe(true);
    } finally {
      await m?.unmount();
      t.cleanup();
    }
  });
});
