// fsync of directories through the overlay reaches the daemon, which syncs the upper directory (as
// the kernel's ovl_dir_fsync): an ENOSYS answer would make the kernel stop asking and report every
// later directory fsync as done — a database's journal deletion then never made durable. With
// `volatile` every sync is answered at once (the kernel's volatile omits them all), and still
// answered, never refused.
//
// Served by this test process (the wire transport's counters live in it): every touch of the mount
// goes through a child process.
import { mountOverlay, OverlayMount } from '@layerfs/overlay';
import { overlayLayers } from '../helpers/scratch';
import { py } from '../helpers/run';
import { restoreUmaskAfterAll, session } from '../helpers/in-process';

restoreUmaskAfterAll();

const SYNCS = `
import os, sys
os.chdir(sys.argv[1])
os.mkdir('d')
fd = os.open('d/f', os.O_WRONLY | os.O_CREAT, 0o644); os.write(fd, b'x'); os.fsync(fd); os.fdatasync(fd); os.close(fd)
for d in ('d', 'lower-dir', '.'):
    for i in range(2):
        dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY); os.fsync(dfd); os.close(dfd)
os.unlink('d/f'); os.rmdir('d')
print('ok')
`;

for (const volatile of [false, true]) {
  test(`directory fsyncs are answered by the daemon, every time${volatile ? ' (volatile: at once)' : ''}`, async () => {
    const t = overlayLayers([{ 'lower-dir/a': 'a' }]);
    let m: OverlayMount | undefined;
    try {
      m = await mountOverlay({ lower: t.lower, upper: t.upper, work: t.work, mountpoint: t.mnt, transport: 'wire', volatile });
      const counts = session(t.mnt).counts;
      expect((await py(SYNCS, t.mnt)).trim()).toBe('ok');
      // Three directories (an upper one, a lower-only one, the merged root), two fsyncs each.
      expect(counts.get('FSYNCDIR')).toBe(6);
      expect(counts.get('FSYNC')).toBe(2);
    } finally {
      await m?.unmount();
      t.cleanup();
    }
  });
}
