// Mounts without root, as people who pick a FUSE overlay make them: a plain user (uid 65534) mounts
// through the setuid fusermount3 on both transports, and root inside a user namespace (unshare -Urm,
// the shape of rootless podman's mount_program) mounts with mount(2) over the wire transport. Each
// copies up, removes and renames lower entries, keeps the overlay's metadata in user.overlay.*
// (trusted.* is refused there, as the kernel's overlay requires userxattr), and unmounts with
// `layerfs umount`; a plain user's daemon killed with -9 leaves no mount behind.
//
// /dev/fuse must be usable by the user, as on a stock distribution (0666); it is 0600 on some CI
// machines, so the test makes it 0666 for its duration and puts the mode back after.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CLI, TRANSPORT, isMounted, waitFor } from '../helpers/cli';
import { run } from '../helpers/run';
import { scratch } from '../helpers/scratch';

const NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups'];
const fusermount3 = ['/usr/bin/fusermount3', '/bin/fusermount3'].find((p) => fs.existsSync(p));
let devMode: number;

beforeAll(() => {
  devMode = fs.statSync('/dev/fuse').mode & 0o777;
  fs.chmodSync('/dev/fuse', 0o666);
});
afterAll(() => fs.chmodSync('/dev/fuse', devMode));

/** A lower layer with a file, a directory and a file to remove; upper, work and mountpoint; all the user's. */
function layers() {
  const t = scratch();
  const dir = (n: string) => {
    const p = path.join(t.dir, n);
    fs.mkdirSync(p, { recursive: true });
    return p;
  };
  const lower = dir('lower');
  fs.writeFileSync(path.join(lower, 'f'), 'lower f\n');
  fs.mkdirSync(path.join(lower, 'd'));
  fs.writeFileSync(path.join(lower, 'd', 'x'), 'x\n');
  fs.writeFileSync(path.join(lower, 'gone'), 'g\n');
  const l = { lower, upper: dir('upper'), work: dir('work'), mnt: dir('mnt'), cleanup: t.cleanup };
  fs.chmodSync(t.dir, 0o755);
  for (const p of [
    t.dir,
    lower,
    path.join(lower, 'f'),
    path.join(lower, 'd'),
    path.join(lower, 'd', 'x'),
    path.join(lower, 'gone'),
    l.upper,
    l.work,
    l.mnt,
  ])
    fs.chownSync(p, 65534, 65534);
  return l;
}

const overlayArgs = (l: ReturnType<typeof layers>) => [
  CLI,
  'overlay',
  '--transport',
  TRANSPORT,
  '-o',
  `lowerdir=${l.lower},upperdir=${l.upper},workdir=${l.work}`,
  l.mnt,
];

/** What every mount is put through: copy-up, removal, directory rename; then the view. */
const WORKLOAD = `set -e
cd "$1"
echo appended >> f
rm gone
mv d d2
ls -a | tr '\\n' ' '; echo
cat f d2/x`;

const userxattrs = (p: string) => run('python3', ['-c', 'import os,sys; print(sorted(os.listxattr(sys.argv[1])))', p]);

(fusermount3 ? test : test.skip)(`a plain user mounts an overlay through fusermount3 (${TRANSPORT}), works in it, unmounts`, async () => {
  const l = layers();
  try {
    const m = await run('setpriv', [...NOBODY, 'env', 'HOME=/tmp', process.execPath, ...overlayArgs(l)]);
    expect(m.stderr).toBe('');
    expect(m.code).toBe(0);
    expect(m.stdout).toMatch(TRANSPORT === 'wire' ? /wire transport.*passthrough off: no CAP_SYS_ADMIN/ : /fuse-native transport/);
    const w = await run('setpriv', [...NOBODY, 'sh', '-c', WORKLOAD, 'sh', l.mnt]);
    expect(w.stderr).toBe('');
    expect(w.stdout).toBe('. .. d2 f \nlower f\nappended\nx\n');
    // Copied up as the user, the metadata in the user namespace of xattrs. With user xattrs the
    // directory moved by copy (rename answered EXDEV, as the kernel's overlay does there): no redirect.
    expect(fs.statSync(path.join(l.upper, 'f')).uid).toBe(65534);
    expect((await userxattrs(l.upper)).stdout).toMatch(/'user\.overlay\./);
    expect((await userxattrs(path.join(l.upper, 'd2'))).stdout).not.toMatch(/redirect/);
    // A directory its owner may read but not search (0600) lists, and an empty one it may not read
    // (mode 0, as Go's RemoveAll meets it) is removed, as in a plain directory: the daemon has no
    // CAP_DAC_READ_SEARCH to walk "." inside the one or to list the other.
    const listed = await run('setpriv', [
      ...NOBODY,
      fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3',
      '-c',
      'import os,sys; d=sys.argv[1]+"/p"; os.mkdir(d); open(d+"/x","w").close(); os.chmod(d,0o600); print(sorted(os.listdir(d)))\n' +
        'e=sys.argv[1]+"/e"; os.mkdir(e, 0); os.rmdir(e); print(os.path.exists(e))',
      l.mnt,
    ]);
    expect(listed.stderr).toBe('');
    expect(listed.stdout).toBe("['x']\nFalse\n");
    const u = await run('setpriv', [...NOBODY, process.execPath, CLI, 'umount', l.mnt]);
    expect(u.stderr).toBe('');
    expect(u.code).toBe(0);
    expect(isMounted(l.mnt)).toBe(false);
  } finally {
    if (isMounted(l.mnt)) await run('umount', ['-l', l.mnt]);
    l.cleanup();
  }
});

(fusermount3 ? test : test.skip)(`kill -9 of a plain user's daemon (${TRANSPORT}) leaves no mount behind`, async () => {
  const l = layers();
  try {
    const m = await run('setpriv', [...NOBODY, 'env', 'HOME=/tmp', process.execPath, ...overlayArgs(l)]);
    expect(m.code).toBe(0);
    const pid = Number(/daemon pid (\d+)/.exec(m.stdout)?.[1]);
    expect(isMounted(l.mnt)).toBe(true);
    process.kill(pid, 'SIGKILL');
    // fusermount's auto_unmount helper unmounts once the daemon's end of its socket closes: at once
    // here, alone or with both CPUs busy; in one CI run it took longer than 6 s.
    await waitFor(() => !isMounted(l.mnt), 'the dead mount to go', 20_000);
    // The mountpoint is an ordinary directory again: a new mount can be made there at once.
    const again = await run('setpriv', [...NOBODY, 'env', 'HOME=/tmp', process.execPath, ...overlayArgs(l)]);
    expect(again.code).toBe(0);
    // (Only its user may look inside: no allow_other.)
    expect((await run('setpriv', [...NOBODY, 'cat', path.join(l.mnt, 'f')])).stdout).toBe('lower f\n');
    expect((await run('setpriv', [...NOBODY, process.execPath, CLI, 'umount', l.mnt])).code).toBe(0);
  } finally {
    if (isMounted(l.mnt)) await run('umount', ['-l', l.mnt]);
    l.cleanup();
  }
});

// Root in a user namespace mounts FUSE itself (Linux 4.18); fuse-native would need fusermount there.
(TRANSPORT === 'wire' ? test : test.skip)(
  'root in a user namespace (unshare -Urm as uid 65534) mounts with mount(2), userxattr by default',
  async () => {
    const l = layers();
    try {
      const script = `set -e
"$NODE" "$CLI" overlay -o "lowerdir=$L,upperdir=$U,workdir=$W" "$M"
grep -c " $M fuse" /proc/self/mounts
sh -c '${WORKLOAD.replace(/'/g, `'"'"'`)}' sh "$M"
"$NODE" "$CLI" umount "$M"
grep -c " $M fuse" /proc/self/mounts || true
mount -t overlay overlay -o "userxattr,lowerdir=$L,upperdir=$U,workdir=$W" "$M"
echo "kernel: $(ls -a "$M" | tr '\n' ' ')$(cat "$M/d2/x")"
umount "$M"`;
      const r = await run('setpriv', [
        ...NOBODY,
        'env',
        `NODE=${process.execPath}`,
        `CLI=${CLI}`,
        `L=${l.lower}`,
        `U=${l.upper}`,
        `W=${l.work}`,
        `M=${l.mnt}`,
        'HOME=/tmp',
        'unshare',
        '-Urm',
        'sh',
        '-c',
        script,
      ]);
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(/wire transport.*passthrough off: no CAP_SYS_ADMIN in the initial user namespace/);
      expect(r.stdout).toContain('\n1\n. .. d2 f \nlower f\nappended\nx\n0\n');
      // userxattr forces redirect_dir=nofollow, as in the kernel (user.* redirects are anyone's to
      // write): the rename copied, and the kernel's own unprivileged overlay reads the layer as it was
      // left (a user.overlay.redirect there would have answered EPERM).
      expect((await userxattrs(path.join(l.upper, 'd2'))).stdout).not.toMatch(/redirect/);
      expect(r.stdout).toContain('kernel: . .. d2 f x\n');
      // The namespace maps its root to uid 65534: what it copied up belongs to that user outside.
      expect(fs.statSync(path.join(l.upper, 'f')).uid).toBe(65534);
    } finally {
      l.cleanup();
    }
  },
);
