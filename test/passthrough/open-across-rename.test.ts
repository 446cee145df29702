// An open file or directory is its file, not its name: renamed, replaced or unlinked after the open,
// it keeps reading, listing, stat-ing and changing what was opened (fstat, ftruncate, fchmod,
// fsetxattr/fgetxattr — the last also once it has no name at all). (With the daemon serving data —
// fuse-native, or the wire transport with passthrough=off — a handle that stored its path read the
// new file after a rename.)
import * as path from 'node:path';
import { Mounted, TRANSPORT, mountPassthrough } from '../helpers/cli';
import { sourceAndMountpoint } from '../helpers/scratch';
import { py } from '../helpers/run';

const SCRIPT = `
import os, sys, json
m = sys.argv[1]
out = {}
os.chdir(m)
with open('A', 'w') as f: f.write('old contents')
fd = os.open('A', os.O_RDWR)
os.rename('A', 'B')
with open('A', 'w') as f: f.write('NEW')
out['pread'] = os.pread(fd, 100, 0).decode()
out['fstat_size'] = os.fstat(fd).st_size
os.ftruncate(fd, 3)
out['B_after_ftruncate'] = open('B').read()
os.fchmod(fd, 0o640)
out['B_mode'] = oct(os.stat('B').st_mode & 0o777)
out['A_mode_unchanged'] = oct(os.stat('A').st_mode & 0o777) != '0o640'
os.setxattr(fd, 'user.tag', b'renamed')
out['xattr_via_B'] = os.getxattr('B', 'user.tag').decode()
os.unlink('B')
out['fstat_after_unlink'] = [os.fstat(fd).st_size, os.fstat(fd).st_nlink]
os.setxattr(fd, 'user.tag', b'unlinked')
out['xattr_after_unlink'] = os.getxattr(fd, 'user.tag').decode()
out['pread_after_unlink'] = os.pread(fd, 100, 0).decode()
os.close(fd)
os.mkdir('D'); open('D/inside', 'w').close()
d = os.open('D', os.O_RDONLY | os.O_DIRECTORY)
os.rename('D', 'D2'); os.mkdir('D'); open('D/zz', 'w').close()
out['listdir_old_fd'] = sorted(os.listdir(d))
out['fstat_dir_is_D2'] = os.fstat(d).st_ino == os.stat('D2').st_ino
os.close(d)
print(json.dumps(out))
`;

async function check(opts: string[]) {
  const t = sourceAndMountpoint();
  let m: Mounted | undefined;
  try {
    m = await mountPassthrough(t.src, t.mnt, opts);
    const out = JSON.parse(await py(SCRIPT, t.mnt));
    expect(out).toEqual({
      pread: 'old contents',
      fstat_size: 12,
      B_after_ftruncate: 'old',
      B_mode: '0o640',
      A_mode_unchanged: true,
      xattr_via_B: 'renamed',
      fstat_after_unlink: [3, 0],
      xattr_after_unlink: 'unlinked',
      pread_after_unlink: 'old',
      listdir_old_fd: ['inside'],
      fstat_dir_is_D2: true,
    });
    expect(path.isAbsolute(t.mnt)).toBe(true);
  } finally {
    await m?.unmount();
    t.cleanup();
  }
}

test('an open file and an open directory keep their file across rename, replace and unlink (daemon-served data)', async () => {
  await check(TRANSPORT === 'wire' ? ['passthrough=off'] : []);
});

test("the same with the transport's default data path", async () => {
  await check([]);
});
