// `layerfs demo` (npm start) runs the overlay demo; `layerfs demo passthrough` mirrors a copy of the
// bundled sample tree through a passthrough mount. Both show a few operations and where they land,
// then unmount; everything happens in fresh temp directories.
//
// The mount is served by a daemon started the way a user would (`layerfs passthrough SRC MNT`), not
// in this process: a process that serves a mount must never make a synchronous call on it (Node's
// recursive readdir does, internally) — it would wait for an answer only it can give.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import * as crypto from 'node:crypto';
import { syscalls } from '@layerfs/backing-io';

const SAMPLE = path.resolve(__dirname, '..', '..', 'demo', 'sample');
const CLI = path.resolve(__dirname, '..', 'layerfs');
const run = promisify(execFile);

export async function runPassthroughDemo(): Promise<number> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'layerfs-demo-'));
  const source = path.join(work, 'source');
  const mnt = path.join(work, 'mnt');
  fs.cpSync(SAMPLE, source, { recursive: true });
  fs.mkdirSync(mnt);
  const say = (s: string) => process.stdout.write(`${s}\n`);
  const at = (p: string) => path.join(mnt, p);

  say(`$ layerfs passthrough ${source} ${mnt}`);
  const mounted = await run(process.execPath, [CLI, 'passthrough', source, mnt]);
  say(indent(mounted.stdout));
  try {
    say('$ ls -R mnt');
    for (const e of fs.readdirSync(mnt, { recursive: true }).sort()) say(`  ${String(e)}`);
    say('\n$ cat mnt/docs/notes.md');
    say(indent(fs.readFileSync(at('docs/notes.md'), 'utf8')));

    say('$ echo "written through the mount" > mnt/hello.txt');
    fs.writeFileSync(at('hello.txt'), 'written through the mount\n');
    say(`  source/hello.txt now holds: ${JSON.stringify(fs.readFileSync(path.join(source, 'hello.txt'), 'utf8'))}`);

    say('$ echo "appended" >> mnt/hello.txt   (O_APPEND, carried down to the source)');
    fs.appendFileSync(at('hello.txt'), 'appended\n');
    const st = fs.statSync(at('hello.txt'));
    say(`  size ${st.size} bytes, inode ${st.ino} — the source's inode too: ${fs.statSync(path.join(source, 'hello.txt')).ino === st.ino}`);

    say('$ mv mnt/hello.txt mnt/docs/ && ln -s docs/hello.txt mnt/link');
    fs.renameSync(at('hello.txt'), at('docs/hello.txt'));
    fs.symlinkSync('docs/hello.txt', at('link'));
    say(`  link -> ${fs.readlinkSync(at('link'))}, first line: ${JSON.stringify(fs.readFileSync(at('link'), 'utf8').split('\n')[0])}`);

    say('$ rm mnt/src/answer.ts');
    fs.unlinkSync(at('src/answer.ts'));
    say(`  gone from the source too: ${!fs.existsSync(path.join(source, 'src/answer.ts'))}`);

    const sfs = fs.statfsSync(mnt);
    say(`\n$ df mnt: ${((sfs.bavail * sfs.bsize) / 2 ** 30).toFixed(1)} GiB free (the source's filesystem)`);
  } finally {
    say(`\n$ layerfs umount ${mnt}`);
    await run(process.execPath, [CLI, 'umount', mnt]);
    await waitUnmounted(mnt);
    fs.rmSync(work, { recursive: true, force: true });
    say(`unmounted; removed ${work}`);
  }
  return 0;
}

async function waitUnmounted(mnt: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (!fs.readFileSync('/proc/self/mounts', 'utf8').includes(` ${mnt} `)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

const indent = (s: string) =>
  `${s
    .trimEnd()
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n')}\n`;

/**
 * The overlay demo: the bundled sample tree is the (read-only) lower layer; changes land in a fresh
 * upper layer, where the copied-up files, the whiteouts and the opaque directory are shown; then the
 * kernel's own overlay mounts the same layers and shows the same view.
 */
export async function runOverlayDemo(): Promise<number> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'layerfs-demo-'));
  const upper = path.join(work, 'upper');
  const wdir = path.join(work, 'work');
  const mnt = path.join(work, 'mnt');
  for (const d of [upper, wdir, mnt]) fs.mkdirSync(d);
  const say = (s: string) => process.stdout.write(`${s}\n`);
  const at = (p: string) => path.join(mnt, p);
  const lowerBefore = treeDigest(SAMPLE);

  say(`$ layerfs overlay ${mnt} -o lowerdir=${SAMPLE},upperdir=${upper},workdir=${wdir}`);
  const mounted = await run(process.execPath, [CLI, 'overlay', mnt, '-o', `lowerdir=${SAMPLE},upperdir=${upper},workdir=${wdir}`]);
  say(indent(mounted.stdout));
  let view: string[] = [];
  try {
    say('$ ls -R mnt            (the lower layer, seen through the overlay)');
    for (const e of fs.readdirSync(mnt, { recursive: true }).sort()) say(`  ${String(e)}`);

    say('\n$ echo "- a line added through the overlay" >> mnt/docs/notes.md      (copy-up)');
    fs.appendFileSync(at('docs/notes.md'), '- a line added through the overlay\n');
    say('$ echo "new" > mnt/new.txt');
    fs.writeFileSync(at('new.txt'), 'new\n');
    say('$ rm mnt/src/answer.ts && rmdir mnt/src && mkdir mnt/src      (whiteouts, then an opaque directory)');
    fs.unlinkSync(at('src/answer.ts'));
    fs.rmdirSync(at('src'));
    fs.mkdirSync(at('src'));
    say('$ rm mnt/README.txt');
    fs.unlinkSync(at('README.txt'));
    view = fs.readdirSync(mnt, { recursive: true }).map(String).sort();
    say('\n$ ls -R mnt');
    for (const e of view) say(`  ${e}`);
  } finally {
    say(`\n$ layerfs umount ${mnt}`);
    await run(process.execPath, [CLI, 'umount', mnt]);
    await waitUnmounted(mnt);
  }

  say('\nthe upper layer now holds (kernel overlayfs format):');
  for (const e of fs.readdirSync(upper, { recursive: true }).map(String).sort()) {
    const p = path.join(upper, e);
    const st = fs.lstatSync(p);
    let what = st.isDirectory() ? 'directory' : st.isFile() ? `file, ${st.size} bytes (copied up or new)` : '';
    if (st.isCharacterDevice() && st.rdev === 0) what = 'whiteout (character device 0/0)';
    const opaque =
      st.isDirectory() && syscalls.llistxattr(p).includes('trusted.overlay.opaque') ? ', trusted.overlay.opaque=y (opaque)' : '';
    say(`  ${e.padEnd(16)} ${what}${opaque}`);
  }
  say(`the lower layer (${path.relative(process.cwd(), SAMPLE) || SAMPLE}) is untouched: ${treeDigest(SAMPLE) === lowerBefore}`);

  if (process.getuid?.() === 0) {
    const kmnt = path.join(work, 'kernel');
    fs.mkdirSync(kmnt);
    try {
      await run('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${SAMPLE},upperdir=${upper},workdir=${wdir}`, kmnt]);
      const kview = fs.readdirSync(kmnt, { recursive: true }).map(String).sort();
      say(
        `\n$ mount -t overlay … (the kernel's own overlay, same layers): same view as layerfs: ${JSON.stringify(kview) === JSON.stringify(view)}`,
      );
      await run('umount', [kmnt]);
    } catch (err) {
      say(`\n(the kernel's overlay could not be mounted here: ${(err as Error).message.split('\n')[0]})`);
    }
  }
  fs.rmSync(work, { recursive: true, force: true });
  say(`removed ${work}`);
  return 0;
}

function treeDigest(root: string): string {
  const h = crypto.createHash('sha256');
  for (const e of fs.readdirSync(root, { recursive: true }).map(String).sort()) {
    const p = path.join(root, e);
    const st = fs.lstatSync(p);
    h.update(`${e}:${st.mode}:${st.size}:${st.mtimeMs}\n`);
    if (st.isFile()) h.update(fs.readFileSync(p));
  }
  return h.digest('hex');
}
