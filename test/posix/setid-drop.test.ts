// Set-user-ID and set-group-ID bits after a modification by an unprivileged caller, through each
// filesystem, compared with what the kernel does on a plain directory: write, truncate, an O_TRUNC
// open and fallocate drop them; a write by root keeps them. On the wire transport the server does
// the dropping (HANDLE_KILLPRIV_V2, which spares every write a GETXATTR round trip), so this is
// where a mistake in that contract would show.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Mounted, TRANSPORT, mountOverlay, mountPassthrough } from '../helpers/cli';
import { overlayLayers, scratch, sourceAndMountpoint } from '../helpers/scratch';
import { run } from '../helpers/run';

const NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups'];

interface Case {
  name: string;
  mode: number;
  script: string;
  asRoot?: boolean;
  /** Not on fuse-native, with the reason. */
  wireOnly?: string;
}

const allCases: Case[] = [
  { name: 'append by nobody', mode: 0o6777, script: 'echo more >> "$1"' },
  { name: 'pwrite in the middle by nobody', mode: 0o4777, script: 'printf x | dd of="$1" bs=1 seek=2 conv=notrunc status=none' },
  { name: 'truncate by nobody', mode: 0o6777, script: 'truncate -s 2 "$1"' },
  { name: 'O_TRUNC open by nobody', mode: 0o4777, script: ': > "$1"' },
  { name: 'fallocate by nobody', mode: 0o6777, script: 'fallocate -l 65536 "$1"', wireOnly: 'libfuse 2 has no fallocate (EOPNOTSUPP)' },
  {
    name: 'set-group-ID without group-execute, nobody not in the group',
    mode: 0o2766,
    script: 'echo more >> "$1"',
    wireOnly: "the kernel's FUSE client drops set-group-ID itself there, and only with group-execute (fs/fuse/dir.c)",
  },
  { name: 'append by root keeps the bits', mode: 0o6777, script: 'echo more >> "$1"', asRoot: true },
];
const cases = allCases.filter((c) => TRANSPORT === 'wire' || !c.wireOnly);

async function act(c: Case, file: string): Promise<number> {
  const args = ['sh', '-c', c.script, 'sh', file];
  const r = c.asRoot ? await run(args[0]!, args.slice(1)) : await run('setpriv', [...NOBODY, ...args]);
  if (r.code !== 0) throw new Error(`${c.name}: ${r.stderr}`);
  return fs.statSync(file).mode & 0o7777;
}

/** The plain kernel's answer for each case, on a directory nobody can reach. */
async function nativeModes(): Promise<number[]> {
  const s = scratch();
  try {
    fs.chmodSync(s.dir, 0o755);
    const out: number[] = [];
    for (const [i, c] of cases.entries()) {
      const f = path.join(s.dir, `f${i}`);
      fs.writeFileSync(f, 'content');
      fs.chmodSync(f, c.mode);
      out.push(await act(c, f));
    }
    return out;
  } finally {
    s.cleanup();
  }
}

async function check(existing: (i: number) => string): Promise<void> {
  const expected = await nativeModes();
  for (const [i, c] of cases.entries()) {
    const f = existing(i);
    fs.chmodSync(f, c.mode);
    const got = await act(c, f);
    expect([c.name, got.toString(8)]).toEqual([c.name, expected[i]!.toString(8)]);
    // Not vacuous: the plain kernel did drop the bits, except for root.
    if (!c.asRoot) expect(expected[i]! & 0o4000).toBe(0);
  }
}

test('passthrough: set-id bits after unprivileged changes match the plain kernel', async () => {
  const t = sourceAndMountpoint(Object.fromEntries(cases.map((_, i) => [`f${i}`, 'content'])));
  let m: Mounted | undefined;
  try {
    fs.chmodSync(path.dirname(t.mnt), 0o755);
    m = await mountPassthrough(t.src, t.mnt);
    await check((i) => path.join(t.mnt, `f${i}`));
  } finally {
    await m?.unmount();
    t.cleanup();
  }
});

test('overlay: set-id bits after unprivileged changes of lower files match the plain kernel', async () => {
  const t = overlayLayers([Object.fromEntries(cases.map((_, i) => [`f${i}`, 'content']))]);
  let m: Mounted | undefined;
  try {
    fs.chmodSync(t.dir, 0o755);
    m = await mountOverlay(t.mnt, { lower: t.lower, upper: t.upper, work: t.work });
    await check((i) => path.join(t.mnt, `f${i}`));
  } finally {
    await m?.unmount();
    t.cleanup();
  }
});
