// One daemon for the overlays a mount program's caller mounts in a row. containers/storage starts
// a mount program per container mount and commit (a three-step `podman build`: 8 of them), and
// each new Node process spent ~70 ms starting and then ran its first thousand requests cold
// (interpreted, its caches empty): 3-4 times the CPU of the same requests a minute later. On two
// vCPUs that CPU was taken from podman itself. So the first `layerfs-overlay` daemon also listens
// for the next mounts, and `bin/layerfs-overlay` hands it each one instead of starting Node.
//
// The rendezvous is a directory only its user can enter, ${XDG_RUNTIME_DIR:-/tmp}/layerfs-overlay-UID
// (UID: the euid as the parent user namespace sees it; /tmp when the runtime directory is not ours):
//   lock             flock()ed by the serving daemon for its lifetime (released by the kernel when
//                    it dies, so a killed server is replaced, never waited for)
//   pid              the server's pid, for the script's liveness check
//   requests         a FIFO of client pids, one line each (short: one atomic write)
//   request.PID      the client's cwd, $LAYERFS_TRANSPORT and arguments, NUL-separated (written
//                    before its pid is sent)
//   reply.PID        the FIFO the client waits on for one line: `ok …`, `error CODE MESSAGE`, or
//                    `elsewhere` (mount it yourself)
// A request is served only for a client in the server's own user and mount namespaces and cgroup,
// with the server's euid, capabilities, seccomp state and security label: a mount made here must be
// the one the client would have made itself, and it must live and die with the unit (systemd's,
// podman's) that asked for it — a daemon started by one unit must not hold another unit's container
// mounts. Anything else is answered `elsewhere`.
//
// The server stays while it serves a mount, and IDLE_MS after its last one is gone. Giving up the
// rendezvous (unlink requests, then answer whatever already arrived with `elsewhere`) comes before
// the lock is released, so a client either reaches a live server or finds no FIFO and starts one.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { syscalls } from '@layerfs/backing-io';
import { createLogger, type MountHandle } from '@layerfs/fuse-bridge';
import { type ReadyResult, failed, readyLine } from './daemon';

const log = createLogger('shared');

/** How long a server with no mount left waits for the next one (a build's steps come seconds apart). */
const IDLE_MS = Number(process.env.LAYERFS_OVERLAY_IDLE_MS ?? 30_000);
/** Beyond this many mounts a client is sent away: each mount keeps up to a few hundred fds. */
const MAX_MOUNTS = 32;

export type Reply = ReadyResult | 'elsewhere';

/** A client's mount: where, on which host directories, and how to make it. */
export interface MountPlan {
  mountpoint: string;
  /** Every directory the mount reads or writes: its layers (and workdir). */
  layers: string[];
  mount(): Promise<{ handle: MountHandle; describe: string }>;
}

/** A mount served here, with real paths (symlinks resolved) to tell which mounts may meet. */
interface Served {
  handle: MountHandle;
  mountpoint: string;
  layers: string[];
}

/** `p` is `dir` or below it (real paths). */
function within(p: string, dir: string): boolean {
  return p === dir || p.startsWith(dir === '/' ? '/' : `${dir}/`);
}

/**
 * What a client's arguments ask for, relative to its cwd, with the transport its environment names
 * ('' for none); 'elsewhere' for a request the client must run itself. Throws what is wrong with it.
 */
export type MountRequest = (args: string[], cwd: string, transport: string) => MountPlan | 'elsewhere';

/** Our euid as the parent user namespace knows it: rootless podman's uid 0 is not root's. */
function outerUid(): number {
  const euid = process.geteuid!();
  for (const line of fs.readFileSync('/proc/self/uid_map', 'utf8').trim().split('\n')) {
    const [inside, outside, count] = line.trim().split(/\s+/).map(Number) as [number, number, number];
    if (euid >= inside && euid < inside + count) return outside + euid - inside;
  }
  return euid;
}

/**
 * ${XDG_RUNTIME_DIR}/layerfs-overlay-UID where that directory is ours; /tmp's otherwise (`sudo -E`
 * keeps a user's runtime directory for root, and its owner could swap entries in it: a request
 * file replaced by a symlink would be written through as root). In /tmp the sticky bit keeps others
 * from renaming ours.
 */
export function rendezvousDir(): string {
  const xdg = process.env.XDG_RUNTIME_DIR;
  let base = '/tmp';
  try {
    if (xdg && fs.statSync(xdg).uid === process.geteuid!()) base = xdg;
  } catch {
    // missing: /tmp
  }
  return path.join(base, `layerfs-overlay-${outerUid()}`);
}

/** Same object in /proc/PID/ns and ours (namespaces: the inode of the nsfs file). */
function sameNs(pid: number, ns: string): boolean {
  const theirs = fs.statSync(`/proc/${pid}/ns/${ns}`);
  const ours = fs.statSync(`/proc/self/ns/${ns}`);
  return theirs.ino === ours.ino && theirs.dev === ours.dev;
}

/**
 * What a process may do, as /proc/PID/status says it: capabilities, no_new_privs, seccomp. A caller
 * that gave any of it up (capsh --drop, a seccomp filter) must not get, through us, a mount it could
 * not make itself.
 */
const RESTRICTIONS = ['CapEff', 'CapPrm', 'CapBnd', 'NoNewPrivs', 'Seccomp', 'Seccomp_filters'];

function restrictions(status: string): string {
  return RESTRICTIONS.map((k) => new RegExp(`^${k}:\\s*(.*)$`, 'm').exec(status)?.[1] ?? '').join(' ');
}

/** The LSM label (SELinux, AppArmor) of a process, '' where there is none. */
function label(pid: number | 'self'): string {
  try {
    return fs.readFileSync(`/proc/${pid}/attr/current`, 'utf8');
  } catch {
    return '';
  }
}

/** Why the client `pid` may not be served here, or undefined when it may. */
function foreignClient(pid: number): string | undefined {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const euid = Number(/^Uid:\s+\d+\s+(\d+)/m.exec(status)?.[1]);
  if (euid !== process.geteuid!()) return `euid ${euid}`;
  if (!sameNs(pid, 'user') || !sameNs(pid, 'mnt')) return 'another namespace';
  if (fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8') !== fs.readFileSync('/proc/self/cgroup', 'utf8')) return 'another cgroup';
  if (restrictions(status) !== restrictions(fs.readFileSync('/proc/self/status', 'utf8'))) return 'other capabilities or seccomp';
  if (label(pid) !== label('self')) return 'another security label';
  return undefined;
}

export class SharedServer {
  readonly #mounts = new Set<Served>();
  readonly #pending = new Set<number>();
  #idle: NodeJS.Timeout | undefined;
  #stopped = false;
  /** A stop signal came: every mount, also one made later, is unmounted. */
  #unmounting = false;
  #fifo: net.Socket | undefined;
  /** The FIFO's fd (the socket owns it; read directly only while giving up, before it is closed). */
  #fifoFd = -1;
  #line = '';

  private constructor(
    readonly dir: string,
    readonly lockFd: number,
    readonly mount: MountRequest,
  ) {}

  /**
   * Become the user's server, or undefined when another live daemon is (or the rendezvous cannot be
   * made safely: a directory someone else owns, or open to others, is never used).
   */
  static tryStart(mount: MountRequest): SharedServer | undefined {
    const dir = rendezvousDir();
    let lockFd: number | undefined;
    try {
      try {
        fs.mkdirSync(dir, { mode: 0o700 });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const st = fs.lstatSync(dir);
      if (!st.isDirectory() || st.uid !== process.geteuid!() || (st.mode & 0o077) !== 0) {
        log.debug(`not sharing: ${dir} is not a private directory of ours`);
        return undefined;
      }
      lockFd = fs.openSync(path.join(dir, 'lock'), fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW, 0o600);
      if (!syscalls.tryLockExclusive(lockFd)) {
        fs.closeSync(lockFd);
        return undefined;
      }
      const server = new SharedServer(dir, lockFd, mount);
      server.#listen();
      return server;
    } catch (err) {
      log.debug(`not sharing: ${(err as Error).message}`);
      if (lockFd !== undefined) fs.closeSync(lockFd);
      return undefined;
    }
  }

  #listen(): void {
    // A stale FIFO of a killed server may hold its unanswered pids: start from a new one.
    const fifo = path.join(this.dir, 'requests');
    fs.rmSync(fifo, { force: true });
    syscalls.mknod(fifo, fs.constants.S_IFIFO | 0o600);
    // O_RDWR: never an end of file when the last client closes, and the open does not wait for one.
    const fd = fs.openSync(fifo, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
    this.#fifoFd = fd;
    this.#fifo = new net.Socket({ fd, readable: true, writable: false });
    this.#fifo.setEncoding('utf8');
    this.#fifo.on('data', (chunk: string) => this.#onData(chunk));
    this.#fifo.on('error', (err) => log.warn(`the request FIFO failed: ${err.message}`));
    const pidTmp = path.join(this.dir, `pid.${process.pid}`);
    fs.writeFileSync(pidTmp, `${process.pid}\n`, { mode: 0o600 });
    fs.renameSync(pidTmp, path.join(this.dir, 'pid'));
    this.#armIdle();
  }

  /**
   * A mount this process made itself (the first one: the request that started it; its paths were
   * checked by the mount, and no other mount of ours can be on them yet).
   */
  adopt(handle: MountHandle, layers: string[]): void {
    this.#track({ handle, mountpoint: handle.mountpoint, layers: layers.map((l) => fs.realpathSync(l)) });
  }

  /** Stop taking requests (the mounts served stay served). */
  close(): void {
    this.#giveUp();
  }

  /**
   * Unmount everything (SIGTERM and friends) and give up the rendezvous; a mount still being made
   * (the first one, or a request in flight) is unmounted as soon as it is made.
   */
  async unmountAll(): Promise<void> {
    this.#unmounting = true;
    this.#giveUp();
    await Promise.all([...this.#mounts].map((m) => m.handle.unmount()));
  }

  #track(served: Served): void {
    if (this.#unmounting) void served.handle.unmount();
    this.#mounts.add(served);
    this.#armIdle();
    void served.handle.closed.finally(() => {
      this.#mounts.delete(served);
      this.#armIdle();
    });
  }

  #armIdle(): void {
    if (this.#idle) clearTimeout(this.#idle);
    this.#idle = undefined;
    this.#title();
    if (this.#stopped || this.#mounts.size > 0 || this.#pending.size > 0) return;
    this.#idle = setTimeout(() => this.#giveUp(), IDLE_MS);
  }

  /** What ps shows; bin/layerfs-overlay asks a server only while it reads "(overlay, shared)". */
  #title(): void {
    const n = `${this.#mounts.size} mount${this.#mounts.size === 1 ? '' : 's'}`;
    process.title = `layerfs daemon (overlay, ${this.#stopped ? 'no longer shared' : 'shared'}): ${n}`;
  }

  #onData(chunk: string): void {
    this.#line += chunk;
    let nl: number;
    while ((nl = this.#line.indexOf('\n')) >= 0) {
      const pid = Number(this.#line.slice(0, nl));
      this.#line = this.#line.slice(nl + 1);
      if (Number.isInteger(pid) && pid > 0) void this.#serve(pid);
    }
  }

  async #serve(pid: number): Promise<void> {
    const requestFile = path.join(this.dir, `request.${pid}`);
    let reply: Reply;
    this.#pending.add(pid);
    this.#armIdle();
    try {
      const fields = fs.readFileSync(requestFile, 'utf8').split('\0');
      fs.rmSync(requestFile, { force: true });
      fields.pop(); // the last field's terminator
      const [cwd, transport, ...args] = fields;
      const why = this.#stopped ? 'stopping' : this.#mounts.size >= MAX_MOUNTS ? 'full' : foreignClient(pid);
      if (why !== undefined || cwd === undefined || transport === undefined) {
        log.debug(`request of pid ${pid} sent elsewhere: ${why ?? 'malformed'}`);
        reply = 'elsewhere';
      } else {
        try {
          const plan = this.mount(args, cwd, transport);
          const real = plan === 'elsewhere' ? undefined : await this.#unlessMeeting(plan);
          if (plan === 'elsewhere' || real === undefined) {
            reply = 'elsewhere';
          } else {
            const made = await plan.mount();
            log.debug(`${made.describe} on ${made.handle.mountpoint} (${made.handle.description}), for pid ${pid}`);
            this.#track({ handle: made.handle, ...real });
            reply = { ok: true, detail: made.handle.description };
          }
        } catch (err) {
          reply = failed(err);
        }
      }
    } catch (err) {
      log.debug(`request of pid ${pid} unreadable: ${(err as Error).message}`);
      reply = 'elsewhere';
    }
    this.#answer(pid, reply);
    this.#pending.delete(pid);
    this.#armIdle();
  }

  /**
   * The plan's real paths, or undefined when its mount and ours would meet: a directory of one
   * mount at or below another's mountpoint, or a mountpoint below another's layer (a lookup in the
   * layer then crosses into the mount). The mounted side's requests are answered by this thread,
   * so this thread's own syscall on it — mounting's checks are synchronous, and so are a layer's
   * lookups — would wait for itself: such a mount is left to a daemon of its own (which may then
   * stack on ours, or say what is wrong). Resolved on the threadpool, where a lookup in one of our
   * mounts is answered meanwhile; a path that does not exist is judged by its nearest parent.
   */
  async #unlessMeeting(plan: MountPlan): Promise<{ mountpoint: string; layers: string[] } | undefined> {
    const real = async (p: string): Promise<string> => {
      for (let q = p; ; q = path.dirname(q)) {
        const r = await fs.promises.realpath(q).catch(() => undefined);
        if (r !== undefined || q === '/') return r ?? '/';
      }
    };
    const mountpoint = await real(plan.mountpoint);
    const layers = await Promise.all(plan.layers.map(real));
    for (const m of this.#mounts) {
      const meets =
        [mountpoint, ...layers].some((p) => within(p, m.mountpoint)) ||
        layers.some((l) => within(m.mountpoint, l)) ||
        m.layers.some((l) => within(mountpoint, l));
      if (meets) {
        log.debug(`a mount on ${plan.mountpoint} would meet ours on ${m.mountpoint}: sent elsewhere`);
        return undefined;
      }
    }
    return { mountpoint, layers };
  }

  #answer(pid: number, reply: Reply): void {
    const file = path.join(this.dir, `reply.${pid}`);
    const line = reply === 'elsewhere' ? 'elsewhere\n' : readyLine(reply);
    try {
      // The client opened its end before sending its pid (and keeps it open), so this does not wait.
      const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOFOLLOW);
      try {
        fs.writeSync(fd, line);
      } finally {
        fs.closeSync(fd);
      }
    } catch (err) {
      log.debug(`reply to pid ${pid} lost: ${(err as Error).message}`);
    }
    fs.rmSync(file, { force: true });
  }

  /**
   * Stop taking requests: remove the FIFO (new clients then start their own daemon), answer the
   * pids already in it `elsewhere`, release the lock. Mounts being served stay served.
   */
  #giveUp(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#idle) clearTimeout(this.#idle);
    this.#title();
    for (const f of ['pid', 'requests']) fs.rmSync(path.join(this.dir, f), { force: true });
    const fifo = this.#fifo;
    this.#fifo = undefined;
    if (fifo) {
      // What arrived but was not read yet: the socket's own buffer, then the pipe's.
      let rest = this.#line;
      const buf = Buffer.alloc(4096);
      for (;;) {
        const n = syscalls.readOrErrno(this.#fifoFd, buf);
        if (n <= 0) break;
        rest += buf.toString('utf8', 0, n);
      }
      fifo.destroy();
      for (const l of rest.split('\n')) {
        const pid = Number(l);
        if (Number.isInteger(pid) && pid > 0) {
          fs.rmSync(path.join(this.dir, `request.${pid}`), { force: true });
          this.#answer(pid, 'elsewhere');
        }
      }
    }
    fs.closeSync(this.lockFd);
    log.debug('no longer taking mounts');
  }
}
