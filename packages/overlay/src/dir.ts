// Names of the merged view: the kernel's fs/overlayfs/dir.c and readdir.c. Every operation names
// its parent node and a name in it; what the node table knows of the name (the kernel looked it up
// before changing it) is used as it is, and what it does not know is looked up once, from the
// parent's real directories. A change copies the parent up, acts in the upper layer, and leaves a
// whiteout where a lower entry must disappear; the node table then follows (renamed, unlinked).
import type { BigIntStats } from 'node:fs';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FsError, finallyMaybe, isErrno, nameToBytes, nodeIoOps, syscalls } from '@layerfs/backing-io';
import { DirEntry, Entry, NodeId, RENAME_EXCHANGE, RENAME_NOREPLACE, RequestContext } from '@layerfs/fuse-bridge';
import { copyUp, markImpure } from './copy-up';
import { readRedirect } from './namei';
import { unlinkUpperFile } from './retire';
import { Ovl, assertWritable } from './ovl-fs';
import type { OvlInode } from './ovl-inode';
import { DirentIno, readMergedDir } from './readdir';
import { isUpperWhiteout, isWhiteout, makeWhiteout, renameLeavingWhiteout } from './whiteout';

const { S_IFDIR } = fs.constants;

/** LOOKUP: the node for `name`, one lookup counted; undefined where the merged view has no such name. */
export function lookup(ovl: Ovl, parent: OvlInode, name: string): Entry | undefined {
  // A node made by this lookup answers with the stat its lookup just took (a second lstat of the
  // same entry was a third of a cold LOOKUP's syscalls); a node already known is stat'ed afresh.
  const e = parent.child(name) ? undefined : ovl.lookupEntry(parent, name);
  if (e === null) {
    ovl.missed(parent, name);
    return undefined;
  }
  const n = ovl.inodes.lookup(parent, name, () => ovl.found(e!));
  return entryOf(ovl, n, e?.top.st);
}

export function entryOf(ovl: Ovl, n: OvlInode, st: BigIntStats = ovl.lstat(n)): Entry {
  return { node: n.id as NodeId, generation: 0, attr: ovl.attrOf(n, st) };
}

/**
 * A name this mount just made in the upper layer (`real`): its node, counted, known without a new
 * lookup. It is upper-only — a lower entry of that name would have made the create fail EEXIST, and
 * a lower directory under a whiteout is hidden by the new one (opaque) — and a lower layer holds the
 * name exactly when a whiteout was there (the next removal must leave one again). Its st_ino is its
 * own: nothing was copied up into it.
 */
function made(ovl: Ovl, parent: OvlInode, name: string, real: string, overWhiteout: boolean, st = ovl.paths.lstat(real)): Entry {
  // A node the table still has for the name stands for what was there before: it is gone now.
  ovl.inodes.unlinked(parent, name);
  const lowerPath = `${parent.state.lowerPath}/${name}`;
  const type = Number(st.mode) & fs.constants.S_IFMT;
  const n = ovl.inodes.lookup(parent, name, () => ({
    state: { type, hasUpper: true, lower: [], inLower: overWhiteout, lowerData: undefined, lowerPath, lowerXattrNames: undefined },
    ino: st.ino,
  }));
  return entryOf(ovl, n, st);
}

/** A new name of an existing file: looked up, so its st_ino is the file's (copied-up: the lower one). */
function linked(ovl: Ovl, parent: OvlInode, name: string): Entry {
  ovl.inodes.unlinked(parent, name);
  const e = lookup(ovl, parent, name);
  if (!e) throw new FsError('ENOENT', 'link', parent.childPath(name)); // removed behind the mount at once
  return e;
}

/** Prepare the upper layer for a new entry `name` in `parent`: parent copied up, any whiteout removed. */
export async function prepareCreate(
  ovl: Ovl,
  op: string,
  parent: OvlInode,
  name: string,
): Promise<{ real: string; overWhiteout: boolean }> {
  const cu = assertWritable(ovl, op, parent.childPath(name));
  if (ovl.exists(parent, name)) throw new FsError('EEXIST', op, parent.childPath(name));
  const real = path.join(await copyUp(cu, parent), name);
  // Nothing there is the usual case: no ENOENT error made for it (an error costs more than the lstat).
  const st = ovl.paths.lstatIfAny(real);
  const overWhiteout = st !== undefined && isWhiteout(ovl.paths, real, st);
  if (overWhiteout) ovl.paths.unlink(real);
  return { real, overWhiteout };
}

export async function mkdir(ovl: Ovl, ctx: RequestContext, parent: OvlInode, name: string, mode: number): Promise<Entry> {
  const { real, overWhiteout } = await prepareCreate(ovl, 'mkdir', parent, name);
  ovl.paths.mkdir(real, mode);
  ovl.own(real, ctx);
  // Over a whiteout the lower layers may still hold a directory of this name: the new one is
  // opaque, so none of that directory's old entries reappear.
  if (overWhiteout) ovl.paths.setxattr(real, ovl.names.opaque, Buffer.from('y'));
  return made(ovl, parent, name, real, overWhiteout);
}

export async function symlink(ovl: Ovl, ctx: RequestContext, parent: OvlInode, name: string, target: string): Promise<Entry> {
  const { real, overWhiteout } = await prepareCreate(ovl, 'symlink', parent, name);
  ovl.paths.symlink(target, real);
  ovl.own(real, ctx);
  return made(ovl, parent, name, real, overWhiteout);
}

export async function mknod(ovl: Ovl, ctx: RequestContext, parent: OvlInode, name: string, mode: number, rdev: number): Promise<Entry> {
  const { real, overWhiteout } = await prepareCreate(ovl, 'mknod', parent, name);
  ovl.paths.mknod(real, mode, rdev);
  ovl.own(real, ctx);
  return made(ovl, parent, name, real, overWhiteout);
}

/** After CREATE's open made the file (`st`: its fstat): its node. */
export function created(ovl: Ovl, parent: OvlInode, name: string, real: string, overWhiteout: boolean, st: BigIntStats): Entry {
  return made(ovl, parent, name, real, overWhiteout, st);
}

export async function link(ovl: Ovl, n: OvlInode, parent: OvlInode, name: string): Promise<Entry> {
  if (n.isDir) throw new FsError('EPERM', 'link', n.name);
  if (n.detached) {
    // A file without a name: only one made in the upper layer (O_TMPFILE) can get one; a lower
    // file whose name was whited out must not be hard-linked into the upper layer.
    const f = [...n.openFiles].find((o) => ovl.upperRoot !== undefined && o.backing.realPath.startsWith(ovl.upperRoot + '/'));
    if (!f) throw new FsError('ENOENT', 'link', n.name);
    const { real } = await prepareCreate(ovl, 'link', parent, name);
    syscalls.linkFd(f.backing.fd, ovl.paths.at(real));
    return linked(ovl, parent, name);
  }
  const cu = assertWritable(ovl, 'link', n.name);
  // Whole, also under metacopy=on: a metadata-only copy finds its data by its name, which a second
  // name lacks (the kernel writes an absolute redirect on it instead; both read the same).
  const srcReal = await copyUp(cu, n);
  const { real } = await prepareCreate(ovl, 'link', parent, name);
  ovl.paths.link(srcReal, real);
  return linked(ovl, parent, name);
}

export async function rmdir(ovl: Ovl, parent: OvlInode, name: string): Promise<void> {
  assertWritable(ovl, 'rmdir', parent.childPath(name));
  const n = ovl.peek(parent, name, 'rmdir');
  if (!n.isDir) throw new FsError('ENOTDIR', 'rmdir', parent.childPath(name));
  const dirs = ovl.dirOf(n).dirs;
  let unread = false;
  try {
    if (readMergedDir(ovl.paths, dirs).length > 0) throw new FsError('ENOTEMPTY', 'rmdir', parent.childPath(name));
  } catch (err) {
    // A directory its owner may search but not read (mode 0300, or 0 as Go's RemoveAll meets it) can
    // be removed when empty, but a daemon without CAP_DAC_READ_SEARCH (every rootless one) cannot
    // list it, where the kernel's overlay lists it with the mounter's capabilities. With nothing
    // below it to merge (one real directory, the upper), the host's rmdir alone says whether it is
    // empty: a directory made through the mount holds no whiteouts (they only hide lower names).
    if (!isErrno(err, 'EACCES') || dirs.length !== 1 || !n.state.hasUpper) throw err;
    unread = true;
  }
  await removeEntry(ovl, parent, n, unread);
}

export async function unlink(ovl: Ovl, parent: OvlInode, name: string): Promise<void> {
  assertWritable(ovl, 'unlink', parent.childPath(name));
  const n = ovl.peek(parent, name, 'unlink');
  if (n.isDir) throw new FsError('EISDIR', 'unlink', parent.childPath(name));
  await removeEntry(ovl, parent, n);
}

/**
 * `n` is about to lose its name: a file no handle has open keeps its real file by an fd
 * (OvlInode.pinned), so the kernel's node still stats and opens after the name is gone.
 */
function pinBeforeNameGoes(ovl: Ovl, n: OvlInode): void {
  // nlookup 0: a node made for this request alone (peek), which the kernel does not hold.
  if (n.nlookup === 0 || n.isDir || n.detached || n.pinned || n.openFiles.size > 0) return;
  const real = ovl.topReal(n);
  n.pinned = { fd: ovl.paths.open(real, syscalls.O_PATH), real };
}

/**
 * Remove `n` from the view: delete its upper entry, and whiteout the name if a lower has it. `unread`:
 * an upper directory that could not be listed, removed by rmdir alone (ENOTEMPTY if it holds anything).
 */
async function removeEntry(ovl: Ovl, parent: OvlInode, n: OvlInode, unread = false): Promise<void> {
  pinBeforeNameGoes(ovl, n);
  const parentReal = await copyUp(ovl.cu!, parent);
  const real = path.join(parentReal, n.name);
  if (n.state.hasUpper) {
    if (n.isDir) {
      // Only whiteouts can be left in it (it looked empty): they go with it.
      if (!unread) emptyDir(ovl, real);
      ovl.paths.rmdir(real);
    } else {
      unlinkUpperFile(ovl.cu!, real, n.openFiles.size > 0 || n.pinned !== undefined);
    }
    if (n.isDir) {
      ovl.paths.dirGone(real);
      ovl.namei.realDirsChanged();
    }
  }
  if (n.state.inLower) makeWhiteout(ovl.paths, real, ovl.names);
  ovl.inodes.unlinked(parent, n.name);
}

/**
 * FSYNCDIR, as ovl_dir_fsync: the upper directory synced, so the names made and removed in it
 * survive a crash (a database that deletes its journal asks for this). A directory with no upper
 * part has nothing this mount changed; fsync=0 and volatile answer at once.
 */
export function fsyncdir(ovl: Ovl, n: OvlInode): Promise<void> | void {
  if (ovl.noFsync || !n.state.hasUpper || n.detached) return undefined;
  const fd = ovl.paths.open(ovl.upperReal(n), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  return finallyMaybe(
    () => nodeIoOps.fsync(fd),
    () => fs.closeSync(fd),
  );
}

/**
 * rename. Files come up first and move within the upper layer. A directory with lower parts is
 * renamed in O(1) in the kernel's redirect_dir format: it is copied up alone (not its contents),
 * marked with overlay.redirect = the path where the lower layers hold it, and moved; its old name
 * gets a whiteout in the same rename(2) (RENAME_WHITEOUT), so no crash can leave it half-renamed.
 * The moved node keeps its identity (open files, st_ino); its lower stack stays where it was found.
 */
export async function rename(ovl: Ovl, parent: OvlInode, name: string, newParent: OvlInode, newName: string, flags: number): Promise<void> {
  const fromPath = parent.childPath(name);
  const cu = assertWritable(ovl, 'rename', fromPath);
  if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE) || flags === (RENAME_NOREPLACE | RENAME_EXCHANGE))
    throw new FsError('EINVAL', 'rename', fromPath);
  const src = ovl.peek(parent, name, 'rename');
  if (flags & RENAME_EXCHANGE) return exchange(ovl, src, ovl.peek(newParent, newName, 'rename'));
  const dst = ovl.inodes.child(newParent, newName) ?? (ovl.exists(newParent, newName) ? ovl.peek(newParent, newName, 'rename') : undefined);
  if (flags & RENAME_NOREPLACE && dst) throw new FsError('EEXIST', 'rename', newParent.childPath(newName));
  if (src === dst || (parent === newParent && name === newName)) return;
  for (let a: OvlInode | null = newParent; a; a = a.parent) {
    if (a === src) throw new FsError('EINVAL', 'rename', newParent.childPath(newName));
  }
  const srcHasLower = src.isDir && src.state.lower.length > 0;
  // Without redirects a directory with lower parts cannot move (ovl_can_move): mv copies instead.
  if (srcHasLower && !ovl.redirects.create) throw new FsError('EXDEV', 'rename', fromPath);
  if (dst?.isDir) {
    if (!src.isDir) throw new FsError('EISDIR', 'rename', newParent.childPath(newName));
    if (readMergedDir(ovl.paths, ovl.dirOf(dst).dirs).length > 0) throw new FsError('ENOTEMPTY', 'rename', newParent.childPath(newName));
  } else if (dst && src.isDir) {
    throw new FsError('ENOTDIR', 'rename', newParent.childPath(newName));
  }
  const srcReal = await copyUp(cu, src);
  const redirect = srcHasLower ? redirectFor(ovl, src, srcReal, parent === newParent) : undefined;
  if (redirect !== undefined) ovl.paths.setxattr(srcReal, ovl.names.redirect, nameToBytes(redirect));
  const dstParent = await copyUp(cu, newParent);
  const dstReal = path.join(dstParent, newName);
  if (dst) pinBeforeNameGoes(ovl, dst);
  const srcNow = ovl.upperReal(src); // a parent may have moved during the awaits
  if (parent !== newParent && showsLowerIno(ovl, src, srcNow)) markImpure(ovl.paths, ovl.names, dstParent);
  if (dst?.state.hasUpper && dst.isDir) {
    // Empty in the merged view, so it holds only whiteouts: clear them so rename(2) may replace it.
    emptyDir(ovl, dstReal);
  }
  const overWhiteout = !dst && isUpperWhiteout(ovl.paths, dstReal);
  const hidesLower = overWhiteout || (dst?.isDir === true && dst.state.lower.length > 0);
  if (src.isDir && hidesLower && !srcHasLower) {
    // A directory of the upper layer alone replaces a name the lower layers hold: nothing of the old
    // lower directory may show through. (One with lower parts has a redirect: its lower layers are
    // looked up where it came from, never under its new name.)
    ovl.paths.setxattr(srcNow, ovl.names.opaque, Buffer.from('y'));
  }
  if (overWhiteout && src.isDir) {
    // rename(2) cannot put a directory over the whiteout's device node: swap the two (as
    // ovl_rename does), and the whiteout, now at the old name, stays only if that name needs one.
    ovl.paths.rename(srcNow, dstReal, RENAME_EXCHANGE);
    ovl.paths.dirGone(srcNow);
    ovl.paths.dirGone(dstReal);
    if (!src.state.inLower) ovl.paths.unlink(srcNow);
  } else {
    renameLeavingWhiteout(ovl.paths, srcNow, dstReal, src.state.inLower, ovl.names, src.isDir);
  }
  if (src.isDir) ovl.namei.realDirsChanged();
  ovl.inodes.renamed(parent, name, newParent, newName, false);
  // Whether a lower layer holds the new name (a later removal needs a whiteout) is the new place's.
  ovl.refresh(src);
}

/**
 * The overlay.redirect a directory with lower parts needs before it moves, as ovl_set_redirect
 * writes it; undefined when the one it has still holds (the same parent, or an absolute one). In the
 * same directory: its name. Elsewhere: the absolute path of its place now, each part the name, or
 * that directory's own redirect (an absolute one replaces everything above it), as
 * ovl_get_redirect builds it. Never the path where the lowest layer holds it: the layer just below
 * resolves the redirect, and that layer may hold the directory elsewhere, under a redirect of its
 * own (the upper of an earlier mount, stacked as a lower, holds a whiteout at the lowest path).
 * Called before the rename: `src` still has its old parent and name.
 */
function redirectFor(ovl: Ovl, src: OvlInode, srcReal: string, samedir: boolean): string | undefined {
  const own = readRedirect(ovl.paths, srcReal, ovl.names.redirect);
  if (own !== undefined && (samedir || own.startsWith('/'))) return undefined;
  if (samedir) return src.name;
  let p = '';
  for (let d: OvlInode = src; d.parent; d = d.parent) {
    const r = d === src ? own : d.state.hasUpper ? readRedirect(ovl.paths, ovl.upperReal(d), ovl.names.redirect) : undefined;
    if (r?.startsWith('/')) return r + p;
    p = `/${r ?? d.name}${p}`;
  }
  return p;
}

/**
 * RENAME_EXCHANGE: both are copied up and swapped in the upper layer. A directory with lower parts
 * would need a redirect on each side; those answer EXDEV, as the kernel's overlay does without
 * redirect_dir (callers fall back to other means).
 */
async function exchange(ovl: Ovl, a: OvlInode, b: OvlInode): Promise<void> {
  for (const n of [a, b]) {
    if (n.isDir && n.state.lower.length > 0) throw new FsError('EXDEV', 'rename', n.name);
  }
  const cu = ovl.cu!;
  await copyUp(cu, a);
  await copyUp(cu, b);
  const aReal = ovl.upperReal(a);
  const bReal = ovl.upperReal(b);
  if (a.parent !== b.parent) {
    if (showsLowerIno(ovl, a, aReal)) markImpure(ovl.paths, ovl.names, path.dirname(bReal));
    if (showsLowerIno(ovl, b, bReal)) markImpure(ovl.paths, ovl.names, path.dirname(aReal));
  }
  ovl.paths.rename(aReal, bReal, RENAME_EXCHANGE);
  ovl.paths.dirGone(aReal);
  ovl.paths.dirGone(bReal);
  ovl.namei.realDirsChanged();
  ovl.inodes.renamed(a.parent!, a.name, b.parent!, b.name, true);
  ovl.refresh(a);
  ovl.refresh(b);
}

/**
 * Whether `n`, copied up to `upperReal`, reports a lower st_ino: its new directory must then be
 * marked impure (as ovl_rename does), so readdir there looks the number up.
 */
function showsLowerIno(ovl: Ovl, n: OvlInode, upperReal: string): boolean {
  if (n.isDir) return n.state.lower.length > 0 || readRedirect(ovl.paths, upperReal, ovl.names.redirect) !== undefined;
  return ovl.readOrigin(upperReal) !== undefined;
}

// -- readdir ------------------------------------------------------------------------------------

export function readdir(ovl: Ovl, n: OvlInode): DirEntry[] {
  if (!n.isDir) throw new FsError('ENOTDIR', 'readdir', n.name);
  const entries = readMergedDir(ovl.paths, ovl.dirOf(n).dirs, direntIno(ovl, n));
  // glibc drops entries whose d_ino is 0, so ".." needs the parent's real number.
  const dot = (name: string, d: OvlInode): DirEntry => ({ name, ino: d.ino, type: S_IFDIR });
  return [dot('.', n), dot('..', n.parent ?? n), ...entries];
}

/**
 * d_ino = st_ino for the entries of `dir`. A node the kernel holds answers its own number. Otherwise
 * only entries of its upper directory can differ from their real number: subdirectories when
 * something can lie below them (the directory is merged, or impure: a merged directory was moved
 * in), files when the directory is impure (the kernel's marker for "holds copied-up entries"; pure
 * upper directories need no lookups).
 */
function direntIno(ovl: Ovl, dir: OvlInode): DirentIno {
  if (!dir.state.hasUpper) return (_name, ino) => ino;
  const upperReal = ovl.upperReal(dir);
  let impure: boolean | undefined;
  const isImpure = () =>
    (impure ??= (() => {
      try {
        return syscalls.lgetxattr(ovl.paths.at(upperReal), ovl.names.impure).toString() === 'y';
      } catch {
        return false;
      }
    })());
  return (name, ino, type, from) => {
    if (from.layer !== 0) return ino;
    const known = ovl.inodes.child(dir, name);
    if (known) return known.ino;
    if (type === S_IFDIR || type === 0) {
      if (dir.state.lower.length === 0 && !isImpure()) return ino;
      const child = ovl.lookupEntry(dir, name);
      return child ? ovl.foundIno(child) : ino;
    }
    if (!ovl.copiedUp.has(ino) && !isImpure()) return ino;
    return ovl.upperFileIno(ino, () => ovl.readOrigin(path.join(upperReal, name)));
  };
}

/** Remove everything in the upper directory `real` (whiteouts, in a directory that looks empty). */
function emptyDir(ovl: Ovl, real: string): void {
  ovl.paths.withFd(real, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY, (fd) => removeEntries(fd));
  ovl.paths.dirGone(real);
}

/** Unlink every entry of the directory `fd`, descending into directories without following symlinks. */
function removeEntries(fd: number): void {
  for (const e of syscalls.readdirFd(fd)) {
    if (e.type === S_IFDIR) {
      const sub = syscalls.openat(fd, e.name, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW | 0o2000000);
      try {
        removeEntries(sub);
      } finally {
        syscalls.close(sub);
      }
      syscalls.unlinkAt(fd, e.name, { dir: true });
    } else {
      syscalls.unlinkAt(fd, e.name);
    }
  }
}
