// A name made for a file while a writer has it open through another name (a hard link; O_TMPFILE's
// linkat is in tmpfile.test.ts): the overlay gives each name its own node, and writes passed through
// to the host after the link never reach the new name's node. Once the writer closes, a read through
// the new name — served by the daemon for a small file, so bounded by the size the kernel holds —
// must return every byte, even with attributes trusted for a minute.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Mounted, mountOverlay, mountPassthrough } from '../helpers/cli';
import { overlayLayers, sourceAndMountpoint } from '../helpers/scratch';
import { py } from '../helpers/run';

const SCRIPT = `
import os, sys
os.chdir(sys.argv[1])
fd = os.open('a', os.O_WRONLY | os.O_CREAT, 0o644)
os.write(fd, b'before the link\\n')
os.link('a', 'b')
print(os.stat('b').st_size)
os.write(fd, b'after the link\\n')
os.close(fd)
with open('b', 'rb') as f: print(f.read().decode(), end='')
print(os.stat('b').st_size)
`;
const EXPECTED = '16\nbefore the link\nafter the link\n31';

test('overlay: a hard link made while its file is open for writing reads every byte once the writer closes', async () => {
  const t = overlayLayers([{}]);
  let m: Mounted | undefined;
  try {
    m = await mountOverlay(t.mnt, t, ['attr_timeout=60', 'entry_timeout=60']);
    expect(await py(SCRIPT, t.mnt)).toBe(EXPECTED);
    expect(fs.readFileSync(path.join(t.upper!, 'b'), 'utf8')).toBe('before the link\nafter the link\n');
  } finally {
    await m?.unmount();
    t.cleanup();
  }
});

test('passthrough: the same, through one node per file', async () => {
  const t = sourceAndMountpoint();
  let m: Mounted | undefined;
  try {
    m = await mountPassthrough(t.src, t.mnt, ['attr_timeout=60', 'entry_timeout=60']);
    expect(await py(SCRIPT, t.mnt)).toBe(EXPECTED);
  } finally {
    await m?.unmount();
    t.cleanup();
  }
});
