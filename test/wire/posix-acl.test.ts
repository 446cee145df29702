// POSIX ACLs on the wire transport (FUSE_POSIX_ACL + FUSE_DONT_MASK): the kernel's permission checks
// honour access ACLs, a directory's default ACL is handed down to new entries instead of the umask,
// and chmod updates the ACL's mask — each compared against the same steps on the plain source
// filesystem, for both filesystems. (fuse-native's libfuse 2 cannot ask for POSIX_ACL: there the
// kernel checks mode bits only.)
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Mounted, mountOverlay, mountPassthrough } from '../helpers/cli';
import { overlayLayers, scratch, sourceAndMountpoint } from '../helpers/scratch';
import { py } from '../helpers/run';

// Prints one line per observation; the same script runs natively and through the mount.
const STEPS = String.raw`
import os, struct, subprocess, sys
def acl(entries):
    return struct.pack('<I', 2) + b''.join(struct.pack('<HHI', t, p, i) for t, p, i in entries)
U_OBJ, USER, G_OBJ, MASK, OTHER, N = 1, 2, 4, 0x10, 0x20, 0xffffffff
root = sys.argv[1]
def as_nobody(cmd):
    r = subprocess.run(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', 'sh', '-c', cmd, 'sh', root], stderr=subprocess.DEVNULL)
    return 'allowed' if r.returncode == 0 else 'denied'
def acl_of(p, name='system.posix_acl_access'):
    try: return os.getxattr(p, name).hex()
    except OSError as e: return os.strerror(e.errno)
f = os.path.join(root, 'granted')
with open(f, 'w') as h: h.write('x')
os.chmod(f, 0o600)
print('write, mode 600, no acl:', as_nobody('echo y >> "$1/granted"'))
os.setxattr(f, 'system.posix_acl_access', acl([(U_OBJ, 6, N), (USER, 6, 65534), (G_OBJ, 0, N), (MASK, 6, N), (OTHER, 0, N)]))
print('mode with acl:', oct(os.stat(f).st_mode))
print('write, acl grants uid 65534:', as_nobody('echo y >> "$1/granted"'))
os.chmod(f, 0o600)
print('after chmod 600:', oct(os.stat(f).st_mode), acl_of(f))
print('write, mask now empty:', as_nobody('echo y >> "$1/granted"'))
d = os.path.join(root, 'inherits')
os.mkdir(d, 0o755)
os.setxattr(d, 'system.posix_acl_default', acl([(U_OBJ, 7, N), (USER, 7, 65534), (G_OBJ, 5, N), (MASK, 7, N), (OTHER, 0, N)]))
os.umask(0o022)
os.close(os.open(os.path.join(d, 'file'), os.O_CREAT | os.O_WRONLY, 0o666))
os.mkdir(os.path.join(d, 'dir'), 0o777)
os.mknod(os.path.join(d, 'fifo'), 0o10666)
for n in ['file', 'dir', 'fifo']:
    p = os.path.join(d, n)
    print('inherited', n, oct(os.stat(p).st_mode), acl_of(p), acl_of(p, 'system.posix_acl_default') if n == 'dir' else '')
print('write into the inherited dir:', as_nobody('echo y > "$1/inherits/dir/new"'))
os.close(os.open(os.path.join(root, 'plain'), os.O_CREAT | os.O_WRONLY, 0o666))
os.mkdir(os.path.join(root, 'plaindir'), 0o777)
print('umask 022 without a default acl:', oct(os.stat(os.path.join(root, 'plain')).st_mode), oct(os.stat(os.path.join(root, 'plaindir')).st_mode), acl_of(os.path.join(root, 'plain')))
`;

async function expected(): Promise<string> {
  const s = scratch();
  try {
    fs.chmodSync(s.dir, 0o755);
    return await py(STEPS, s.dir);
  } finally {
    s.cleanup();
  }
}

/** Mount, run the steps through the mount, and compare with the same steps run natively. */
async function throughMount(mount: () => Promise<Mounted>, mnt: string, cleanup: () => void): Promise<string> {
  let m: Mounted | undefined;
  try {
    m = await mount();
    const seen = await py(STEPS, mnt);
    expect(seen).toEqual(await expected());
    return seen;
  } finally {
    await m?.unmount();
    cleanup();
  }
}

test('passthrough: ACLs grant, inherit and follow chmod as on the source filesystem', async () => {
  const t = sourceAndMountpoint();
  // The scratch dir is private (mkdtemp: 0700); uid 65534 must be able to reach the mount.
  fs.chmodSync(path.dirname(t.mnt), 0o755);
  fs.chmodSync(t.src, 0o755);
  const seen = await throughMount(() => mountPassthrough(t.src, t.mnt), t.mnt, t.cleanup);
  expect(seen).toContain('write, acl grants uid 65534: allowed');
});

test('overlay: ACLs grant, inherit and follow chmod as on the upper filesystem', async () => {
  const t = overlayLayers([{}]);
  fs.chmodSync(t.dir, 0o755);
  fs.chmodSync(t.lower[0]!, 0o755);
  const seen = await throughMount(() => mountOverlay(t.mnt, t), t.mnt, t.cleanup);
  expect(seen).toContain('inherited file 0o100660');
});
