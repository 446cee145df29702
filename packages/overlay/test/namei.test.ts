// Lookup and the merged listing on real layer directories, without a mount (no /dev/fuse; the xattr
// forms of whiteouts and markers, so no root is needed): the topmost layer wins, whiteouts hide,
// opaque directories stop the merge, and redirects are followed in every layer — also in one that
// was an upper and is now stacked as a lower.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { syscalls } from '@layerfs/backing-io';
import { LayerPaths, OvlNamei, parseLowerdir, readMergedDir, redirectMode } from '@layerfs/overlay';

let dir: string;
const layer = (name: string, files: Record<string, string>) => {
  const root = path.join(dir, name);
  fs.mkdirSync(root);
  for (const [p, content] of Object.entries(files)) {
    const real = path.join(root, p);
    fs.mkdirSync(p.endsWith('/') ? real : path.dirname(real), { recursive: true });
    if (!p.endsWith('/')) fs.writeFileSync(real, content);
  }
  return root;
};
const xattr = (p: string, name: string, value: string) => syscalls.lsetxattr(p, `user.overlay.${name}`, Buffer.from(value));
/** The xattr form of a whiteout: an empty file with overlay.whiteout, its directory marked opaque "x". */
const xwhiteout = (p: string) => {
  xattr(p, 'whiteout', '');
  xattr(path.dirname(p), 'opaque', 'x');
};
const names = (n: OvlNamei, p: string) =>
  readMergedDir(n.paths, n.resolve(p, 'test').dirs)
    .map((e) => e.name)
    .sort();
// Redirects in the user namespace, followed: what these unprivileged tests can write (a mount reads
// its own namespace's only, and follows none with userxattr: the tests below that one).
const namei = (roots: string[], hasUpper: boolean, redirect = { xattr: 'user.overlay.redirect', follow: true }) =>
  new OvlNamei({ roots, hasUpper, paths: new LayerPaths(roots), redirect });

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'layerfs-unit-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

test('topmost wins, whiteouts hide, opaque directories stop the merge', () => {
  const top = layer('top', { 'd/new': 'n', f: 'top', gone: '', 'o/mine': 'm' });
  const bottom = layer('bottom', { 'd/old': 'o', f: 'bottom', gone: 'g', 'o/hidden': 'h' });
  xwhiteout(path.join(top, 'gone'));
  xattr(path.join(top, 'o'), 'opaque', 'y');
  const n = namei([top, bottom], false);
  expect(fs.readFileSync(n.resolve('/f', 'test').top.real, 'utf8')).toBe('top');
  expect(n.lookup('/gone')).toBeNull();
  expect(names(n, '/')).toEqual(['d', 'f', 'o']);
  expect(names(n, '/d')).toEqual(['new', 'old']);
  expect(names(n, '/o')).toEqual(['mine']);
  expect(() => n.lookupChild(n.resolve('/', 'test'), 'x'.repeat(256))).toThrow(/ENAMETOOLONG/);
});

test('a redirect in a lower layer is followed into the layers below it', () => {
  // What `mv d d2` through an overlay left in its upper (u1), now stacked on its old lower (l0).
  const l0 = layer('l0', { 'd/inside': 'i' });
  const u1 = layer('u1', { 'd2/': '', d: '' });
  xattr(path.join(u1, 'd2'), 'redirect', '/d');
  xwhiteout(path.join(u1, 'd'));
  const upper = layer('u2', {});
  const n = namei([upper, u1, l0], true);
  expect(names(n, '/')).toEqual(['d2']);
  expect(names(n, '/d2')).toEqual(['inside']);
  expect(n.resolve('/d2', 'test').lowerPath).toBe('/d');
  // A relative redirect (the kernel writes one for a rename within the same directory).
  xattr(path.join(u1, 'd2'), 'redirect', 'd');
  expect(names(namei([upper, u1, l0], true), '/d2')).toEqual(['inside']);
});

test('a redirect of another namespace is a plain xattr; one not to be followed answers EPERM', () => {
  const l0 = layer('l0', { 'd/inside': 'i' });
  const u1 = layer('u1', { 'd2/': '' });
  xattr(path.join(u1, 'd2'), 'redirect', '/d');
  const upper = layer('u2', {});
  expect(names(namei([upper, u1, l0], true, { xattr: 'trusted.overlay.redirect', follow: true }), '/d2')).toEqual([]);
  expect(() => namei([upper, u1, l0], true, { xattr: 'user.overlay.redirect', follow: false }).lookup('/d2')).toThrow(/EPERM/);
  // Nothing below to follow it to: the directory is its layer's alone, as the kernel finds it.
  fs.rmSync(path.join(l0, 'd'), { recursive: true });
  expect(names(namei([upper, u1, l0], true, { xattr: 'user.overlay.redirect', follow: false }), '/d2')).toEqual([]);
});

test('redirect_dir against userxattr: with user xattrs nothing is written or followed, and on/follow are refused', () => {
  expect(redirectMode(undefined, false)).toEqual({ create: true, follow: true });
  expect(redirectMode('follow', false)).toEqual({ create: false, follow: true });
  expect(redirectMode('off', false)).toEqual({ create: false, follow: true });
  expect(redirectMode('nofollow', false)).toEqual({ create: false, follow: false });
  expect(redirectMode(undefined, true)).toEqual({ create: false, follow: false });
  expect(redirectMode('nofollow', true)).toEqual({ create: false, follow: false });
  expect(() => redirectMode('on', true)).toThrow(/cannot go with user xattrs/);
  expect(() => redirectMode('follow', true)).toThrow(/cannot go with user xattrs/);
});

test('an xattr whiteout in a directory marked for them (opaque "x") hides the name from the listing', () => {
  const top = layer('top', { 'm/gone': '', 'm/kept': 'k' });
  const bottom = layer('bottom', { 'm/gone': 'g', 'm/kept': 'b' });
  xwhiteout(path.join(top, 'm', 'gone'));
  const n = namei([top, bottom], false);
  expect(names(n, '/m')).toEqual(['kept']);
  expect(n.lookup('/m/gone')).toBeNull();
});

test('lowerdir= splits at colons, with \\: for a literal one', () => {
  expect(parseLowerdir('a:b\\:c::d')).toEqual(['a', 'b:c', 'd']);
});
