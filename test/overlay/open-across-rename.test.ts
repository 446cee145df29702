// An open overlay file is its file, not its name: a lower file opened read-only, then renamed (which
// copies it up) and replaced by a new file of its old name, keeps reading its own bytes — also when
// the daemon serves the data (fuse-native, or wire with passthrough=off), where a handle that followed
// its old name read the new file. An open directory, renamed and replaced, keeps listing its own.
// fchmod, fsetxattr, ftruncate and fstat act on the handle's file after a rename, a replacement of
// its name, and an unlink.
import { Mounted, TRANSPORT, mountOverlay } from '../helpers/cli';
import { overlayLayers } from '../helpers/scratch';
import { py } from '../helpers/run';

const SCRIPT = `
import os, sys, json
os.chdir(sys.argv[1])
out = {}
fd = os.open('L', os.O_RDONLY)
os.rename('L', 'M')
with open('L', 'w') as f: f.write('NEW')
out['pread'] = os.pread(fd, 100, 0).decode()
out['fstat_size'] = os.fstat(fd).st_size
os.close(fd)
d = os.open('D', os.O_RDONLY | os.O_DIRECTORY)
os.rename('D', 'D2'); os.mkdir('D'); open('D/zz', 'w').close()
out['listdir_old_fd'] = sorted(os.listdir(d))
os.close(d)
# A lower file opened for writing (copied up at open), renamed, and its name taken by another file:
# fchmod, fsetxattr and ftruncate through the handle change the renamed file, never the new one.
fd = os.open('W', os.O_RDWR)
os.rename('W', 'W2')
with open('W', 'w') as f: f.write('other')
os.fchmod(fd, 0o600); os.setxattr(fd, 'user.k', b'v'); os.ftruncate(fd, 3)
os.close(fd)
out['renamed'] = [oct(os.stat('W2').st_mode & 0o777), os.getxattr('W2', 'user.k').decode(), os.stat('W2').st_size, open('W').read(), oct(os.stat('W').st_mode & 0o777)]
# The same through a handle whose name is gone altogether.
fd = os.open('W2', os.O_RDWR)
os.unlink('W2')
os.fchmod(fd, 0o640); os.setxattr(fd, 'user.k2', b'v2'); os.ftruncate(fd, 1)
st = os.fstat(fd)
out['unlinked'] = [oct(st.st_mode & 0o777), st.st_size, os.getxattr(fd, 'user.k2').decode(), sorted(os.listxattr(fd))]
os.close(fd)
print(json.dumps(out))
`;

test('a lower file opened before a rename reads its own bytes; an open directory lists its own entries', async () => {
  const t = overlayLayers([{ L: 'lower contents', 'D/inside': 'i', W: 'lower W' }]);
  let m: Mounted | undefined;
  try {
    m = await mountOverlay(t.mnt, t, TRANSPORT === 'wire' ? ['passthrough=off'] : []);
    expect(JSON.parse(await py(SCRIPT, t.mnt))).toEqual({
      pread: 'lower contents',
      fstat_size: 14,
      listdir_old_fd: ['inside'],
      renamed: ['0o600', 'v', 3, 'other', '0o644'],
      unlinked: ['0o640', 1, 'v2', ['user.k', 'user.k2']],
    });
  } finally {
    await m?.unmount();
    t.cleanup();
  }
});
