// Nothing behind the mount can steer the daemon. A user who may write the source makes a file,
// lets the kernel cache its node (stat through the mount), then swaps its directory for a symlink
// to a root-only directory outside the source, and works on the cached name through the mount. A
// path-based daemon running as root resolves the full host path again, follows the symlink and
// writes the root-only file. Node-based, the daemon acts on the file the kernel asked about (or on
// the symlink itself, after the kernel looks the name up again) — never on the root-only file.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Mounted, mountPassthrough } from '../helpers/cli';
import { sourceAndMountpoint } from '../helpers/scratch';
import { run } from '../helpers/run';

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

async function attack(t: ReturnType<typeof sourceAndMountpoint>, secret: string, op: string) {
  // The user's own file, seen through the mount: the kernel now holds nodes for $D and $D/victim.
  // A directory of its own per step: the kernel trusts what it looked up for entry_timeout.
  const script = `
    S="$1"; M="$2"; SECRET="$3"; D="$4"
    mkdir "$S/$D" && echo mine > "$S/$D/victim"
    stat "$M/$D/victim" > /dev/null
    mv "$S/$D" "$S/$D.old" && ln -s "$SECRET" "$S/$D"
    ${ATTACKS[op]} 2>/dev/null
    exit 0`;
  const r = await run('setpriv', [...NOBODY, 'sh', '-c', script, 'sh', t.src, t.mnt, secret, `sub-${op}`]);
  expect(r.stderr).toBe('');
}

test('a directory swapped for a symlink behind the mount never redirects the daemon (as uid 65534, root daemon)', async () => {
  const t = sourceAndMountpoint();
  // The root-only directory outside the source, and the file in it a root daemon could be fooled into.
  const secretDir = path.join(path.dirname(t.src), 'secret');
  fs.mkdirSync(secretDir, { mode: 0o700 });
  const victim = path.join(secretDir, 'victim');
  fs.writeFileSync(victim, 'root-only\n', { mode: 0o600 });
  const before = fs.statSync(victim);
  fs.chmodSync(path.dirname(t.src), 0o755);
  fs.chmodSync(t.src, 0o777);
  let m: Mounted | undefined;
  try {
    m = await mountPassthrough(t.src, t.mnt);
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
    await m?.unmount();
    t.cleanup();
  }
}, 120000);
