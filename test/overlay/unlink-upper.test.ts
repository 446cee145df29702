// Unlinking an upper file with data moves it into the work directory and frees its blocks there
// after the reply (retire.ts): through the mount, the name must be gone at once, a handle still open
// must keep its bytes, the other names of a hard-linked file must lose a link before unlink returns,
// a lower file's name must be whited out — and the work directory must end up empty.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Mounted, TRANSPORT, mountOverlay, waitFor } from '../helpers/cli';
import { overlayLayers } from '../helpers/scratch';
import { py } from '../helpers/run';

const SCRIPT = `
import os, sys, json
os.chdir(sys.argv[1])
data = os.urandom(256 * 1024)
def make(name):
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    os.write(fd, data); os.fsync(fd); os.close(fd)
out = {}
make('gone'); os.unlink('gone')
out['gone'] = [os.path.exists('gone'), 'gone' in os.listdir('.')]
make('held'); fd = os.open('held', os.O_RDONLY); os.unlink('held')
out['held'] = [os.pread(fd, len(data), 0) == data, os.fstat(fd).st_nlink, os.path.exists('held')]
os.close(fd)
make('a'); os.link('a', 'b'); os.unlink('a')
# The upper file's other name lost its link before unlink returned (the host's count: fuse-native's
# kernel keeps a node, and cached attributes, per name).
out['link'] = [os.stat(os.path.join(sys.argv[2], 'b')).st_nlink, open('b', 'rb').read() == data]
out['link_seen'] = os.stat('b').st_nlink
with open('L', 'ab') as f: f.write(data); f.flush(); os.fsync(f.fileno())
os.unlink('L')
out['lower'] = [os.path.exists('L'), 'L' in os.listdir('.')]
make('gone')
out['again'] = open('gone', 'rb').read() == data
print(json.dumps(out))
`;

test('an unlinked upper file is gone at once, keeps its open handles, and leaves nothing in workdir', async () => {
  const t = overlayLayers([{ L: 'lower' }]);
  let m: Mounted | undefined;
  try {
    m = await mountOverlay(t.mnt, t);
    const out = JSON.parse(await py(SCRIPT, t.mnt, t.upper!));
    expect(out).toEqual({
      gone: [false, false],
      held: [true, 0, false],
      link: [1, true],
      link_seen: TRANSPORT === 'wire' ? 1 : expect.any(Number),
      lower: [false, false],
      again: true,
    });
    // In the upper layer: the whiteout of L, the new 'gone' and 'b'; nothing of the unlinked files.
    expect(fs.readdirSync(t.upper!).sort()).toEqual(['L', 'b', 'gone']);
    expect(fs.lstatSync(path.join(t.upper!, 'L')).isCharacterDevice()).toBe(true);
    const work = path.join(t.work!, 'work');
    await waitFor(() => fs.readdirSync(work).length === 0, 'the work directory to be emptied');
  } finally {
    await m?.unmount();
    t.cleanup();
  }
});

// The kernel keeps a written file's times itself (writeback cache: every daemon-served mount) and
// flushes them with a SETATTR as it lets go of the inode — for a file just unlinked, after the name
// went. That SETATTR found no file and failed ENOENT, which the kernel keeps for the next syncfs(2)
// of the mount (stress-ng's io stressor after its hdd stressor). It acts on the file the node pins.
const SYNCFS_AFTER_UNLINK = `
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
d = sys.argv[1]
for i in range(10):
    p = f"{d}/t{i}"
    fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o644)
    os.write(fd, b"x" * 8192); os.ftruncate(fd, 4096); os.close(fd)
    fd = os.open(p, os.O_RDONLY); os.close(fd)
    os.unlink(p)
dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
r = libc.syncfs(dfd)
print(os.strerror(ctypes.get_errno()) if r else "ok")
`;

test('syncfs after files written and unlinked answers success', async () => {
  const t = overlayLayers([{}]);
  let m: Mounted | undefined;
  try {
    m = await mountOverlay(t.mnt, t, TRANSPORT === 'wire' ? ['passthrough=off'] : []);
    expect(await py(SYNCFS_AFTER_UNLINK, t.mnt)).toBe('ok');
  } finally {
    await m?.unmount();
    t.cleanup();
  }
});

// open("/proc/self/fd/N") of a file unlinked while open reaches the kernel as an OPEN of its node,
// which has no name and no pin (a handle was open at the unlink): the handle's file is reopened.
const REOPEN_UNLINKED = `
import json, os, sys
p = os.path.join(sys.argv[1], "f")
fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o644); os.write(fd, b"hello"); os.unlink(p)
fd2 = os.open(f"/proc/self/fd/{fd}", os.O_RDWR)
os.pwrite(fd2, b"J", 0)
print(json.dumps([os.pread(fd, 5, 0).decode(), os.fstat(fd2).st_nlink]))
`;

test('a file unlinked while open opens again through /proc/self/fd', async () => {
  const t = overlayLayers([{}]);
  let m: Mounted | undefined;
  try {
    m = await mountOverlay(t.mnt, t, TRANSPORT === 'wire' ? ['passthrough=off'] : []);
    expect(JSON.parse(await py(REOPEN_UNLINKED, t.mnt))).toEqual(['Jello', 0]);
  } finally {
    await m?.unmount();
    t.cleanup();
  }
});
