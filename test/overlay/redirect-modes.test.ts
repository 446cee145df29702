// redirect_dir's four values, and whose redirects count: each step done on layerfs and on the
// kernel's overlay over equal layers, the answers compared. A redirect is like a symlink into the
// lower layers without their permission checks, so the kernel follows only its own namespace's
// (trusted.overlay.* as root), never with user xattrs, and not at all with nofollow.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { syscalls } from '@layerfs/backing-io';
import { overlayLayers } from '../helpers/scratch';
import { TRANSPORT, mountWith } from '../helpers/cli';

type Layers = ReturnType<typeof overlayLayers>;

/** Run `fn` on a mount of `t` by `who` with `opts` (upper and work added when `t` has them). */
async function onMount<T>(who: 'kernel' | 'layerfs', t: Layers, opts: string, fn: (mnt: string) => T): Promise<T> {
  const o = `lowerdir=${t.lower.join(':')}${t.upper ? `,upperdir=${t.upper},workdir=${t.work}` : ''}${opts ? `,${opts}` : ''}`;
  if (who === 'kernel') {
    execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', o, t.mnt]);
    try {
      return fn(t.mnt);
    } finally {
      execFileSync('umount', [t.mnt]);
    }
  }
  const m = await mountWith(['overlay', '--transport', TRANSPORT, '-o', o, t.mnt], t.mnt);
  try {
    return fn(t.mnt);
  } finally {
    await m.unmount();
  }
}

/** An errno name, or 'ok'. */
function outcome(fn: () => unknown): string {
  try {
    const v = fn();
    return Array.isArray(v) ? `ok ${v.sort().join(',')}` : 'ok';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? String(err);
  }
}

const both = ['kernel', 'layerfs'] as const;

test.each(['off', 'follow', 'nofollow'])(
  'redirect_dir=%s: renaming a lower directory answers EXDEV (mv copies instead), as on the kernel',
  async (mode) => {
    const seen: string[] = [];
    for (const who of both) {
      const t = overlayLayers([{ 'd/f': 'x' }]);
      try {
        seen.push(
          await onMount(who, t, `redirect_dir=${mode}`, (m) => outcome(() => fs.renameSync(path.join(m, 'd'), path.join(m, 'd2')))),
        );
        // Nothing was left behind by the refused rename.
        expect(fs.readdirSync(t.upper!)).toEqual([]);
      } finally {
        t.cleanup();
      }
    }
    expect(seen).toEqual(['EXDEV', 'EXDEV']);
  },
);

test('a directory renamed with redirect_dir=on: followed by follow, refused (EPERM) by nofollow, as on the kernel', async () => {
  const seen: Record<string, string[]> = {};
  for (const who of both) {
    const t = overlayLayers([{ 'd/f': 'x' }]);
    try {
      await onMount('layerfs', t, 'redirect_dir=on', (m) => fs.renameSync(path.join(m, 'd'), path.join(m, 'd2')));
      for (const mode of ['follow', 'nofollow']) {
        (seen[mode] ??= []).push(await onMount(who, t, `redirect_dir=${mode}`, (m) => outcome(() => fs.readdirSync(path.join(m, 'd2')))));
      }
    } finally {
      t.cleanup();
    }
  }
  expect(seen).toEqual({ follow: ['ok f', 'ok f'], nofollow: ['EPERM', 'EPERM'] });
});

test("redirects are read in the mount's own namespace only: a user.overlay.redirect anyone may write is not followed", async () => {
  const seen: Record<string, string[]> = {};
  for (const who of both) {
    // The top layer's "mine" points, by redirect, at a directory of the layer below.
    const t = overlayLayers([{ 'mine/.keep': '' }, { 'secret/file': 's' }], { upper: false });
    try {
      fs.rmSync(path.join(t.lower[0]!, 'mine/.keep'));
      for (const ns of ['user', 'trusted']) {
        syscalls.lsetxattr(path.join(t.lower[0]!, 'mine'), `${ns}.overlay.redirect`, Buffer.from('/secret'));
        (seen[ns] ??= []).push(await onMount(who, t, 'redirect_dir=on', (m) => outcome(() => fs.readdirSync(path.join(m, 'mine')))));
        syscalls.lremovexattr(path.join(t.lower[0]!, 'mine'), `${ns}.overlay.redirect`);
      }
    } finally {
      t.cleanup();
    }
  }
  expect(seen).toEqual({ user: ['ok ', 'ok '], trusted: ['ok file', 'ok file'] });
});
