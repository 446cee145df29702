// Entries created through a mount belong to the caller, as on a local filesystem and as the kernel's
// overlay does — not to the daemon's root. In a setgid directory the group comes from the directory.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { overlayLayers, sourceAndMountpoint } from './helpers/scratch';
import { Mounted, mountOverlay, mountPassthrough } from './helpers/cli';

const asUser = (script: string) =>
  execFileSync('setpriv', ['--reuid=1000', '--regid=1000', '--clear-groups', 'sh', '-c', `umask 022; ${script}`], { stdio: 'pipe' });

const mounts: Array<[string, () => Promise<{ mnt: string; backing: string; m: Mounted; cleanup(): void }>]> = [
  [
    'passthrough',
    async () => {
      const s = sourceAndMountpoint();
      fs.chmodSync(s.dir, 0o755); // mkdtemp made it 0700: the test user must get through
      const m = await mountPassthrough(s.src, s.mnt);
      return { mnt: s.mnt, backing: s.src, m, cleanup: s.cleanup };
    },
  ],
  [
    'overlay',
    async () => {
      const t = overlayLayers([{ 'lowerdir/': '' }]);
      fs.chmodSync(t.dir, 0o755);
      const m = await mountOverlay(t.mnt, t);
      return { mnt: t.mnt, backing: t.upper!, m, cleanup: t.cleanup };
    },
  ],
];

test.each(mounts)('%s: files, dirs, symlinks and fifos belong to the caller', async (_name, setup) => {
  const { mnt, backing, m, cleanup } = await setup();
  try {
    fs.mkdirSync(path.join(mnt, 'pub'), 0o777);
    fs.chmodSync(path.join(mnt, 'pub'), 0o1777);
    fs.mkdirSync(path.join(mnt, 'sgid'));
    fs.chownSync(path.join(mnt, 'sgid'), 0, 4242);
    fs.chmodSync(path.join(mnt, 'sgid'), 0o2777);
    asUser(`cd ${mnt}/pub && touch f && mkdir d && ln -s f l && mkfifo p && echo x > ${mnt}/sgid/g`);
    for (const name of ['f', 'd', 'l', 'p']) {
      expect(fs.lstatSync(path.join(mnt, 'pub', name))).toMatchObject({ uid: 1000, gid: 1000 });
      expect(fs.lstatSync(path.join(backing, 'pub', name))).toMatchObject({ uid: 1000, gid: 1000 });
    }
    expect(fs.statSync(path.join(mnt, 'sgid/g'))).toMatchObject({ uid: 1000, gid: 4242 });
    // And the kernel checks permissions for that user (default_permissions).
    fs.writeFileSync(path.join(mnt, 'pub', 'roots'), 'root only', { mode: 0o644 });
    expect(() => asUser(`echo y >> ${mnt}/pub/roots`)).toThrow(/Permission denied/);
    expect(() => asUser(`touch ${mnt}/forbidden`)).toThrow(/Permission denied/);
    asUser(`echo mine >> ${mnt}/sgid/g`); // the owner may
  } finally {
    await m.unmount();
    cleanup();
  }
});
