// Lookup: from a mount-relative path to the real entries that make it up. Models
// fs/overlayfs/namei.c (ovl_lookup): the topmost layer wins; a whiteout hides everything below it;
// an opaque directory hides the directories below it; a non-directory hides everything below it,
// and a directory below a non-directory is hidden too.
//
// Nothing is cached by path here: the overlay's inodes (ovl-inode.ts) hold what a lookup found, and
// each lookup starts from its parent's real directories, one component at a time. Changes behind the
// mount, in the layers, are not supported while mounted — as for the kernel's overlay.
import type { BigIntStats } from 'node:fs';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LRUCache } from 'lru-cache';
import { countBound } from './lru-bound';
import { FsError, nameByteLength, nameFromBytes, syscalls } from '@layerfs/backing-io';
import { createLogger } from '@layerfs/fuse-bridge';
import { isWhiteout } from './whiteout';
import { dirOfReal, joinName, nameOfReal } from './layer-paths';
import type { LayerPaths } from './layer-paths';
import { AUFS_OPAQUE_MARKER, AUFS_WHITEOUT_PREFIX, FUSE_OVERLAYFS_PREFIX, TRUSTED_PREFIX, USER_PREFIX } from './xattr-names';

/** Layer 0 is the upper layer when there is one; lower layers follow, top first. */
export interface RealRef {
  layer: number;
  real: string;
  /**
   * A metadata-only file's data that no data-only layer holds as a regular file: stat shows the
   * file's own metadata, an open or a copy-up of its data answers ENOENT (the kernel's lazy
   * lower-data lookup fails so, whether nothing is there or something that is not a regular file).
   */
  absent?: true;
}

export interface RealEntry extends RealRef {
  st: BigIntStats;
}

/** What lookupChild needs of a directory: where its real directories are. */
export interface OvlDir {
  /** Mount-relative path, for messages. */
  path: string;
  /** Every real directory merged into it, top first. */
  dirs: readonly RealRef[];
  lowerPath: string;
}

export interface OvlEntry {
  path: string;
  /** The entry that shows: its type, data and attributes are the entry's. */
  top: RealEntry;
  /** For a directory: every real directory merged into it, top first (stops at an opaque one). */
  dirs: RealEntry[];
  /** The real entry in the upper layer, if the name exists there (whiteouts excluded). */
  upper: RealEntry | undefined;
  /** Whether some lower layer has the name (so removing it needs a whiteout). */
  inLower: boolean;
  /**
   * Where the lower layers hold this entry: its own path, unless it (or a parent) was renamed with
   * a redirect (the kernel's redirect_dir format), in which case the path it came from.
   */
  lowerPath: string;
  /**
   * A regular file whose `top` is a metadata-only copy (overlay.metacopy, params.ts metacopyFollows):
   * the lower file that holds its data. `top` still gives everything else (owner, mode, times, xattrs).
   */
  data: RealEntry | undefined;
}

export interface LayerRoots {
  /** Real roots, top first: [upper?, ...lower]. */
  roots: string[];
  /**
   * Data-only layers' roots, top first: never looked up by name (no entry of theirs shows); an
   * entry found in one has layer roots.length + its index.
   */
  dataRoots?: string[];
  hasUpper: boolean;
  /** How real paths reach the host (layer-paths.ts). */
  paths: LayerPaths;
  /**
   * The redirect xattr of the mount's own namespace (redirects in any other are plain xattrs: one a
   * file's owner wrote must not steer lookups), and whether lookups follow it (redirectMode).
   */
  redirect: { xattr: string; follow: boolean };
  /** The metacopy xattr of the mount's own namespace, and whether lookups follow it (metacopyFollows). */
  metacopy: { xattr: string; follow: boolean };
}

const log = createLogger('overlay:namei');

/** The layers' longest name (ext4, xfs, btrfs, tmpfs: 255 bytes); statfs reports the same. */
const NAME_MAX = 255;

/**
 * lstat of a real path through `paths` (its directories resolved safely), or null when nothing is
 * there. Not there answers without an exception: a lookup probes every layer for a name most of them
 * lack, and an error object cost more than the lstat it reports.
 */
function lstatOrNull(paths: LayerPaths, real: string): BigIntStats | null {
  try {
    return paths.lstatIfAny(real) ?? null;
  } catch {
    return null; // ENOTDIR: not in this layer
  }
}

/**
 * What a real directory says of itself: opaque (the aufs marker, or overlay.opaque "y" in any overlay
 * namespace: a mark that only hides is safe to take from any), holding xattr whiteouts (overlay.opaque
 * "x", trusted or user namespace: readdir.ts), and the redirect xattr `redirectXattr` names, if any.
 * One listxattr and one lstat, not a getxattr per name: most directories carry no xattr at all, and
 * each absent name was a failed call (six per directory and layer).
 */
export function dirMarks(
  paths: LayerPaths,
  real: string,
  redirectXattr?: string,
): { opaque: boolean; xwhiteouts: boolean; redirect: string | undefined } {
  let names: string[];
  try {
    names = paths.listxattr(real);
  } catch {
    names = []; // a layer without xattrs
  }
  const value = (name: string): string | undefined => {
    if (!names.includes(name)) return undefined;
    try {
      const v = paths.getxattr(real, name); // undefined: removed since the listing
      return v && nameFromBytes(v);
    } catch {
      return undefined;
    }
  };
  const opaque = [TRUSTED_PREFIX, USER_PREFIX, FUSE_OVERLAYFS_PREFIX].map((prefix) => value(`${prefix}opaque`));
  const xwhiteouts = opaque[0] === 'x' || opaque[1] === 'x';
  if (opaque.includes('y') || lstatOrNull(paths, joinName(real, AUFS_OPAQUE_MARKER)))
    return { opaque: true, xwhiteouts, redirect: undefined };
  return { opaque: false, xwhiteouts, redirect: redirectXattr === undefined ? undefined : value(redirectXattr) };
}

/** The redirect xattr `xattr` of an upper directory, if any. */
export function readRedirect(paths: LayerPaths, real: string, xattr: string): string | undefined {
  try {
    const value = paths.getxattr(real, xattr);
    return value && nameFromBytes(value);
  } catch {
    return undefined;
  }
}

/**
 * A redirect as the kernel takes one (ovl_check_redirect, then a lookup_one per component): a name,
 * or an absolute path of names — none empty, none `.` or `..`. Anything else is EIO, never a path
 * walked: a `..` would step out of the layer, or into another layer of the mount.
 */
function checkedRedirect(r: string | undefined, p: string): string | undefined {
  if (r === undefined) return undefined;
  const names = r.startsWith('/') ? r.slice(1).split('/') : [r];
  if (names.some((n) => n === '' || n === '.' || n === '..' || n.includes('/')))
    throw new FsError('EIO', 'lookup', p, `an invalid redirect (${JSON.stringify(r)})`);
  return r;
}

export class OvlNamei {
  readonly #layers: LayerRoots;
  /** Real directory → whether it holds aufs `.wh.` entries. */
  readonly #aufsDirs = new LRUCache<string, boolean>(countBound(20_000));
  readonly #root: () => OvlEntry;

  constructor(layers: LayerRoots) {
    this.#layers = layers;
    this.#root = () => {
      const dirs = layers.roots.map((real, layer) => ({ layer, real, st: layers.paths.lstat(real) }));
      return {
        path: '/',
        top: dirs[0]!,
        dirs,
        upper: layers.hasUpper ? dirs[0] : undefined,
        inLower: true,
        lowerPath: '',
        data: undefined,
      };
    };
  }

  get hasUpper(): boolean {
    return this.#layers.hasUpper;
  }

  get paths(): LayerPaths {
    return this.#layers.paths;
  }

  /** Real directories were renamed or removed: the aufs scan results are keyed by real path. */
  realDirsChanged(): void {
    this.#aufsDirs.clear();
  }

  /** The root directory's entry. */
  root(): OvlEntry {
    return this.#root();
  }

  /** The entry at `p`, walked from the root one component at a time; null when nothing visible is there. */
  lookup(p: string): OvlEntry | null {
    let e = this.#root();
    for (const name of p.split('/').filter((c) => c !== '')) {
      if (!e.top.st.isDirectory()) return null;
      const next = this.lookupChild(e, name);
      if (!next) return null;
      e = next;
    }
    return e;
  }

  /** Like lookup(), but ENOENT / ENOTDIR when nothing is there. */
  resolve(p: string, syscall: string): OvlEntry {
    const e = this.lookup(p);
    if (!e) throw new FsError('ENOENT', syscall, p);
    return e;
  }

  /** ovl_lookup() for one name in a resolved directory. */
  lookupChild(parent: OvlDir, name: string): OvlEntry | null {
    const p = parent.path === '/' ? `/${name}` : `${parent.path}/${name}`;
    // As ovl_lookup: a name no layer could hold is ENAMETOOLONG, not "not found".
    if (nameByteLength(name) > NAME_MAX) throw new FsError('ENAMETOOLONG', 'lookup', p);
    // One component, as the kernel sends: joinName relies on it, and a "..", which would leave the
    // layer from its root, must never reach the host.
    if (name === '' || name === '.' || name === '..' || name.includes('/')) throw new FsError('EINVAL', 'lookup', p, 'not a single name');
    // aufs whiteouts and markers are metadata, never entries of the merged view.
    if (name.startsWith(AUFS_WHITEOUT_PREFIX)) return null;
    let top: RealEntry | undefined;
    const dirs: RealEntry[] = [];
    // Whether a lower layer holds this *name* (ovl_lower_positive): what a directory's redirect leads
    // to is where its lower parts live, not a name a later unlink or rename must white out.
    let inLower = false;
    let byName = true;
    let lowerPath = `${parent.lowerPath}/${name}`;
    let candidates: RealRef[] = parent.dirs.map((d) => ({ layer: d.layer, real: joinName(d.real, name) }));
    let i = 0;
    // After an absolute redirect: the next layer to search, from its root (ovl_lookup_layer), and
    // whether an opaque directory on the way in the last layer searched ends the search there.
    let walkFrom: number | undefined;
    let opaqueAbove = false;
    // redirect_dir=nofollow met a redirect: the search goes on by the redirected name, and a directory
    // found by it is refused (EPERM), as ovl_lookup's "refusing to follow redirect".
    let refuse = false;
    const next = (): RealRef | undefined => {
      if (i < candidates.length) return candidates[i++];
      while (walkFrom !== undefined && !opaqueAbove && walkFrom < this.#layers.roots.length) {
        const layer = walkFrom++;
        const w = this.#walkDown(layer, lowerPath);
        lowerPath = w.path;
        if (w.blocked) return undefined;
        opaqueAbove = w.opaqueAbove;
        if (w.real !== undefined) return { layer, real: w.real };
      }
      return undefined;
    };
    for (let dir = next(); dir; dir = next()) {
      const real = dir.real;
      const st = lstatOrNull(this.paths, real);
      if (!st) {
        if (this.#hasAufsWhiteout(dirOfReal(real), nameOfReal(real))) break;
        continue;
      }
      if (isWhiteout(this.paths, real, st)) break;
      if (refuse && st.isDirectory()) {
        log.warnOnce(
          'nofollow',
          `refusing to follow the redirect of ${p} (redirect_dir=nofollow, or userxattr): such directories answer EPERM`,
        );
        throw new FsError('EPERM', 'lookup', p, 'refusing to follow a redirect');
      }
      if (byName && this.#isLower(dir.layer)) inLower = true;
      const here = { layer: dir.layer, real, st };
      if (!top) {
        top = here;
        if (!st.isDirectory()) break;
      } else if (!st.isDirectory()) {
        // Below a directory: another directory merges in; anything else hides what is below it.
        break;
      }
      dirs.push(here);
      const marks = dirMarks(this.paths, real, this.#layers.redirect.xattr);
      if (marks.opaque) break;
      // A directory renamed in the kernel's redirect_dir format, in any layer (as redirect_dir=on
      // follows them: a layer that was an upper keeps working once it is stacked as a lower): the
      // layers below hold it at the path it came from. An absolute one is looked up from each layer's
      // root, following the redirects of the directories on the way (#walkDown); a relative one is a
      // sibling name, looked up in the parent's own directory of each layer below (a rename of the
      // parent may have put it elsewhere in each), or in the same directory from the roots once an
      // absolute one was followed (as ovl_check_redirect).
      const redirect = this.#isLast(dir.layer) ? undefined : checkedRedirect(marks.redirect, p);
      if (redirect !== undefined) {
        byName = false;
        if (!this.#layers.redirect.follow) refuse = true;
        const absolute = redirect.startsWith('/');
        lowerPath = absolute ? redirect : `${path.posix.dirname(lowerPath)}/${redirect}`.replace(/^\/\//, '/');
        candidates = candidates.slice(0, i);
        if (absolute || walkFrom !== undefined) walkFrom = dir.layer + 1;
        else
          candidates.push(
            ...parent.dirs.filter((d) => d.layer > dir.layer).map((d) => ({ layer: d.layer, real: path.join(d.real, redirect) })),
          );
      }
    }
    if (!top) {
      return null;
    }
    // Whether a lower layer holds the name at all (a whiteout is needed to remove it), even when
    // the search stopped early at a non-directory in the upper layer.
    if (!inLower) inLower = this.#anyLowerHas(parent, name);
    const upper = this.#layers.hasUpper && top.layer === 0 ? top : undefined;
    const data = this.#isMetacopy(top) ? this.#lowerData(parent, name, top, p) : undefined;
    return { path: p, top, dirs, upper, inLower, lowerPath, data };
  }

  /**
   * Whether `e` is a metadata-only copy (ovl_check_metacopy_xattr). Such a file has no data blocks
   * of its own (it was made sparse at its size; ext4 may count one block of xattrs), so a file with
   * more than its size and 64 KiB allocated is not asked; nor is one in the last layer, where no
   * data could be below it (but a data-only layer), nor a data-only layer's own file.
   *
   * Without metacopy=on such a file answers EPERM — unless data-only layers are mounted and it is in
   * the last lower layer: its data can then only come from one of those, by its absolute redirect,
   * which the kernel follows without metacopy=on (since 6.16; in a lower layer above another one it
   * answers EPERM, as here).
   */
  #isMetacopy(e: RealEntry): boolean {
    if (!e.st.isFile() || e.layer >= this.#layers.roots.length) return false;
    if (this.#isLast(e.layer) && this.#dataRoots.length === 0) return false;
    if (e.st.blocks * 512n >= e.st.size && e.st.blocks > 128n) return false;
    let mark: Buffer | undefined;
    try {
      mark = this.paths.getxattr(e.real, this.#layers.metacopy.xattr);
    } catch {
      return false; // a layer without xattrs
    }
    if (mark === undefined) return false;
    if (!this.#layers.metacopy.follow && !(this.#dataRoots.length > 0 && this.#isLast(e.layer) && this.#isLower(e.layer))) {
      log.warnOnce(
        'metacopy',
        `refusing to follow the metadata-only copy ${e.real} (made by the kernel's overlay with metacopy=on): such files answer EPERM; mount with -o metacopy=on to read their data from the lower layer`,
      );
      throw new FsError('EPERM', 'lookup', e.real, 'refusing to follow a metacopy origin');
    }
    return true;
  }

  /**
   * The lower file holding a metacopy file's data, as ovl_lookup finds it: the same name in the
   * layers below, or where the file's own redirect points (the kernel writes one when it renames a
   * metacopy file: a sibling name, or an absolute path looked up from each lower layer's root); a
   * metacopy file found there continues the search below it. Nothing found is EIO, as the kernel's
   * "metacopy with no lower data found".
   */
  #lowerData(parent: OvlDir, name: string, top: RealEntry, p: string): RealEntry {
    let e = top;
    let sibling = name;
    let abs: string | undefined;
    for (;;) {
      const r = checkedRedirect(readRedirect(this.paths, e.real, this.#layers.redirect.xattr), p);
      if (r !== undefined) {
        if (r.startsWith('/')) abs = r;
        else if (abs !== undefined) abs = `${path.posix.dirname(abs)}/${r}`.replace(/^\/\//, '/');
        else sibling = r;
      }
      let next: RealEntry | undefined;
      if (abs === undefined) {
        for (const d of parent.dirs) {
          if (d.layer <= e.layer) continue;
          const real = path.join(d.real, sibling);
          const st = lstatOrNull(this.paths, real);
          if (st) {
            next = { layer: d.layer, real, st };
            break;
          }
        }
      } else {
        for (let layer = e.layer + 1; layer < this.#layers.roots.length; layer++) {
          const w = this.#walkDown(layer, abs);
          if (w.blocked) break;
          abs = w.path;
          const st = w.real === undefined ? null : lstatOrNull(this.paths, w.real);
          if (st) {
            next = { layer, real: w.real!, st };
            break;
          }
          if (w.opaqueAbove) break;
        }
      }
      // Nothing in the lower layers (a whiteout ends the search as nothing): a data-only layer by
      // the absolute redirect, as the kernel's deferred lookup of the lower data. Where none holds
      // it as a regular file (nothing there, or a symlink, a directory…), the kernel's lookup still
      // succeeds and its open fails ENOENT: marked absent, with the file's own stat.
      if (!next || isWhiteout(this.paths, next.real, next.st)) {
        if (abs !== undefined && this.#dataRoots.length > 0) {
          return (
            this.#dataLayerFile(abs) ?? {
              layer: this.#layers.roots.length,
              real: path.join(this.#dataRoots[0]!, abs),
              st: e.st,
              absent: true,
            }
          );
        }
        throw new FsError('EIO', 'lookup', p, 'a metacopy file with no lower data');
      }
      if (!next.st.isFile()) throw new FsError('EIO', 'lookup', p, 'a metacopy file with no lower data');
      if (!this.#isMetacopy(next)) return next;
      e = next;
    }
  }

  #anyLowerHas(parent: OvlDir, name: string): boolean {
    for (const dir of parent.dirs) {
      if (!this.#isLower(dir.layer)) continue;
      const real = joinName(dir.real, name);
      const st = lstatOrNull(this.paths, real);
      if (st) return !isWhiteout(this.paths, real, st); // the topmost lower entry decides
    }
    return false;
  }

  /**
   * `.wh.NAME` in `dir`? Checked only where NAME itself is missing, and only in directories that
   * hold any `.wh.` entry at all (one scan per real directory, remembered until the next change).
   */
  #hasAufsWhiteout(dir: string, name: string): boolean {
    let has = this.#aufsDirs.get(dir);
    if (has === undefined) {
      try {
        has = this.paths
          .withFd(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY, (fd) => syscalls.readdirFd(fd))
          .some((e) => e.name.startsWith(AUFS_WHITEOUT_PREFIX));
      } catch {
        has = false;
      }
      this.#aufsDirs.set(dir, has);
    }
    return has && lstatOrNull(this.paths, joinName(dir, AUFS_WHITEOUT_PREFIX + name)) !== null;
  }

  /**
   * ovl_lookup_layer() for an absolute path in one layer: its directories walked from the layer's
   * root. Where one of them was itself renamed (a redirect of its own), the path changes there, for
   * this layer's last step and the layers below; a missing one means nothing here (the layers below
   * are searched with the same path); a whiteout or non-directory ends the whole search (`blocked`);
   * an opaque one ends it after this layer.
   */
  #walkDown(layer: number, abs: string): { real: string | undefined; path: string; blocked: boolean; opaqueAbove: boolean } {
    const comps = abs.split('/').filter(Boolean);
    const last = comps.pop()!;
    let consumed: string[] = [];
    let base = this.#layers.roots[layer]!;
    let opaqueAbove = false;
    for (const c of comps) {
      const real = path.join(base, c);
      const st = lstatOrNull(this.paths, real);
      if (!st) return { real: undefined, path: abs, blocked: false, opaqueAbove };
      // A whiteout (a device node, or a file marked as one) is no directory either.
      if (!st.isDirectory()) return { real: undefined, path: abs, blocked: true, opaqueAbove };
      const marks = dirMarks(this.paths, real, this.#layers.redirect.xattr);
      if (marks.opaque) opaqueAbove = true;
      const r = this.#isLast(layer) ? undefined : checkedRedirect(marks.redirect, abs);
      if (r === undefined) consumed.push(c);
      else consumed = r.startsWith('/') ? r.split('/').filter(Boolean) : [...consumed, r];
      base = real;
    }
    return { real: path.join(base, last), path: `/${[...consumed, last].join('/')}`, blocked: false, opaqueAbove };
  }

  get #dataRoots(): readonly string[] {
    return this.#layers.dataRoots ?? [];
  }

  /**
   * A file in a data-only layer at the absolute path `abs` (ovl_lookup_data_layers): each data-only
   * layer from its root, top first, by the plain path — they hold no whiteouts, redirects or marks —
   * and a regular file only.
   */
  #dataLayerFile(abs: string): RealEntry | undefined {
    const base = this.#layers.roots.length;
    for (const [i, root] of this.#dataRoots.entries()) {
      const real = path.join(root, abs);
      const st = lstatOrNull(this.paths, real);
      if (st?.isFile()) return { layer: base + i, real, st };
    }
    return undefined;
  }

  #isLast(layer: number): boolean {
    return layer === this.#layers.roots.length - 1;
  }

  #isLower(layer: number): boolean {
    return layer > 0 || !this.#layers.hasUpper;
  }
}
