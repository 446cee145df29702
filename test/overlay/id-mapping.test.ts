// fuse-overlayfs's owner options on layerfs-overlay (its argument shape, as containers/storage runs a
// mount_program): the man page's uidmapping example — files 0:0 and 1:1 on disk, mounted with
// uidmapping=0:1000:1:1:110000:65536 — shows them as 1000 and 110000 to the initial namespace and
// as 0:0 and 1:1 inside a user namespace mapped the same way; chown through the mount stores the
// id mapped back, and an id outside the mapping is EINVAL. squash_to_root / squash_to_uid show
// every entry with one owner; static_nlink shows directories with nlink 1.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TRANSPORT, isMounted, mountWith } from '../helpers/cli';
import { run } from '../helpers/run';
import { overlayLayers } from '../helpers/scratch';

const OVERLAY = path.resolve(__dirname, '..', '..', 'bin', 'layerfs-overlay');
const MAP = '0:1000:1:1:110000:65536';

function layers() {
  const t = overlayLayers([{ a: 'a', b: 'b', 'd/x': 'x' }]);
  fs.chownSync(path.join(t.lower[0]!, 'a'), 0, 0);
  fs.chownSync(path.join(t.lower[0]!, 'b'), 1, 1);
  return t;
}

/** layerfs-overlay -o lowerdir=…,upperdir=…,workdir=…,,volatile,EXTRA MNT — the empty item as containers/storage writes it. */
async function mountLikeStorage(t: ReturnType<typeof layers>, extra: string) {
  // The transport rides on the environment: layerfs-overlay takes fuse-overlayfs's arguments only.
  const r = await run('env', [
    `LAYERFS_TRANSPORT=${TRANSPORT}`,
    OVERLAY,
    '-o',
    `lowerdir=${t.lower[0]},upperdir=${t.upper},workdir=${t.work},,volatile,${extra}`,
    t.mnt,
  ]);
  if (r.code !== 0) throw new Error(`layerfs-overlay failed: ${r.stderr}`);
  return Number(/daemon pid (\d+)/.exec(r.stdout)?.[1]);
}

/** stat as seen from a user namespace whose uid/gid maps are 0→1000 (1) and 1→110000 (65536). */
const IN_USERNS = `set -e
unshare --user sh -c 'read _ <&3; stat -c %u:%g "$0" "$1"' "$1" "$2" 3<>"$3" &
pid=$!
while [ "$(readlink /proc/$pid/ns/user)" = "$(readlink /proc/self/ns/user)" ]; do sleep 0.01; done
# A map must arrive in one write(2): dd, not the shell's line-buffered printf.
printf '0 1000 1\\n1 110000 65536\\n' | dd of=/proc/$pid/uid_map bs=4096 status=none
echo deny > /proc/$pid/setgroups
printf '0 1000 1\\n1 110000 65536\\n' | dd of=/proc/$pid/gid_map bs=4096 status=none
echo go > "$3"
wait $pid`;

test('uidmapping/gidmapping: the fuse-overlayfs man page example, and chown maps back', async () => {
  const t = layers();
  try {
    await mountLikeStorage(t, `uidmapping=${MAP},gidmapping=${MAP}`);
    const st = (n: string) => fs.statSync(path.join(t.mnt, n));
    expect([st('a').uid, st('a').gid, st('b').uid, st('b').gid]).toEqual([1000, 1000, 110000, 110000]);
    const fifo = path.join(t.dir, 'go');
    expect((await run('mkfifo', [fifo])).code).toBe(0);
    const inside = await run('bash', ['-c', IN_USERNS, 'sh', path.join(t.mnt, 'a'), path.join(t.mnt, 'b'), fifo]);
    expect(inside.stderr).toBe('');
    expect(inside.stdout).toBe('0:0\n1:1\n');
    fs.chownSync(path.join(t.mnt, 'a'), 110005, 110006);
    expect([st('a').uid, st('a').gid]).toEqual([110005, 110006]);
    const onDisk = fs.statSync(path.join(t.upper!, 'a'));
    expect([onDisk.uid, onDisk.gid]).toEqual([6, 7]);
    expect(() => fs.chownSync(path.join(t.mnt, 'b'), 5, 5)).toThrow(/EINVAL/);
  } finally {
    if (isMounted(t.mnt)) await run(process.execPath, [path.join(path.dirname(OVERLAY), 'layerfs'), 'umount', t.mnt]);
    t.cleanup();
  }
});

test('squash_to_root, squash_to_uid/gid and static_nlink', async () => {
  const t = layers();
  try {
    const m = await mountWith(
      [
        'overlay',
        '--transport',
        TRANSPORT,
        '-o',
        `lowerdir=${t.lower[0]},upperdir=${t.upper},workdir=${t.work},squash_to_root,static_nlink`,
        t.mnt,
      ],
      t.mnt,
    );
    const st = (n: string) => fs.statSync(path.join(t.mnt, n));
    expect([st('b').uid, st('b').gid, st('a').uid]).toEqual([0, 0, 0]);
    fs.mkdirSync(path.join(t.mnt, 'd', 'sub'));
    expect(st('d').nlink).toBe(1);
    await m.unmount();
    const m2 = await mountWith(
      [
        'overlay',
        '--transport',
        TRANSPORT,
        '-o',
        `lowerdir=${t.lower[0]},upperdir=${t.upper},workdir=${t.work},squash_to_root,squash_to_uid=7`,
        t.mnt,
      ],
      t.mnt,
    );
    expect([st('a').uid, st('a').gid, st('b').uid, st('b').gid]).toEqual([7, 0, 7, 0]);
    await m2.unmount();
  } finally {
    t.cleanup();
  }
});
