// The errors pjdfstest's error files look for (names too long, wrong types, existing targets, ".",
// sticky directories, a user's EACCES and EPERM), answered through each mount exactly as a plain
// directory answers them: one script (helpers/error-paths.py) runs in a plain directory for the
// reference, then in a passthrough mount and in overlays whose tree is new or in the lower layer.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { scratch } from '../helpers/scratch';
import { run } from '../helpers/run';
import { mountOverlay, mountPassthrough, type Mounted } from '../helpers/cli';

const SCRIPT = path.join(__dirname, '..', 'helpers', 'error-paths.py');
/** What the script makes, made beforehand in the lower layer for the copy-up variant. */
function lowerTree(root: string): void {
  fs.mkdirSync(path.join(root, 'd', 'sub'), { recursive: true });
  fs.writeFileSync(path.join(root, 'd', 'f'), 'x');
  fs.writeFileSync(path.join(root, 'f'), 'y');
  fs.mkdirSync(path.join(root, 'sticky'));
  fs.chmodSync(path.join(root, 'sticky'), 0o1777);
  fs.writeFileSync(path.join(root, 'sticky', 'root'), 'r');
}

async function answers(dir: string): Promise<string[]> {
  const r = await run('python3', [SCRIPT, dir]);
  if (r.code !== 0) throw new Error(`error-paths.py failed: ${r.stderr}`);
  return r.stdout.trim().split('\n');
}

const maybe = process.getuid?.() === 0 ? describe : describe.skip;

maybe('error paths answer as in a plain directory', () => {
  let reference: string[];
  const t = scratch();
  const dir = (n: string) => {
    const p = path.join(t.dir, n);
    fs.mkdirSync(p, { recursive: true });
    fs.chmodSync(p, 0o755);
    return p;
  };
  beforeAll(async () => {
    fs.chmodSync(t.dir, 0o755);
    reference = await answers(dir('plain'));
    // Sanity: the reference itself is what POSIX and Linux say.
    expect(reference).toContain('mkdir, 256-byte name: ENAMETOOLONG');
    expect(reference).toContain("as a user: unlink another's file in a sticky directory: EPERM");
  });
  afterAll(() => t.cleanup());

  const targets: Array<[string, () => Promise<Mounted>]> = [
    ['passthrough', () => mountPassthrough(dir('src'), dir('pt-mnt'))],
    [
      'overlay, a new tree in the upper layer',
      () => mountOverlay(dir('o1-mnt'), { lower: [dir('o1-l')], upper: dir('o1-u'), work: dir('o1-w') }),
    ],
    [
      'overlay, the tree in the lower layer (a copy-up before each change)',
      () => {
        const lower = dir('o2-l');
        lowerTree(lower);
        return mountOverlay(dir('o2-mnt'), { lower: [lower], upper: dir('o2-u'), work: dir('o2-w') });
      },
    ],
  ];
  test.each(targets)('%s', async (_name, mount) => {
    const m = await mount();
    try {
      expect(await answers(m.mountpoint)).toEqual(reference);
    } finally {
      await m.unmount();
    }
  });
});
