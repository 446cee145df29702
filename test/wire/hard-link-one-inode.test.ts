// Passthrough: a hard-linked file is one node (one kernel inode), as in passthrough_hp: a write
// through one name is seen at once through a mapping made through the other, and both names report
// the same link count and attributes without waiting for attr_timeout.
import { Mounted, mountPassthrough } from '../helpers/cli';
import { sourceAndMountpoint } from '../helpers/scratch';
import { py } from '../helpers/run';

const SCRIPT = `
import os, sys, mmap, json
os.chdir(sys.argv[1])
with open('a', 'wb') as f: f.write(b'x' * 4096)
os.link('a', 'b')
fa = os.open('a', os.O_RDWR)
m = mmap.mmap(fa, 4096)
fb = os.open('b', os.O_RDWR)
os.pwrite(fb, b'through b', 0)
seen = m[:9].decode()
m.close(); os.close(fa); os.close(fb)
os.link('a', 'c')
print(json.dumps({'seen': seen, 'nlink': [os.stat(n).st_nlink for n in 'abc'],
  'same_ino': os.stat('a').st_ino == os.stat('b').st_ino}))
`;

test('hard links are one inode: mmap through one name sees a write through the other; nlink agrees at once', async () => {
  const t = sourceAndMountpoint();
  let m: Mounted | undefined;
  try {
    m = await mountPassthrough(t.src, t.mnt, ['attr_timeout=60']);
    expect(JSON.parse(await py(SCRIPT, t.mnt))).toEqual({ seen: 'through b', nlink: [3, 3, 3], same_ino: true });
  } finally {
    await m?.unmount();
    t.cleanup();
  }
});
