// Nothing behind the mount can steer the daemon. A user who may write the source (passthrough) or
// the upper layer (overlay: a rootless user's own layers, served by a root daemon) makes a file,
// lets the kernel cache its node (stat through the mount), then swaps its directory for a symlink
// to a root-only directory outside the source, and works on the cached name through the mount. A
// path-based daemon running as root resolves the full host path again, follows the symlink and
// writes the root-only file. Node-based, the daemon acts on the file the kernel asked about (or on
// the symlink itself, after the kernel looks the name up again) — never on the root-only file.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Mounted, mountOverlay, mountPassthrough } from './helpers/cli';
import { overlayLayers, sourceAndMountpoint } from './helpers/scratch';
import { run } from './helpers/run';

const NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups'];

/** Each step swaps `$D` for the symlink first, then tries one operation on the cached name. */
const ATTACKS: Record<string, string> = {
  write: 'echo pwned > "$M/$D/victim"',
  append: 'echo pwned >> "$M/$D/victim"',
  truncate: 'truncate -s 0 "$M/$D/victim"',
  chmod: 'chmod 666 "$M/$D/victim"',
  chown: 'chown 65534 "$M/$D/victim"',
  setxattr: 'setfattr -n user.pwned -v 1 "$M/$D/victim"',
  unlink: 'rm -f "$M/$D/victim"',
  rename: 'mv "$M/$D/victim" "$M/$D/moved"',
  link: 'ln "$M/$D/victim" "$M/$D/linked"',
  create: 'echo pwned > "$M/$D/newfile"',
  mkdir: 'mkdir "$M/$D/newdir"',
};

/** The directory the user writes behind the mount, and the mount. */
interface Target {
  backing: string;
  mnt: string;
}

async function attack(t: Target, secret: string, op: string) {
  // The user's own file, seen through the mount: the kernel now holds nodes for $D and $D/victim.
  // A directory of its own per step: the kernel trusts what it looked up for entry_timeout.
  const script = `
    S="$1"; M="$2"; SECRET="$3"; D="$4"
    mkdir "$S/$D" && echo mine > "$S/$D/victim"
    stat "$M/$D/victim" > /dev/null
    mv "$S/$D" "$S/$D.old" && ln -s "$SECRET" "$S/$D"
    ( ${ATTACKS[op]} ) 2>/dev/null
    exit 0`;
  const r = await run('setpriv', [...NOBODY, 'sh', '-c', script, 'sh', t.backing, t.mnt, secret, `sub-${op}`]);
  expect(r.stderr).toBe('');
}

const setups: Array<[string, () => Promise<{ t: Target; m: Mounted; dir: string; cleanup(): void }>]> = [
  [
    'passthrough',
    async () => {
      const s = sourceAndMountpoint();
      fs.chmodSync(s.src, 0o777);
      return { t: { backing: s.src, mnt: s.mnt }, m: await mountPassthrough(s.src, s.mnt), dir: s.dir, cleanup: s.cleanup };
    },
  ],
  [
    'overlay',
    async () => {
      const o = overlayLayers([{ 'base/': '' }]);
      fs.chmodSync(o.upper!, 0o777);
      return { t: { backing: o.upper!, mnt: o.mnt }, m: await mountOverlay(o.mnt, o), dir: o.dir, cleanup: o.cleanup };
    },
  ],
];

test.each(setups)(
  '%s: a directory swapped for a symlink behind the mount never redirects the daemon (as uid 65534, root daemon)',
  async (_name, setup) => {
    const { t, m, dir, cleanup } = await setup();
    // The root-only directory outside the backing tree, and the file in it a root daemon could be fooled into.
    const secretDir = path.join(dir, 'secret');
    fs.mkdirSync(secretDir, { mode: 0o700 });
    const victim = path.join(secretDir, 'victim');
    fs.writeFileSync(victim, 'root-only\n', { mode: 0o600 });
    const before = fs.statSync(victim);
    fs.chmodSync(dir, 0o755);
    try {
      for (const op of Object.keys(ATTACKS)) {
        await attack(t, secretDir, op);
        const now = fs.statSync(victim);
        expect([op, fs.readFileSync(victim, 'utf8'), now.mode, now.uid, now.nlink, now.ino]).toEqual([
          op,
          'root-only\n',
          before.mode,
          0,
          1,
          before.ino,
        ]);
        expect([op, fs.readdirSync(secretDir)]).toEqual([op, ['victim']]);
        const r = await run('getfattr', ['-d', victim]);
        expect([op, r.stdout]).toEqual([op, '']);
      }
    } finally {
      await m.unmount();
      cleanup();
    }
  },
  120000,
);

// open(2) of a FIFO waits for a writer. A file the kernel knows, swapped for a FIFO behind the mount,
// must not make the daemon open that FIFO: its one request thread would wait there, and every caller
// of the mount with it.
test.each(setups)('%s: a file swapped for a FIFO behind the mount cannot hold the daemon in open(2)', async (_name, setup) => {
  const { t, m, cleanup } = await setup();
  try {
    fs.writeFileSync(path.join(t.backing, 'f'), 'mine\n');
    const script = `
      S="$1"; M="$2"
      stat "$M/f" > /dev/null
      rm "$S/f" && mkfifo "$S/f"
      timeout 5 cat "$M/f" > /dev/null 2>&1; echo "cat: $?"
      timeout 5 stat -c %F "$M/" > /dev/null && echo served`;
    const r = await run('sh', ['-c', script, 'sh', t.backing, t.mnt]);
    // Not 124 (timed out): the open answered (ESTALE, or the FIFO's own behaviour after a new lookup).
    expect(r.stdout).not.toMatch(/cat: 124/);
    expect(r.stdout).toMatch(/served/);
  } finally {
    await m.unmount();
    cleanup();
  }
});
