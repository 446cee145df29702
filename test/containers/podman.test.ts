// layerfs as containers/storage's mount_program, the job fuse-overlayfs does for podman and buildah:
// `podman build` of a Containerfile that copies a tree in, copies lower files up, deletes lower
// files, moves a lower directory away and back and a lower file away and back, then `podman run` of
// the result listing every file with its mode, owner and checksum. Rootful, the listing equals the
// same build on the kernel's overlay; rootless (a user with subuids, /dev/fuse usable as on a stock
// distribution), it equals the same build with fuse-overlayfs as the mount program.
//
// The image is built from busybox-static in the test: nothing is pulled from a registry. Needs
// podman, runc, uidmap and busybox-static (CI installs them); without them the test is skipped.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { syscalls } from '@layerfs/backing-io';
import { TRANSPORT } from '../helpers/cli';
import { run } from '../helpers/run';
import { scratch } from '../helpers/scratch';
import { busyboxBuild, ensureSubuidUser, stopPauseProcesses } from '../helpers/podman-fixture';

const OVERLAY_PROGRAM = path.resolve(__dirname, '..', '..', 'bin', 'layerfs-overlay');
const has = (bin: string) => ['/usr/bin', '/bin', '/usr/sbin'].some((d) => fs.existsSync(path.join(d, bin)));
const BUSYBOX = '/bin/busybox';
const ready = has('podman') && has('newuidmap') && installed('busybox-static');
// One transport is enough: layerfs-overlay picks its own (the wire transport wherever it can mount).
const maybe = ready && TRANSPORT === 'wire' ? test : test.skip;

const USER = 'layerfs-podman';
const LIST = `cd /; for f in $(find /tree /new /bin/cat | sort); do
  if [ -L $f ]; then echo "$f -> $(readlink $f)";
  elif [ -d $f ]; then echo "$f dir $(stat -c %a:%u:%g $f)";
  else echo "$f $(stat -c %a:%u:%g $f) $(md5sum < $f | cut -c1-8)"; fi; done`;
// This CI machine's root lacks CAP_SYS_RESOURCE: podman's default rlimits (nofile 1048576) cannot be set.
const ULIMITS = ['--ulimit', 'nofile=4096:4096', '--ulimit', 'nproc=4096:4096'];

let s: ReturnType<typeof scratch>;
let ctx: string;
let rootfsTar: string;

beforeAll(() => {
  if (!ready) return;
  s = scratch();
  fs.chmodSync(s.dir, 0o755);
  ({ tar: rootfsTar, ctx } = busyboxBuild(s.dir, BUSYBOX));
});

afterAll(async () => {
  if (!ready) return;
  stopPauseProcesses(USER);
  // Containers are --rm; layers may still be mounted by the storage of a failed step.
  for (const line of fs.readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
    const mnt = line.split(' ')[1];
    if (mnt?.startsWith(s.dir)) await run('umount', ['-l', mnt]);
  }
  s.cleanup();
});

/** import, build, run: the listing of the built image, with podman's `args` (storage) first. */
async function buildAndList(args: string[], asUser?: string): Promise<string> {
  const podman = async (...a: string[]) => {
    const argv = ['podman', ...args, ...a];
    const r = asUser
      ? await run(
          'runuser',
          ['-u', asUser, '--', 'env', `HOME=${path.join(s.dir, 'home')}`, `XDG_RUNTIME_DIR=${path.join(s.dir, 'xdg')}`, ...argv],
          {
            timeoutMs: 180000,
          },
        )
      : await run(argv[0]!, argv.slice(1), { timeoutMs: 180000 });
    if (r.code !== 0) throw new Error(`${argv.join(' ')} failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  };
  await podman('import', rootfsTar, 'localhost/layerfs-bb');
  await podman('build', '--network', 'none', '-t', 'localhost/layerfs-test', ctx);
  return podman('run', '--rm', ...ULIMITS, '--network', 'none', 'localhost/layerfs-test', 'sh', '-c', LIST);
}

function storage(name: string, owner?: number): string[] {
  const root = path.join(s.dir, name);
  fs.mkdirSync(path.join(root, 'graph'), { recursive: true });
  fs.mkdirSync(path.join(root, 'run'), { recursive: true });
  if (owner !== undefined) execFileSync('chown', ['-R', `${owner}:${owner}`, root]);
  return ['--root', path.join(root, 'graph'), '--runroot', path.join(root, 'run'), '--storage-driver', 'overlay'];
}

maybe(
  'rootful podman build and run with layerfs-overlay as mount_program equal the kernel overlay',
  async () => {
    const kernel = await buildAndList(storage('kernel'));
    const layerfs = await buildAndList([...storage('layerfs'), '--storage-opt', `overlay.mount_program=${OVERLAY_PROGRAM}`]);
    expect(kernel.split('\n').length).toBeGreaterThan(200);
    expect(layerfs).toContain('/tree/d/sub/s 644:0:0');
    expect(layerfs).toContain('/tree/f3 600:0:0');
    expect(layerfs).not.toContain('/tree/f2 ');
    expect(layerfs).toBe(kernel);
  },
  300000,
);

maybe(
  'rootless podman (a user with subuids) with layerfs-overlay as mount_program equals fuse-overlayfs',
  async () => {
    const reference = has('fuse-overlayfs')
      ? await rootless('rl-fuse-overlayfs', ['--storage-opt', 'overlay.mount_program=/usr/bin/fuse-overlayfs'])
      : undefined;
    const layerfs = await rootless('rl-layerfs', ['--storage-opt', `overlay.mount_program=${OVERLAY_PROGRAM}`]);
    expect(layerfs).toContain('/tree/d/sub/s 644:0:0');
    expect(layerfs).not.toContain('/tree/f2 ');
    if (reference !== undefined) expect(layerfs).toBe(reference);
  },
  300000,
);

// storage.conf's force_mask (set by containers/storage itself for a rootless user's storage on NFS):
// the layers' inodes get the mask and the daemon's user, the true owners and modes go into
// user.containers.override_stat, and the mount program is passed xattr_permissions=2. The mask must
// not show: the image lists as the same build without it does. (fuse-overlayfs 1.10 does not pass
// this: it loses a RUN step's chmod and shows new files 755 whatever the umask.)
maybe(
  'rootless podman with force_mask (xattr_permissions=2) shows what the same build without it shows',
  async () => {
    const program = ['--storage-opt', `overlay.mount_program=${OVERLAY_PROGRAM}`];
    const plain = await rootless('fm-plain', program);
    const masked = await rootless('fm-masked', ['--storage-opt', 'overlay.force_mask=0700', ...program]);
    const layers = path.join(s.dir, 'fm-masked', 'graph', 'overlay');
    const kept = fs.readdirSync(layers).filter((l) => {
      try {
        return syscalls.lgetxattr(path.join(layers, l, 'diff'), 'user.containers.override_stat').length > 0;
      } catch {
        return false;
      }
    });
    expect(kept.length).toBeGreaterThan(0); // the mask was in force
    expect(masked).toContain('/tree/f3 600:0:0');
    expect(masked).toBe(plain);
  },
  300000,
);

/** buildAndList as the subuid user, /dev/fuse usable by it for the run (as on a stock distribution). */
async function rootless(name: string, opts: string[]): Promise<string> {
  const uid = ensureSubuidUser(USER);
  for (const d of ['home', 'xdg']) {
    fs.mkdirSync(path.join(s.dir, d), { recursive: true, mode: 0o700 });
    fs.chownSync(path.join(s.dir, d), uid, uid);
  }
  const devMode = fs.statSync('/dev/fuse').mode & 0o777;
  fs.chmodSync('/dev/fuse', 0o666);
  try {
    return await buildAndList([...storage(name, uid), ...opts], USER);
  } finally {
    fs.chmodSync('/dev/fuse', devMode);
  }
}

function installed(pkg: string): boolean {
  try {
    return execFileSync('dpkg-query', ['-W', '-f=${Status}', pkg]).toString().includes('install ok installed');
  } catch {
    return false;
  }
}
