// Mount parameters and the checks made before mounting. Models fs/overlayfs/params.c and the
// checks in super.c: each failure is one line that says what is wrong and what to do.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FsError, isPathInside } from '@layerfs/backing-io';
import { IdPolicy, MountError, parseIdMapping } from '@layerfs/fuse-bridge';
import type { XattrPermissions } from './override-stat';

export interface OverlayLayers {
  /** Lower layers, top first (lowerdir=A:B:C → [A, B, C]). */
  lower: string[];
  /**
   * Data-only lower layers, below every lower layer (lowerdir=A::D1::D2 → [D1, D2]): never looked up
   * by name; they hold the data of metadata-only files in the lower layers, reached by the absolute
   * overlay.redirect of such a file (the kernel's data-only layers, Linux 6.5).
   */
  data?: string[];
  upper?: string;
  work?: string;
}

/**
 * Split a lowerdir value into its lower layers (at ':') and the data-only layers after them (each
 * after '::'); `\:` is a literal colon (and `\\` a backslash), as in the kernel. A lower layer may
 * not follow a data-only one (the kernel refuses a single ':' right of a '::').
 */
export function parseLowerdir(value: string): { lower: string[]; data: string[] } {
  const lower: string[] = [];
  const data: string[] = [];
  let cur = '';
  let inData = false;
  const end = () => {
    if (cur.length > 0) (inData ? data : lower).push(cur);
    cur = '';
  };
  for (let i = 0; i < value.length; i++) {
    const ch = value[i]!;
    if (ch === '\\' && i + 1 < value.length) cur += value[++i];
    else if (ch === ':' && value[i + 1] === ':') {
      end();
      inData = true;
      i++;
    } else if (ch === ':') {
      if (inData)
        throw new MountError(
          `lowerdir=${value}: a lower layer after a data-only one: data-only layers come last, each after "::" (A:B::D1::D2)`,
          { usage: true },
        );
      end();
    } else cur += ch;
  }
  end();
  return { lower, data };
}

function dirOrFail(role: string, p: string): string {
  let st: fs.Stats;
  try {
    st = fs.statSync(p);
  } catch {
    throw new MountError(`${role} ${p} does not exist: create it, or fix the path`);
  }
  if (!st.isDirectory()) throw new MountError(`${role} ${p} is not a directory: pass a directory`);
  return fs.realpathSync(p);
}

/** Name of the kernel's (and our) scratch directory inside workdir. */
export const WORK_SUBDIR = 'work';
/** What the kernel leaves in a workdir besides work/: index/ (index=on), and nothing else. */
const OWN_WORKDIR_ENTRIES = new Set([WORK_SUBDIR, 'index']);

/**
 * Resolve and check the layers against each other and the mountpoint. Returns real paths. Cleans
 * workdir's scratch directory (that is where an interrupted copy-up left its partial file).
 */
export function checkLayers(layers: OverlayLayers, mountpoint: string): Required<Pick<OverlayLayers, 'lower'>> & OverlayLayers {
  if (layers.lower.length === 0)
    throw new MountError(
      (layers.data ?? []).length > 0
        ? 'only data-only layers given: a lower layer must come first (lowerdir=LOWER::DATA)'
        : 'no lower layer given: pass -o lowerdir=DIR[:DIR…] (or --lower DIR)',
      { usage: true },
    );
  if ((layers.upper === undefined) !== (layers.work === undefined)) {
    throw new MountError('upperdir and workdir go together: pass both for a writable overlay, or neither for a read-only one', {
      usage: true,
    });
  }
  const lower = layers.lower.map((l, i) => dirOrFail(`lower layer ${i + 1}`, l));
  const data = (layers.data ?? []).map((l, i) => dirOrFail(`data-only layer ${i + 1}`, l));
  const upper = layers.upper === undefined ? undefined : dirOrFail('upperdir', layers.upper);
  const work = layers.work === undefined ? undefined : dirOrFail('workdir', layers.work);
  const mnt = fs.existsSync(mountpoint) ? fs.realpathSync(mountpoint) : path.resolve(mountpoint);

  const all: Array<{ role: string; p: string }> = [
    ...lower.map((p, i) => ({ role: `lower layer ${i + 1} (${layers.lower[i]})`, p })),
    ...data.map((p, i) => ({ role: `data-only layer ${i + 1} (${layers.data![i]})`, p })),
    ...(upper ? [{ role: `upperdir (${layers.upper})`, p: upper }] : []),
    ...(work ? [{ role: `workdir (${layers.work})`, p: work }] : []),
  ];
  for (const a of all) {
    if (isPathInside(a.p, mnt) || isPathInside(mnt, a.p)) {
      throw new MountError(
        `${a.role} and the mountpoint ${mountpoint} contain one another: the daemon would wait on itself; keep layers outside the mountpoint`,
      );
    }
  }
  for (let i = 0; i < all.length; i++) {
    for (let j = 0; j < all.length; j++) {
      if (i === j) continue;
      const a = all[i]!;
      const b = all[j]!;
      if (a.p === b.p) throw new MountError(`${a.role} and ${b.role} are the same directory: each layer needs its own`);
      if (isPathInside(a.p, b.p)) throw new MountError(`${a.role} is inside ${b.role}: layers must not contain one another`);
    }
  }
  if (upper && work) {
    for (const [role, given, p] of [
      ['upperdir', layers.upper, upper],
      ['workdir', layers.work, work],
    ] as const) {
      try {
        fs.accessSync(p, fs.constants.W_OK);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        throw new MountError(
          code === 'EROFS'
            ? `${role} ${given} is on a read-only filesystem: the upper layer and workdir must be writable (leave out upperdir and workdir for a read-only overlay)`
            : `${role} ${given} is not writable by this user (${code}): the upper layer and workdir must be writable`,
        );
      }
    }
    if (fs.statSync(upper).dev !== fs.statSync(work).dev) {
      throw new MountError(
        `upperdir ${layers.upper} and workdir ${layers.work} are on different filesystems: copy-up renames from workdir into upperdir, so put both on one filesystem`,
      );
    }
    cleanWorkdir(work);
  }
  return { lower, data, upper, work };
}

function cleanWorkdir(work: string): void {
  const foreign = fs.readdirSync(work).filter((n) => !OWN_WORKDIR_ENTRIES.has(n));
  if (foreign.length > 0) {
    throw new MountError(
      `workdir ${work} holds ${foreign.slice(0, 3).join(', ')}${foreign.length > 3 ? ', …' : ''}: use an empty directory as workdir (only overlay leftovers are cleaned automatically)`,
    );
  }
  const scratch = path.join(work, WORK_SUBDIR);
  // An empty scratch directory of ours is kept: removing and making it again cost 2-3 ms of every
  // mount here (ext4's rmdir waits on its journal), and a container's mount program runs at every
  // step of a build.
  if (emptyDirOfOurs(scratch)) return;
  // Leftovers of an interrupted copy-up (the daemon died between copy and rename): never visible in
  // the upper layer, so removing them loses nothing.
  fs.rmSync(scratch, { recursive: true, force: true });
  fs.mkdirSync(scratch, { mode: 0o700 });
}

/** `dir` is a directory (not a symlink to one) owned by us, mode 0700, with no entry. */
function emptyDirOfOurs(dir: string): boolean {
  try {
    const st = fs.lstatSync(dir);
    return st.isDirectory() && st.uid === process.geteuid!() && (st.mode & 0o7777) === 0o700 && fs.readdirSync(dir).length === 0;
  } catch {
    return false;
  }
}

/** The kernel overlay's feature options that change what layerfs does. */
export interface OverlayFeatures {
  /**
   * `volatile`, as the kernel's: no sync reaches the upper layer — copy-up does not fsync the data
   * before renaming it into place, and fsync(2) of files and directories through the mount returns
   * at once. Faster; after a crash of the machine (not of the daemon) recent changes, a copied-up
   * file's data included, may be lost.
   */
  volatile?: boolean;
  /**
   * `userxattr`: write the overlay's own xattrs as user.overlay.* (whiteouts and opaque marks are read
   * in every namespace; redirects only in the mount's own, and never with userxattr: redirectMode).
   */
  userxattr?: boolean;
  /**
   * fuse-overlayfs's `fsync=0`: fsync(2) through the mount returns at once and copy-up does not
   * fsync (implies volatile). For throwaway containers and builds, where speed beats durability.
   */
  noFsync?: boolean;
  /** fuse-overlayfs's uidmapping=/gidmapping=/squash_*=/static_nlink, applied by fuse-bridge's withIdPolicy. */
  ids?: IdPolicy;
  /** `redirect_dir=`, as given (redirectMode() settles the default and the conflicts). */
  redirectDir?: RedirectDir;
  /** `metacopy=`, as given (metacopyMode() settles the default and the conflicts). */
  metacopy?: boolean;
  /** `uuid=off`: copy-up origins carry a null uuid where all layers are on one filesystem. */
  uuidOff?: boolean;
  /** `xino=on`: accepted only where all layers are on one filesystem (checkXino), as the kernel then ignores it. */
  xinoOn?: boolean;
  /** fuse-overlayfs's `noxattrs=1`: extended attributes through the mount answer ENOSYS (EOPNOTSUPP to callers). */
  noXattrs?: boolean;
  /** fuse-overlayfs's `xattr_permissions=1|2`: the upper layer keeps owners and modes in an xattr (override-stat.ts). */
  xattrPermissions?: XattrPermissions;
}

/**
 * overlayfs.rst "Redirect dir": `on` writes a redirect when a directory with lower parts is renamed
 * and follows redirects in lookups; `follow` and `off` follow but do not write (such a rename answers
 * EXDEV and mv copies instead; `off` follows as the kernel does with its default
 * redirect_always_follow=Y); `nofollow` neither writes nor follows (a lookup that would follow one
 * answers EPERM, as the kernel's "refusing to follow redirect").
 */
export type RedirectDir = 'on' | 'follow' | 'off' | 'nofollow';

/** What the mount does with redirects. */
export interface RedirectMode {
  create: boolean;
  follow: boolean;
}

/**
 * redirect_dir against the xattr namespace, as the kernel's params.c settles them. With userxattr the
 * overlay's xattrs are user.* ones, which whoever owns a directory may write: a redirect there would
 * open any lower directory under that owner's permissions (a root daemon's reach, behind the mount),
 * so the kernel forces nofollow and refuses on/follow — and a layer written with user.* redirects
 * would not open under the kernel's unprivileged overlay (EPERM). layerfs does the same. Without
 * userxattr layerfs's default is `on` (the kernel's is its module parameter, usually `off`).
 */
export function redirectMode(given: RedirectDir | undefined, userxattr: boolean): RedirectMode {
  if (userxattr) {
    if (given === 'on' || given === 'follow') {
      throw new MountError(
        `redirect_dir=${given} cannot go with user xattrs (userxattr, the default when not root): anyone who owns a directory could write a redirect into another's lower directory; leave redirect_dir out, or mount as root without userxattr`,
        { usage: true },
      );
    }
    return { create: false, follow: false };
  }
  const mode = given ?? 'on';
  return { create: mode === 'on', follow: mode !== 'nofollow' };
}

/**
 * overlayfs.rst "Metadata only copy up": the kernel's overlay with metacopy=on copies up only the
 * metadata of a file whose owner, mode or xattrs change; the upper file then carries overlay.metacopy
 * and its data stays in the lower file (found by name, or through the file's own overlay.redirect
 * after a rename). layerfs follows such files with metacopy=on, reading their data from the lower
 * layer and copying it up at the first write, and makes none itself (its copy-ups always carry the
 * data, which every overlay reads). Without metacopy=on a lookup of one answers EPERM, as the
 * kernel's "refusing to follow metacopy origin"; with user xattrs anyone could write the mark (and a
 * redirect with it) on their own file, so the kernel refuses metacopy=on there, and so does layerfs.
 * Following one is following a redirect, so redirect_dir=nofollow conflicts.
 */
export function metacopyFollows(given: boolean | undefined, redirectDir: RedirectDir | undefined, userxattr: boolean): boolean {
  if (given !== true) return false;
  if (userxattr) {
    throw new MountError(
      'metacopy=on cannot go with user xattrs (userxattr, the default when not root): anyone could mark their own file as a metadata-only copy of another; leave metacopy out, or mount as root without userxattr',
      { usage: true },
    );
  }
  if (redirectDir === 'nofollow')
    throw new MountError('metacopy=on follows redirects, which redirect_dir=nofollow refuses: leave one of them out', { usage: true });
  return true;
}

/**
 * The kernel's overlay mount options (Documentation/filesystems/overlayfs.rst), so that the options
 * of a `mount -t overlay` line work here as they are. The values that describe what layerfs does
 * anyway are accepted; the ones that ask for a feature it lacks fail with a line saying so.
 * `take(name)` removes the option from the caller's set: undefined when absent, '' for a flag.
 */
export function takeOverlayFeatures(take: (name: string) => string | undefined): OverlayFeatures {
  const only = (name: string, accepted: string[], why: string) => {
    const v = take(name);
    if (v !== undefined && !accepted.includes(v)) {
      throw new MountError(`${name}=${v} is not supported: ${why}; leave it out or use ${name}=${accepted[0]}`, { usage: true });
    }
    return v;
  };
  const redirectDir = take('redirect_dir');
  if (redirectDir !== undefined && !['on', 'follow', 'off', 'nofollow'].includes(redirectDir))
    throw new MountError(`redirect_dir takes on, follow, off or nofollow (got redirect_dir=${redirectDir})`, { usage: true });
  only('index', ['off'], 'there is no inode index (hard links are broken up by copy-up, as with index=off)');
  const metacopy = take('metacopy');
  if (metacopy !== undefined && metacopy !== 'on' && metacopy !== 'off')
    throw new MountError(`metacopy takes on or off (got metacopy=${metacopy})`, { usage: true });
  only('verity', ['off'], 'layerfs does not check fs-verity digests of metacopy data');
  const xino = take('xino');
  if (xino !== undefined && !['on', 'auto', 'off'].includes(xino))
    throw new MountError(`xino takes on, auto or off (got xino=${xino})`, { usage: true });
  only('nfs_export', ['off'], 'the mount cannot be exported over NFS');
  // uuid=null and auto describe layerfs (origins carry the layer's uuid; no overlay uuid of its own),
  // off writes null ones; on asks for a persistent overlay uuid and fsid, which layerfs has not.
  const uuid = only('uuid', ['auto', 'null', 'off'], 'the overlay has no persistent uuid of its own (statfs reports the upper filesystem)');
  const flag = (name: string) => {
    const v = take(name);
    if (v !== undefined && v !== '') throw new MountError(`${name} takes no value (got ${name}=${v})`, { usage: true });
    return v !== undefined;
  };
  const number = (name: string) => {
    const v = take(name);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (v === '' || !Number.isInteger(n) || n < 0) throw new MountError(`${name} needs an id (a number), got '${v}'`, { usage: true });
    return n;
  };
  const mapping = (name: string) => {
    const v = take(name);
    if (v === undefined) return undefined;
    try {
      return parseIdMapping(name, v);
    } catch (err) {
      throw new MountError((err as FsError).message.replace(/^[A-Z]+: /, ''), { usage: true });
    }
  };
  // fuse-overlayfs's own options, so layerfs drops in as containers/storage's mount_program.
  const ids: IdPolicy = { uidMap: mapping('uidmapping'), gidMap: mapping('gidmapping') };
  if (flag('squash_to_root')) Object.assign(ids, { squashUid: 0, squashGid: 0 });
  const squashUid = number('squash_to_uid');
  const squashGid = number('squash_to_gid');
  if (squashUid !== undefined) ids.squashUid = squashUid;
  if (squashGid !== undefined) ids.squashGid = squashGid;
  if (flag('static_nlink')) ids.staticNlink = true;
  // fuse-overlayfs's tuning knobs: threads and its inode-number shortcut describe nothing here (one
  // event loop; st_ino is always the real one), so they are accepted as they are.
  take('threaded');
  take('fast_ino');
  const xattrPermissions = take('xattr_permissions');
  if (xattrPermissions !== undefined && !['0', '1', '2'].includes(xattrPermissions))
    throw new MountError(`xattr_permissions takes 0, 1 or 2 (got xattr_permissions=${xattrPermissions})`, { usage: true });
  if (take('plugins') !== undefined)
    throw new MountError("plugins= is not supported: layers are directories (fuse-overlayfs's layer plugins are its own)", { usage: true });
  const noxattrs = take('noxattrs');
  if (noxattrs !== undefined && !/^\d+$/.test(noxattrs))
    throw new MountError(`noxattrs takes a number (got noxattrs=${noxattrs})`, { usage: true });
  const fsync = take('fsync');
  if (fsync !== undefined && fsync !== '0' && fsync !== '1')
    throw new MountError(`fsync takes 0 or 1 (got fsync=${fsync})`, { usage: true });
  const noFsync = fsync === '0';
  return {
    volatile: flag('volatile') || noFsync,
    // userxattr left out: undefined, so the mount picks by privilege (user.* wherever trusted.* is refused).
    userxattr: flag('userxattr') || undefined,
    noFsync,
    ids,
    redirectDir: redirectDir as RedirectDir | undefined,
    metacopy: metacopy === undefined ? undefined : metacopy === 'on',
    uuidOff: uuid === 'off' || undefined,
    xinoOn: xino === 'on' || undefined,
    noXattrs: (noxattrs !== undefined && noxattrs !== '0') || undefined,
    xattrPermissions: xattrPermissions === undefined ? undefined : (Number(xattrPermissions) as XattrPermissions),
  };
}

/**
 * xino=on with every layer on one filesystem is what layerfs does (the kernel says it is "useless
 * with all layers on same fs" and ignores it); across filesystems it would need inode numbers
 * layerfs does not compose.
 */
export function checkXino(layers: { lower: string[]; upper?: string }): void {
  if (!oneFilesystem([...layers.lower, ...(layers.upper ? [layers.upper] : [])])) {
    throw new MountError(
      'xino=on is not supported with layers on several filesystems: layerfs shows the real inode numbers, which may repeat across filesystems; leave it out or use xino=auto',
      { usage: true },
    );
  }
}

/** Whether every one of these directories is on one filesystem (xino=on, uuid=off: the kernel's samefs). */
export function oneFilesystem(dirs: readonly string[]): boolean {
  return new Set(dirs.map((p) => fs.statSync(p).dev)).size === 1;
}
