// An open overlay file is its file, not its name: a lower file opened read-only, then renamed (which
// copies it up) and replaced by a new file of its old name, keeps reading its own bytes — also when
// the daemon serves the data (fuse-native, or wire with passthrough=off), where a handle that followed
// its old name read the new file. An open directory, renamed and replaced, keeps listing its own.
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
print(json.dumps(out))
`;

test('a lower file opened before a rename reads its own bytes; an open directory lists its own entries', async () => {
  const t = overlayLayers([{ L: 'lower contents', 'D/inside': 'i' }]);
  let m: Mounted | undefined;
  try {
    m = await mountOverlay(t.mnt, t, TRANSPORT === 'wire' ? ['passthrough=off'] : []);
    expect(JSON.parse(await py(SCRIPT, t.mnt))).toEqual({ pread: 'lower contents', fstat_size: 14, listdir_old_fd: ['inside'] });
  } finally {
    await m?.unmount();
    t.cleanup();
  }
});
