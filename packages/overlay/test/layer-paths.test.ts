// LayerPaths' cache of parent directory fds on real directories, without a mount: an entry serves
// every request in its directory until a directory move or removal makes it untrue, and only then.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LayerPaths } from '@layerfs/overlay';

let dir: string;
let root: string;
let paths: LayerPaths;

/** The fd a path from at() goes through (/proc/self/fd/N/name). */
const fdOf = (real: string) => Number(/^\/proc\/self\/fd\/(\d+)\//.exec(String(paths.at(real)))![1]);

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'layerfs-paths-'));
  root = path.join(dir, 'upper');
  for (const d of ['a/b', 'ab']) fs.mkdirSync(path.join(root, d), { recursive: true });
  paths = new LayerPaths([root]);
});

afterEach(() => {
  paths.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a file unlinked or renamed in a directory keeps that directory cached', () => {
  const f = path.join(root, 'a/b/f');
  fs.writeFileSync(f, 'x');
  const fd = fdOf(f);
  fs.renameSync(f, path.join(root, 'a/b/g'));
  fs.unlinkSync(path.join(root, 'a/b/g'));
  expect(fdOf(path.join(root, 'a/b/h'))).toBe(fd);
  expect(paths.lstatIfAny(path.join(root, 'a/b/g'))).toBeUndefined();
});

test('dirGone: a moved directory and everything below it are resolved again, siblings keep theirs', () => {
  const sibling = fdOf(path.join(root, 'ab/x'));
  fdOf(path.join(root, 'a/x'));
  fdOf(path.join(root, 'a/b/x'));
  // Through the mount this is a rename of `a`; a new `a/b` takes its place.
  fs.renameSync(path.join(root, 'a'), path.join(root, 'moved'));
  fs.mkdirSync(path.join(root, 'a/b'), { recursive: true });
  fs.writeFileSync(path.join(root, 'a/b/new'), 'n');
  fs.writeFileSync(path.join(root, 'moved/b/old'), 'o');
  paths.dirGone(path.join(root, 'a'));
  // The new directory's file is seen at the old path, the moved one's is not.
  expect(paths.lstatIfAny(path.join(root, 'a/b/new'))).toBeDefined();
  expect(paths.lstatIfAny(path.join(root, 'a/b/old'))).toBeUndefined();
  // `ab` only shares a prefix of characters with `a`: its entry stays.
  expect(fdOf(path.join(root, 'ab/x'))).toBe(sibling);
});

test('dirGone of a removed directory: a name made there later is not reached through the old fd', () => {
  fdOf(path.join(root, 'a/b/x'));
  fs.rmdirSync(path.join(root, 'a/b'));
  paths.dirGone(path.join(root, 'a/b'));
  fs.mkdirSync(path.join(root, 'a/b'));
  fs.writeFileSync(path.join(root, 'a/b/x'), 'x');
  expect(paths.lstatIfAny(path.join(root, 'a/b/x'))).toBeDefined();
});
