// The overlay's handlers on real layer directories, without a mount: a LOOKUP that found nothing is
// remembered for the CREATE the kernel sends next (ovl-fs.ts missed/exists), but never past a change
// of the view through the filesystem — a name renamed, linked or made there since must answer EEXIST.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ROOT_NODE, type NodeId } from '@layerfs/fuse-bridge';
import { OverlayFs } from '@layerfs/overlay';

let dir: string;
const ctx = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
const ROOT = ROOT_NODE as NodeId;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'layerfs-unit-'));
  for (const d of ['lower', 'upper', 'work']) fs.mkdirSync(path.join(dir, d));
  fs.writeFileSync(path.join(dir, 'lower', 'below'), 'lower');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const overlay = () =>
  new OverlayFs({ lower: [path.join(dir, 'lower')], upper: path.join(dir, 'upper'), work: path.join(dir, 'work'), userxattr: true });

const code = async (fn: () => unknown) => {
  try {
    await fn();
    return 'ok';
  } catch (err) {
    return (err as { code?: string }).code;
  }
};

async function create(o: OverlayFs, name: string): Promise<void> {
  const { open } = await o.create(ctx, ROOT, name, 0o100644, fs.constants.O_RDWR);
  await o.release(ctx, ROOT, open.fh);
}

test('a create after a negative lookup makes the file; a name made since answers EEXIST', async () => {
  const o = overlay();
  expect(o.lookup(ctx, ROOT, 'x')).toBeUndefined(); // no such name: answered by value
  await create(o, 'x');
  expect(fs.readFileSync(path.join(dir, 'upper', 'x'), 'utf8')).toBe('');

  // Not found, then another name renamed onto it: the create must see it.
  expect(o.lookup(ctx, ROOT, 'y')).toBeUndefined(); // no such name: answered by value
  await o.rename(ctx, ROOT, 'x', ROOT, 'y', 0);
  expect(await code(() => create(o, 'y'))).toBe('EEXIST');

  // Not found, then a hard link made under it.
  expect(o.lookup(ctx, ROOT, 'z')).toBeUndefined(); // no such name: answered by value
  const y = o.lookup(ctx, ROOT, 'y');
  await o.link(ctx, y!.node, ROOT, 'z');
  expect(await code(() => create(o, 'z'))).toBe('EEXIST');

  // A lower name is never "not found", and the create of it is EEXIST as ever.
  expect(await code(() => create(o, 'below'))).toBe('EEXIST');
});
