// A backing path under one of this process's own mountpoints is refused: serving it would send the
// daemon a request only it can answer.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { backingFileOpen, checkNotStacked, registerOwnMount, unregisterOwnMount } from '@layerfs/backing-io';
import { tempDir } from './helpers';

test('opening a backing file under an own mountpoint fails with ELOOP and says why', async () => {
  const t = tempDir();
  const mnt = path.join(t.dir, 'mnt');
  fs.mkdirSync(mnt);
  fs.writeFileSync(path.join(mnt, 'f'), 'x');
  fs.writeFileSync(path.join(t.dir, 'g'), 'y');
  registerOwnMount(mnt);
  try {
    await expect(backingFileOpen({ userPath: '/f', realPath: path.join(mnt, 'f'), flags: 0 })).rejects.toThrow(
      /ELOOP: .*inside this daemon's own mount .*deadlock/,
    );
    expect(() => checkNotStacked(mnt)).toThrow(/ELOOP/);
    expect(() => checkNotStacked(path.join(t.dir, 'mntx'))).not.toThrow();
    expect(() => checkNotStacked(`${mnt}/deep/er/f`)).toThrow(/ELOOP/);
    expect(() => checkNotStacked(`${mnt}/../g`)).not.toThrow();
    const ok = await backingFileOpen({ userPath: '/g', realPath: path.join(t.dir, 'g'), flags: 0 });
    await ok.put();
    unregisterOwnMount(mnt);
    const again = await backingFileOpen({ userPath: '/f', realPath: path.join(mnt, 'f'), flags: 0 });
    await again.put();
  } finally {
    unregisterOwnMount(mnt);
    t.cleanup();
  }
});
