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
const namei = (
  roots: string[],
  hasUpper: boolean,
  redirect = { xattr: 'user.overlay.redirect', follow: true },
  metacopy = { xattr: 'user.overlay.metacopy', follow: true },
) => new OvlNamei({ roots, hasUpper, paths: new LayerPaths(roots), redirect, metacopy });

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

test('a name that is not one component never reaches a layer: "..", ".", "" and one with a slash are refused', () => {
  // Beside the layers, where ".." from a layer root would lead: a file the lookup must never find.
  fs.writeFileSync(path.join(dir, 'outside'), 'secret');
  const top = layer('top', { 'd/f': 'x' });
  const n = namei([top], false);
  const root = n.resolve('/', 'test');
  for (const bad of ['..', '.', '', '../outside', 'd/f']) expect(() => n.lookupChild(root, bad)).toThrow(/EINVAL/);
  expect(n.lookupChild(root, 'd')?.top.st.isDirectory()).toBe(true);
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

test('lowerdir= splits at colons, with \\: for a literal one, and data-only layers after "::"', () => {
  expect(parseLowerdir('a:b\\:c')).toEqual({ lower: ['a', 'b:c'], data: [] });
  expect(parseLowerdir('a:b\\:c::d::e\\:f')).toEqual({ lower: ['a', 'b:c'], data: ['d', 'e:f'] });
  expect(() => parseLowerdir('a::d:e')).toThrow(/a lower layer after a data-only one/);
});

test('data-only layers: reached only by a metadata-only file’s absolute redirect, never by name', () => {
  const lower = layer('lower', { 'etc/plain': 'p' });
  const data = layer('data', { 'objects/ab': 'object data', 'etc/plain': 'never shown', 'etc/extra': 'never shown' });
  const meta = path.join(lower, 'etc/conf');
  fs.writeFileSync(meta, '');
  fs.truncateSync(meta, 11);
  xattr(meta, 'metacopy', '');
  xattr(meta, 'redirect', '/objects/ab');
  const roots = [lower];
  const n = new OvlNamei({
    roots,
    dataRoots: [data],
    hasUpper: false,
    paths: new LayerPaths([lower, data]),
    redirect: { xattr: 'user.overlay.redirect', follow: false },
    metacopy: { xattr: 'user.overlay.metacopy', follow: false },
  });
  expect(names(n, '/etc')).toEqual(['conf', 'plain']);
  expect(fs.readFileSync(n.resolve('/etc/plain', 'test').top.real, 'utf8')).toBe('p');
  expect(n.lookup('/objects')).toBeNull();
  const conf = n.resolve('/etc/conf', 'test');
  expect(conf.top.real).toBe(meta);
  expect(conf.data?.layer).toBe(1);
  expect(fs.readFileSync(conf.data!.real, 'utf8')).toBe('object data');
  // A redirect that would step out of the data-only layer (into the lower one here) is EIO.
  const evil = path.join(lower, 'etc/evil');
  fs.writeFileSync(evil, '');
  fs.truncateSync(evil, 1);
  xattr(evil, 'metacopy', '');
  xattr(evil, 'redirect', '/../lower/etc/plain');
  expect(() => n.resolve('/etc/evil', 'test')).toThrow(/EIO/);
});

test('a directory redirect with an empty, . or .. component is EIO, as the kernel refuses it', () => {
  const top = layer('top', { 'a/mine': 'm', 'b/mine': 'm', 'c/mine': 'm' });
  const bottom = layer('bottom', { 'x/old': 'o' });
  xattr(path.join(top, 'a'), 'redirect', '../bottom/x');
  xattr(path.join(top, 'b'), 'redirect', '/x/../x');
  xattr(path.join(top, 'c'), 'redirect', '/x');
  const n = namei([top, bottom], false);
  expect(() => n.resolve('/a', 'test')).toThrow(/EIO/);
  expect(() => n.resolve('/b', 'test')).toThrow(/EIO/);
  expect(names(n, '/c')).toEqual(['mine', 'old']);
});

// Metadata-only copies as the kernel's overlay writes them with metacopy=on: an empty sparse file of
// the data's size with overlay.metacopy (and overlay.redirect when it was renamed); the data is the
// lower file found by name or by that redirect, past further metacopy files.
describe('metacopy files', () => {
  const metacopy = (p: string, size: number, redirect?: string) => {
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, '');
    fs.truncateSync(p, size);
    xattr(p, 'metacopy', '');
    if (redirect !== undefined) xattr(p, 'redirect', redirect);
  };
  const data = (n: OvlNamei, p: string) => {
    const e = n.resolve(p, 'test');
    return { meta: e.top.real, data: e.data && fs.readFileSync(e.data.real, 'utf8') };
  };

  test('the data comes from the same name below; the metadata from the copy', () => {
    const upper = layer('upper', {});
    const lower = layer('lower', { 'd/f': 'lower data' });
    metacopy(path.join(upper, 'd/f'), 10);
    expect(data(namei([upper, lower], true), '/d/f')).toEqual({ meta: path.join(upper, 'd/f'), data: 'lower data' });
  });

  test('a renamed one is followed through its redirect: absolute, and a sibling name', () => {
    const upper = layer('upper', {});
    const lower = layer('lower', { 'd/g': 'deep', 'd/h': 'sib' });
    metacopy(path.join(upper, 'moved'), 4, '/d/g');
    metacopy(path.join(upper, 'd/h2'), 3, 'h');
    const n = namei([upper, lower], true);
    expect(data(n, '/moved').data).toBe('deep');
    expect(data(n, '/d/h2').data).toBe('sib');
  });

  test('a metacopy file in a middle layer passes the search on, with its own redirect', () => {
    const top = layer('top', {});
    const mid = layer('mid', {});
    const bottom = layer('bottom', { 'a/orig': 'bottom data' });
    metacopy(path.join(top, 'x'), 11);
    metacopy(path.join(mid, 'x'), 11, '/a/orig');
    expect(data(namei([top, mid, bottom], true), '/x')).toEqual({ meta: path.join(top, 'x'), data: 'bottom data' });
  });

  test('not followed: EPERM; followed but no data below: EIO; in the last layer: a plain file', () => {
    const upper = layer('upper', {});
    const lower = layer('lower', { there: 'x' });
    metacopy(path.join(upper, 'there'), 1);
    metacopy(path.join(upper, 'nowhere'), 5);
    expect(() => namei([upper, lower], true, undefined, { xattr: 'user.overlay.metacopy', follow: false }).lookup('/there')).toThrow(
      expect.objectContaining({ code: 'EPERM' }),
    );
    expect(() => namei([upper, lower], true).lookup('/nowhere')).toThrow(expect.objectContaining({ code: 'EIO' }));
    metacopy(path.join(lower, 'last'), 3);
    expect(data(namei([upper, lower], true), '/last').data).toBeUndefined();
  });

  test('a file with its data allocated is not asked (and a mark on it is not taken)', () => {
    const upper = layer('upper', { big: 'y'.repeat(200_000) });
    const lower = layer('lower', { big: 'lower' });
    xattr(path.join(upper, 'big'), 'metacopy', '');
    expect(data(namei([upper, lower], true), '/big').data).toBeUndefined();
  });
});
