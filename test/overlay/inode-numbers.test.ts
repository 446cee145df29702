// st_ino is the kernel overlay's (layers on one filesystem): an entry keeps its lower number across
// copy-up, across a remount (the overlay.origin xattr, in the kernel's format) and under the kernel's
// own overlay mounted on the same layers; readdir's d_ino is st_ino throughout. A lower file with
// hard links copied up gets no origin and, from the next mount on, its own number, as under the
// kernel: its other name still shows the lower file.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { syscalls } from '@layerfs/backing-io';
import { overlayLayers } from '../helpers/scratch';
import { mountOverlay } from '../helpers/cli';

const NAMES = ['d', 'd/f', 'd/s', 'd/sub', 'h', 'h2'] as const;

function inos(root: string, names: readonly string[]): Record<string, bigint> {
  return Object.fromEntries(names.map((n) => [n, fs.lstatSync(path.join(root, n), { bigint: true }).ino]));
}

/** Every entry's d_ino against its st_ino, in the directories the test touches. */
function expectDinoIsStIno(root: string): void {
  for (const dir of ['', 'd', 'd/sub']) {
    for (const e of syscalls.readdirIno(path.join(root, dir))) {
      expect([dir, e.name, e.ino]).toEqual([dir, e.name, fs.lstatSync(path.join(root, dir, e.name), { bigint: true }).ino]);
    }
  }
}

test('st_ino survives copy-up and remount, and matches the kernel overlay on the same layers', async () => {
  const t = overlayLayers([{ 'd/f': 'file', 'd/s': '->f', 'd/sub/old': 'o', 'd/moved': 'm', h: 'linked' }]);
  fs.linkSync(path.join(t.lower[0]!, 'h'), path.join(t.lower[0]!, 'h2'));
  try {
    let m = await mountOverlay(t.mnt, t);
    let before: Record<string, bigint>;
    try {
      before = { ...inos(t.mnt, NAMES), moved: inos(t.mnt, ['d/moved'])['d/moved']! };
      fs.appendFileSync(path.join(t.mnt, 'd/f'), ' changed');
      syscalls.lutimens(path.join(t.mnt, 'd/s'), 'now', 'now');
      fs.writeFileSync(path.join(t.mnt, 'd/sub/new'), 'new');
      fs.renameSync(path.join(t.mnt, 'd/moved'), path.join(t.mnt, 'moved'));
      fs.appendFileSync(path.join(t.mnt, 'h'), ' changed');
      const after = inos(t.mnt, ['d', 'd/f', 'd/s', 'd/sub', 'moved']);
      expect(after).toEqual({ d: before.d, 'd/f': before['d/f'], 'd/s': before['d/s'], 'd/sub': before['d/sub'], moved: before.moved });
      expectDinoIsStIno(t.mnt);
    } finally {
      await m.unmount();
    }

    // The copies are in the upper layer, each naming its lower inode as the kernel does.
    const origin = syscalls.lgetxattr(path.join(t.upper!, 'd/f'), 'trusted.overlay.origin');
    expect([origin[0], origin[1], origin[2]]).toEqual([0, 0xfb, origin.length]);
    expect(syscalls.lgetxattr(path.join(t.upper!, 'd'), 'trusted.overlay.impure').toString()).toBe('y');
    expect(() => syscalls.lgetxattr(path.join(t.upper!, 'h'), 'trusted.overlay.origin')).toThrow(/ENODATA/);

    m = await mountOverlay(t.mnt, t);
    let remounted: Record<string, bigint>;
    try {
      remounted = inos(t.mnt, [...NAMES, 'moved']);
      expect(remounted).toMatchObject({
        d: before.d,
        'd/f': before['d/f'],
        'd/s': before['d/s'],
        'd/sub': before['d/sub'],
        h2: before.h2,
        moved: before.moved,
      });
      expect(remounted.h).not.toEqual(remounted.h2);
      expectDinoIsStIno(t.mnt);
    } finally {
      await m.unmount();
    }

    const kmnt = path.join(t.dir, 'kmnt');
    fs.mkdirSync(kmnt);
    execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${t.lower[0]},upperdir=${t.upper},workdir=${t.work}`, kmnt]);
    try {
      expect(inos(kmnt, [...NAMES, 'moved'])).toEqual(remounted);
      expectDinoIsStIno(kmnt);
    } finally {
      execFileSync('umount', [kmnt]);
    }
  } finally {
    t.cleanup();
  }
});

test('an origin that does not decode (malformed, or naming a file no layer has) leaves the upper st_ino', async () => {
  const t = overlayLayers([{ 'other/x': 'x' }], { upper: { garbage: 'g', stale: 's' } });
  const real = (n: string) => fs.lstatSync(path.join(t.upper!, n), { bigint: true }).ino;
  syscalls.lsetxattr(path.join(t.upper!, 'garbage'), 'trusted.overlay.origin', Buffer.from('not a handle'));
  // A well-formed handle of a file that is gone (ESTALE, even if its inode number is reused).
  const h = syscalls.nameToHandle(path.join(t.upper!, 'garbage'));
  const fb = Buffer.concat([Buffer.from([0, 0xfb, 21 + h.fid.length, 0, h.type]), Buffer.alloc(16), h.fid]);
  syscalls.lsetxattr(path.join(t.upper!, 'stale'), 'trusted.overlay.origin', fb);
  fs.unlinkSync(path.join(t.upper!, 'garbage'));
  fs.writeFileSync(path.join(t.upper!, 'garbage'), 'g');
  syscalls.lsetxattr(path.join(t.upper!, 'garbage'), 'trusted.overlay.origin', Buffer.from('not a handle'));
  const m = await mountOverlay(t.mnt, t);
  try {
    expect(inos(t.mnt, ['garbage', 'stale'])).toEqual({ garbage: real('garbage'), stale: real('stale') });
    expect(fs.readFileSync(path.join(t.mnt, 'stale'), 'utf8')).toBe('s');
  } finally {
    await m.unmount();
    t.cleanup();
  }
});
