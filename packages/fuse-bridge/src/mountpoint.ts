// Mountpoint checks and unmounting, shared by every transport. Runs before the mount exists, so the
// synchronous fs calls here never wait on our own daemon.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { errnoOf, isPathInside, syscalls } from '@layerfs/backing-io';
import { MountError } from './mount-error';
import { createLogger } from './logger';

const log = createLogger('mount');
const ENOTCONN = 107;
const EINVAL = 22;
const EBUSY = 16;
const EPERM = 1;

const FUSERMOUNTS = ['/usr/bin/fusermount3', '/bin/fusermount3', '/usr/local/bin/fusermount3', '/usr/bin/fusermount', '/bin/fusermount'];

/** The setuid fusermount3 (or libfuse's fusermount), or undefined when none is installed. */
export function findFusermount(): string | undefined {
  for (const p of FUSERMOUNTS) {
    try {
      const st = fs.statSync(p);
      if (st.mode & 0o4000 && st.uid === 0) return p;
    } catch {
      // not there
    }
  }
  return undefined;
}

export interface MountEntry {
  mountpoint: string;
  fstype: string;
  source: string;
}

const unescapeMount = (s: string) => s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));

export function readMounts(): MountEntry[] {
  return fs
    .readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const f = line.split(' ');
      return { source: unescapeMount(f[0]!), mountpoint: unescapeMount(f[1]!), fstype: f[2]! };
    });
}

export function mountAt(mountpoint: string): MountEntry | undefined {
  const abs = path.resolve(mountpoint);
  return readMounts()
    .reverse()
    .find((m) => m.mountpoint === abs);
}

/**
 * Make sure `mountpoint` can take a mount: it exists, is a directory, holds no live mount, and is
 * empty (unless `nonempty`). A FUSE mount left by a killed daemon (ENOTCONN) is cleaned here with a
 * log line. Returns the absolute mountpoint.
 */
export function prepareMountpoint(mountpoint: string, opts: { nonempty?: boolean } = {}): string {
  const abs = path.resolve(mountpoint);
  let st: fs.Stats;
  try {
    st = fs.statSync(abs);
  } catch (err) {
    const errno = errnoOf(err);
    if (errno === ENOTCONN) {
      cleanStaleMount(abs);
      return prepareMountpoint(abs, opts);
    }
    if (errno === 2) throw new MountError(`mountpoint ${abs} does not exist: create it first (mkdir -p ${abs})`);
    throw new MountError(`mountpoint ${abs} cannot be used: ${(err as Error).message}`);
  }
  if (!st.isDirectory()) throw new MountError(`mountpoint ${abs} is not a directory: mount on an empty directory`);
  const existing = mountAt(abs);
  if (existing) {
    throw new MountError(
      `mountpoint ${abs} is already mounted (${existing.fstype} from ${existing.source}): ` +
        `unmount it first (layerfs umount ${abs}) or pick another directory`,
    );
  }
  if (!opts.nonempty && fs.readdirSync(abs).length > 0) {
    throw new MountError(`mountpoint ${abs} is not empty: mount on an empty directory, or pass -o nonempty to hide its contents`);
  }
  return abs;
}

/** A mount whose daemon died answers ENOTCONN to everything until it is unmounted. */
export function cleanStaleMount(abs: string): void {
  const entry = mountAt(abs);
  if (entry && !entry.fstype.startsWith('fuse')) {
    throw new MountError(`mountpoint ${abs} is not connected (${entry.fstype}); unmount it by hand (umount ${abs})`);
  }
  try {
    syscalls.umount2(abs, syscalls.UmountFlags.DETACH);
  } catch (err) {
    throw new MountError(
      `mountpoint ${abs} holds a stale FUSE mount that could not be cleaned (${(err as Error).message}): run umount -l ${abs} as root`,
    );
  }
  log.warn(`cleaned a stale mount at ${abs} left by a daemon that died without unmounting`);
}

/** True when `abs` is a FUSE mount whose daemon is gone. */
export function isStale(abs: string): boolean {
  try {
    fs.statSync(abs);
    return false;
  } catch (err) {
    return errnoOf(err) === ENOTCONN;
  }
}

/**
 * Unmount. A busy mount (a process still has a file open or its cwd inside) is retried briefly, then
 * detached lazily when `lazyIfBusy`: the kernel finishes the unmount when the last user leaves.
 */
export async function unmountPath(mountpoint: string, opts: { lazyIfBusy?: boolean } = {}): Promise<void> {
  const abs = path.resolve(mountpoint);
  let how: Unmounter = kernelUnmount;
  for (let attempt = 0; ; attempt++) {
    const r = how.unmount(abs);
    if (r === 'done') return;
    if (r === 'not-permitted') {
      how = userUnmount(abs);
      attempt = -1;
      continue;
    }
    if (attempt < 10) {
      await new Promise((res) => setTimeout(res, 50));
      continue;
    }
    if (!opts.lazyIfBusy)
      throw new MountError(
        `${abs} is busy (a process has a file open or its working directory inside): close it and retry, or use layerfs umount --lazy`,
      );
    how.detach(abs);
    log.warn(`${abs} was busy; detached lazily (the kernel completes the unmount when its last user leaves)`);
    return;
  }
}

/** One way to unmount: `unmount` answers what stands in the way, `detach` is the lazy unmount. */
interface Unmounter {
  unmount(abs: string): 'done' | 'busy' | 'not-permitted';
  detach(abs: string): void;
}

const kernelUnmount: Unmounter = {
  unmount(abs) {
    try {
      syscalls.umount2(abs, 0);
      return 'done';
    } catch (err) {
      const errno = errnoOf(err);
      if (errno === EINVAL && !mountAt(abs)) return 'done'; // not mounted (any more): nothing to do
      if (errno === EPERM) return 'not-permitted';
      if (errno === EBUSY) return 'busy';
      throw err;
    }
  },
  detach: (abs) => syscalls.umount2(abs, syscalls.UmountFlags.DETACH),
};

/**
 * Without the privilege to umount(2): the setuid fusermount3 unmounts a FUSE mount its user made
 * (both transports' mounts as a user go through it).
 */
function userUnmount(abs: string): Unmounter {
  const helper = findFusermount();
  if (!helper) throw new MountError(`unmounting ${abs} needs root or the setuid fusermount3 (apt-get install fuse3)`);
  const fusermount = (abs: string, args: string[]) => {
    const r = spawnSync(helper, [...args, '--', abs], { encoding: 'utf8' });
    return { ok: r.status === 0, why: (r.stderr ?? '').trim().replace(/^fusermount3?: /, '') };
  };
  return {
    unmount(abs) {
      const r = fusermount(abs, ['-u']);
      if (r.ok || !mountAt(abs)) return 'done';
      if (/busy/i.test(r.why)) return 'busy';
      throw new MountError(`fusermount3 could not unmount ${abs}: ${r.why}`);
    },
    detach(abs) {
      const r = fusermount(abs, ['-u', '-z']);
      if (!r.ok) throw new MountError(`fusermount3 could not unmount ${abs}: ${r.why}`);
    },
  };
}

const FUSECTL = '/sys/fs/fuse/connections';

/**
 * `layerfs umount --force`: a daemon that hangs (stopped, deadlocked) leaves every process touching
 * the mount waiting. Abort its connection through fusectl (mounted here if absent; the connection's
 * number is the minor of the mount's st_dev, read from mountinfo because stat would hang), then
 * detach the mount. Waiting processes get ENOTCONN.
 */
export function abortConnection(mountpoint: string): void {
  const abs = path.resolve(mountpoint);
  const line = fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => unescapeMount(l.split(' ')[4] ?? '') === abs)
    .pop();
  if (!line) throw new MountError(`${abs} is not mounted: nothing to abort`);
  const fstype = line.split(' - ')[1]?.split(' ')[0] ?? '';
  if (!fstype.startsWith('fuse')) throw new MountError(`${abs} is a ${fstype} mount, not a FUSE one: use umount(8) for it`);
  const minor = line.split(' ')[2]!.split(':')[1]!;
  if (!fs.existsSync(path.join(FUSECTL, minor))) {
    try {
      syscalls.mount('fusectl', FUSECTL, 'fusectl', 0, '');
    } catch (err) {
      if (errnoOf(err) !== EBUSY) throw new MountError(`cannot mount fusectl on ${FUSECTL} (${(err as Error).message}): run as root`);
    }
  }
  try {
    fs.writeFileSync(path.join(FUSECTL, minor, 'abort'), '1');
  } catch (err) {
    throw new MountError(`cannot abort FUSE connection ${minor} of ${abs} (${(err as Error).message}): run as root`);
  }
  syscalls.umount2(abs, syscalls.UmountFlags.DETACH);
  log.warn(`aborted the FUSE connection of ${abs} and detached it`);
}

/** Refuse sources and mountpoint that contain each other: the daemon would serve requests to itself. */
export function checkNoOverlap(mountpoint: string, sources: Array<{ role: string; path: string }>): void {
  const mnt = realpathOrResolve(mountpoint);
  for (const s of sources) {
    const p = realpathOrResolve(s.path);
    if (isPathInside(p, mnt)) {
      throw new MountError(
        `${s.role} ${s.path} is inside the mountpoint ${mountpoint}: the daemon would wait on itself; use a ${s.role} outside the mountpoint`,
      );
    }
    if (isPathInside(mnt, p)) {
      throw new MountError(
        `mountpoint ${mountpoint} is inside the ${s.role} ${s.path}: the daemon would wait on itself; mount outside the ${s.role}`,
      );
    }
  }
}

function realpathOrResolve(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return path.resolve(p);
  }
}
