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
