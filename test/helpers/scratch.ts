import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** A fresh directory for one test; every mount the tests make lives under a `layerfs-test-` dir. */
export function scratch(): { dir: string; cleanup(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'layerfs-test-'));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** A scratch dir with `src/` (the source, holding `files`) and an empty `mnt/`. */
export function sourceAndMountpoint(files: Record<string, string | Buffer> = {}) {
  const s = scratch();
  const src = path.join(s.dir, 'src');
  const mnt = path.join(s.dir, 'mnt');
  fs.mkdirSync(src);
  fs.mkdirSync(mnt);
  for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(src, name), content);
  return { ...s, src, mnt };
}

/** A tree description: file name → content; a name ending in '/' is a directory; '->target' a symlink. */
export type Tree = Record<string, string>;

export function writeTree(root: string, tree: Tree): void {
  for (const [name, content] of Object.entries(tree)) {
    const p = path.join(root, name);
    if (name.endsWith('/')) fs.mkdirSync(p, { recursive: true });
    else {
      fs.mkdirSync(path.dirname(p), { recursive: true });
      if (content.startsWith('->')) fs.symlinkSync(content.slice(2), p);
      else fs.writeFileSync(p, content);
    }
  }
}

/** Lower layers (top first), an upper and a work dir, and a mountpoint, in one scratch dir. */
export function overlayLayers(lowers: Tree[], opts: { upper?: Tree | false } = {}) {
  const s = scratch();
  const lower = lowers.map((t, i) => {
    const d = path.join(s.dir, `lower${i + 1}`);
    fs.mkdirSync(d);
    writeTree(d, t);
    return d;
  });
  const mnt = path.join(s.dir, 'mnt');
  fs.mkdirSync(mnt);
  if (opts.upper === false) return { ...s, lower, mnt, upper: undefined, work: undefined };
  const upper = path.join(s.dir, 'upper');
  const work = path.join(s.dir, 'work');
  fs.mkdirSync(upper);
  fs.mkdirSync(work);
  writeTree(upper, opts.upper ?? {});
  return { ...s, lower, mnt, upper, work };
}
