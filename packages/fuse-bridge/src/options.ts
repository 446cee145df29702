// Mount options: parsing `-o a,b=c` strings and turning them into libfuse options.
//
// Defaults chosen for speed with coherence (measured, README "Benchmark"):
// - big_writes + max_write/max_read 128 KiB: 4 KiB writes ran at ~45 MB/s, 128 KiB at ~300 MB/s.
// - auto_cache, not kernel_cache: both keep the page cache warm across opens (warm reads at page-cache
//   speed), but auto_cache drops it when an open sees a changed mtime/size, so a file changed behind
//   the mount (in the passthrough source, or an overlay layer) is not served stale forever.
// - attr_timeout/entry_timeout 1 s: the kernel answers repeated stats itself for a second (longer
//   on the wire transport for the overlay; see BridgeOptions.attrTimeout).
// - use_ino: st_ino comes from the filesystem, so hard links show one inode.
// - as root: allow_other,default_permissions, so other users can use the mount and the kernel checks
//   permissions against st_mode/st_uid (fuse-native cannot tell us who is calling).
import * as fs from 'node:fs';
import { MountError } from './mount-error';
import { createLogger } from './logger';

const log = createLogger('options');

export type OptionMap = Map<string, string | true>;

/**
 * Parse `a,b=c,d=e\,f` (a backslash escapes a comma; so does a double-quoted stretch, kept with its
 * quotes, as mount(8) writes an SELinux `context="user:role:type:s0:c1,c2"`). Later keys override
 * earlier ones, but for `key+=value` (the kernel's append form, overlay's `lowerdir+=`): those are
 * all kept, in order, NUL-separated (no option value can hold a NUL).
 */
export function parseOptionString(s: string, into: OptionMap = new Map()): OptionMap {
  let cur = '';
  const flush = () => {
    const item = cur.trim();
    cur = '';
    if (!item) return;
    const eq = item.indexOf('=');
    if (eq < 0) into.set(item, true);
    else {
      const key = item.slice(0, eq);
      const prev = into.get(key);
      into.set(key, key.endsWith('+') && typeof prev === 'string' ? `${prev}\0${item.slice(eq + 1)}` : item.slice(eq + 1));
    }
  };
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (ch === '\\' && s[i + 1] === ',') {
      cur += ',';
      i++;
    } else if (ch === ',' && !quoted) flush();
    else {
      if (ch === '"') quoted = !quoted;
      cur += ch;
    }
  }
  flush();
  return into;
}

/**
 * A `take(name)` over `opts` for a filesystem's own options: removes the option and answers its
 * value, '' for a flag, undefined when absent (what is left at the end is unknown to everyone).
 */
export function optionTaker(opts: OptionMap): (name: string) => string | undefined {
  return (name) => {
    const v = opts.get(name);
    opts.delete(name);
    return v === true ? '' : v;
  };
}

export type CacheMode = 'auto' | 'kernel' | 'none';

export interface BridgeOptions {
  cache: CacheMode;
  /**
   * Kernel cache lifetimes in seconds. Unset: the transport's default — 1 s (0 for negative entries),
   * or, on a transport that invalidates what it changes (wire) serving a filesystem whose backing
   * store nothing else may change (`NodeHandlers.exclusive`: the overlay), a day, as fuse-overlayfs.
   */
  attrTimeout?: number;
  entryTimeout?: number;
  negativeTimeout?: number;
  /** Request size caps; each transport has its own default (libfuse 2: 128 KiB; wire: 1 MiB writes). */
  maxRead?: number;
  maxWrite?: number;
  allowOther: boolean;
  defaultPermissions: boolean;
  /** Mount over a non-empty directory (hiding its entries). */
  nonempty: boolean;
  fsname: string;
  subtype: string;
  debug: boolean;
  /** libfuse's own trace of every request on stderr (`-o debug`, as in every FUSE filesystem). */
  fuseDebug: boolean;
  /**
   * Seconds after which a metadata request still unanswered is answered ETIMEDOUT (0: never, the
   * default). Reads and writes are never cut short: their buffers belong to libfuse until answered.
   */
  opTimeout: number;
  /**
   * Kernel passthrough on the wire transport: auto (use it where the kernel grants it, else serve
   * reads and writes in the daemon with one log line), off (always serve them; keeps that path
   * tested), require (fail the mount when the kernel refuses). Where it is granted, a file of at
   * most 128 KiB opened read-only is still read by the daemon (faster; fuse-wire's README says why).
   */
  passthrough: 'auto' | 'off' | 'require';
  /** Wire transport: µs to keep polling for the next request after answering one (default 50; 0 off). */
  spinUs: number;
  /** POSIX ACLs enforced by the kernel (FUSE_POSIX_ACL, wire transport); `noacl` turns them off. */
  acl: boolean;
  /** false: never the kernel's writeback cache (fuse-overlayfs's writeback=0). */
  writeback?: boolean;
  /** SELinux mount labels (`context="…"`, …) for the kernel, where SELinux is on (takeSecurityContexts). */
  securityContexts?: string[];
  /**
   * A read-only mount (MS_RDONLY, `ro`): the kernel answers EROFS for every write, root's included,
   * and access(W_OK) says so. A filesystem still refuses writes itself where a transport cannot ask.
   */
  readOnly?: boolean;
  /**
   * mount(8)'s per-mount flags (`suid`/`nosuid`, `dev`/`nodev`, `exec`/`noexec`, the atime family,
   * `sync`, `dirsync`), as `mount -t fuse.PROG` and /etc/fstab pass them. Unset: what the filesystem
   * asks for in its mount call (the overlay: suid), else libfuse's nosuid,nodev and the kernel's
   * defaults for the rest.
   */
  vfs: VfsFlags;
}

/**
 * SELinux's mount options (podman passes `context="…"` for a container's files): handed to the kernel
 * with the mount where SELinux is on, which labels every file of the mount with it; elsewhere the
 * kernel would refuse them, and there is nothing to label, so they are dropped with a debug line.
 */
const SECURITY_CONTEXTS = ['context', 'fscontext', 'defcontext', 'rootcontext'] as const;

function takeSecurityContexts(opts: OptionMap, o: BridgeOptions): void {
  const selinux = fs.existsSync('/sys/fs/selinux/enforce');
  for (const name of SECURITY_CONTEXTS) {
    const v = opts.get(name);
    if (v === undefined) continue;
    opts.delete(name);
    if (v === true || v === '')
      throw new MountError(`${name} needs a value, e.g. ${name}="system_u:object_r:container_file_t:s0"`, { usage: true });
    if (selinux) (o.securityContexts ??= []).push(`${name}=${v}`);
    else log.debug(`${name}=${v}: ignored (SELinux is not enabled here)`);
  }
}

export interface VfsFlags {
  suid?: boolean;
  dev?: boolean;
  exec?: boolean;
  atime?: 'noatime' | 'relatime' | 'strictatime';
  diratime?: boolean;
  sync?: boolean;
  dirsync?: boolean;
}

/**
 * Options only mount(8) and fstab give meaning to (it acted on them before running the helper, or
 * they are for fsck, systemd and the boot): a helper is handed some of them, and takes no action.
 */
const FSTAB_ONLY = new Set([
  'defaults',
  'auto',
  'noauto',
  'user',
  'nouser',
  'users',
  'owner',
  'group',
  '_netdev',
  'nofail',
  'lazytime',
  'nolazytime',
  'loud',
  'silent',
  'iversion',
  'noiversion',
]);

/** Take mount(8)'s generic options out of `opts` into `o` (rw/ro, the flags of VfsFlags). */
function takeVfsOptions(opts: OptionMap, o: BridgeOptions): void {
  const vfs: VfsFlags = { ...o.vfs };
  for (const [key, value] of [...opts]) {
    if (value !== true) {
      if (key === 'comment' || key.startsWith('x-')) opts.delete(key);
      continue;
    }
    const no = key.startsWith('no') ? key.slice(2) : undefined;
    let known = true;
    if (key === 'rw' || key === 'ro') o.readOnly = key === 'ro';
    else if (key === 'suid' || no === 'suid') vfs.suid = key === 'suid';
    else if (key === 'dev' || no === 'dev') vfs.dev = key === 'dev';
    else if (key === 'exec' || no === 'exec') vfs.exec = key === 'exec';
    else if (key === 'atime') vfs.atime = undefined;
    else if (key === 'noatime' || key === 'relatime' || key === 'strictatime') vfs.atime = key;
    else if (key === 'norelatime') vfs.atime = vfs.atime === 'relatime' ? undefined : vfs.atime;
    else if (key === 'diratime' || key === 'nodiratime') vfs.diratime = key === 'diratime';
    else if (key === 'sync' || key === 'async') vfs.sync = key === 'sync';
    else if (key === 'dirsync') vfs.dirsync = true;
    else if (FSTAB_ONLY.has(key) || key.startsWith('x-')) log.debug(`${key}: mount(8)'s option, nothing for the filesystem to do`);
    else known = false;
    if (known) opts.delete(key);
  }
  o.vfs = vfs;
}

export function defaultBridgeOptions(): BridgeOptions {
  const root = process.getuid?.() === 0;
  return {
    cache: 'auto',
    allowOther: root,
    defaultPermissions: true,
    nonempty: false,
    fsname: 'layerfs',
    subtype: 'layerfs',
    debug: false,
    fuseDebug: false,
    opTimeout: 0,
    passthrough: 'auto',
    spinUs: 50,
    acl: true,
    vfs: {},
  };
}

const num = (key: string, v: string | true): number => {
  const n = v === true ? NaN : Number(v);
  if (!Number.isFinite(n) || n < 0)
    throw new MountError(`option ${key} needs a non-negative number, got '${v === true ? '' : v}'`, { usage: true });
  return n;
};

/**
 * Take the bridge's own keys out of `opts` (what is left belongs to the filesystem) and return the
 * resolved bridge options.
 */
export function takeBridgeOptions(opts: OptionMap, base: BridgeOptions = defaultBridgeOptions()): BridgeOptions {
  const o = { ...base };
  const take = (key: string) => {
    const v = opts.get(key);
    opts.delete(key);
    return v;
  };
  let v;
  if ((v = take('cache')) !== undefined) {
    if (v !== 'auto' && v !== 'kernel' && v !== 'none')
      throw new MountError(`option cache must be auto, kernel or none, got '${v}'`, { usage: true });
    o.cache = v;
  }
  if (take('kernel_cache')) o.cache = 'kernel';
  if (take('auto_cache')) o.cache = 'auto';
  if ((v = take('attr_timeout')) !== undefined) o.attrTimeout = num('attr_timeout', v);
  if ((v = take('entry_timeout')) !== undefined) o.entryTimeout = num('entry_timeout', v);
  if ((v = take('negative_timeout')) !== undefined) o.negativeTimeout = num('negative_timeout', v);
  if ((v = take('max_read')) !== undefined) o.maxRead = num('max_read', v);
  if ((v = take('max_write')) !== undefined) o.maxWrite = num('max_write', v);
  if (take('allow_other')) o.allowOther = true;
  if (take('noallow_other')) o.allowOther = false;
  if (take('default_permissions')) o.defaultPermissions = true;
  if (take('nodefault_permissions')) o.defaultPermissions = false;
  if (take('nonempty')) o.nonempty = true;
  if ((v = take('fsname')) !== undefined && v !== true) o.fsname = v;
  if ((v = take('subtype')) !== undefined && v !== true) o.subtype = v;
  if (take('debug')) o.fuseDebug = true;
  if ((v = take('op_timeout')) !== undefined) o.opTimeout = num('op_timeout', v);
  if ((v = take('spin_us')) !== undefined) o.spinUs = num('spin_us', v);
  if (take('noacl')) o.acl = false;
  takeVfsOptions(opts, o);
  takeSecurityContexts(opts, o);
  // libfuse's common options, as fuse-overlayfs takes them: honoured where they mean something here,
  // else accepted and ignored with one debug line (threads and fds are the transport's business).
  if (take('allow_root')) log.debug('allow_root: ignored (only the mounting user, and root for a root daemon, have access)');
  if (take('auto_unmount')) log.debug('auto_unmount: always on for mounts made as a user; a root daemon unmounts on exit');
  if ((v = take('max_threads')) !== undefined)
    log.debug(`max_threads=${v === true ? '' : v}: ignored (one event loop; the threadpool is libuv's)`);
  if (take('clone_fd')) log.debug('clone_fd: ignored');
  if ((v = take('max_idle_threads')) !== undefined) log.debug('max_idle_threads: ignored (one event loop)');
  if ((v = take('writeback')) !== undefined) {
    // fuse-overlayfs's writeback=0|1: 0 keeps the kernel's writeback cache off (1, the default,
    // lets the transport use it where the daemon serves file data of a filesystem nothing else changes).
    if (v !== '0' && v !== '1') throw new MountError(`writeback takes 0 or 1 (got writeback=${v === true ? '' : v})`, { usage: true });
    if (v === '0') o.writeback = false;
  }
  if ((v = take('passthrough')) !== undefined) {
    if (v !== 'auto' && v !== 'off' && v !== 'require')
      throw new MountError(`option passthrough must be auto, off or require, got '${v === true ? '' : v}'`, { usage: true });
    o.passthrough = v;
  }
  return o;
}

const LIBFUSE_MAX_IO = 131072;

/** The libfuse 2 option list for fuse-native. */
export function libfuseOptions(o: BridgeOptions): string[] {
  const out = [
    `fsname=${escapeOpt(o.fsname)}`,
    `subtype=${escapeOpt(o.subtype)}`,
    'use_ino',
    'readdir_ino',
    'big_writes',
    `max_read=${o.maxRead ?? LIBFUSE_MAX_IO}`,
    `max_write=${o.maxWrite ?? LIBFUSE_MAX_IO}`,
    `attr_timeout=${o.attrTimeout ?? 1}`,
    `entry_timeout=${o.entryTimeout ?? 1}`,
    `negative_timeout=${o.negativeTimeout ?? 0}`,
  ];
  if (o.cache === 'auto') out.push('auto_cache');
  if (o.cache === 'kernel') out.push('kernel_cache');
  if (o.allowOther) out.push('allow_other');
  if (o.defaultPermissions) out.push('default_permissions');
  if (o.nonempty) out.push('nonempty');
  if (o.fuseDebug) out.push('debug');
  if (o.readOnly) out.push('ro');
  out.push(...vfsOptionNames(o.vfs, process.getuid?.() === 0));
  out.push(...(o.securityContexts ?? []).map(escapeOpt));
  return out;
}

/**
 * `vfs` as the option names libfuse's mount and fusermount3 take: `suid` and `dev` only for root
 * (fusermount3 forces nosuid,nodev on a user's mount; libfuse 2 and fusermount3 know no relatime,
 * strictatime or diratime: those mount(2) flags are the kernel's defaults anyway).
 */
export function vfsOptionNames(vfs: VfsFlags, root: boolean): string[] {
  const out: string[] = [];
  if (root && vfs.suid !== undefined) out.push(vfs.suid ? 'suid' : 'nosuid');
  if (root && vfs.dev !== undefined) out.push(vfs.dev ? 'dev' : 'nodev');
  if (vfs.exec === false) out.push('noexec');
  if (vfs.atime === 'noatime') out.push('noatime');
  if (vfs.sync) out.push('sync');
  if (vfs.dirsync) out.push('dirsync');
  return out;
}

/** libfuse splits options at commas; a comma inside a value is escaped with a backslash. */
const escapeOpt = (v: string) => v.replace(/\\/g, '\\\\').replace(/,/g, '\\,');
