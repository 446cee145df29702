// `layerfs demo` (npm start): mirror a copy of the bundled sample tree through a passthrough mount,
// show a few operations through it and where they land, then unmount. Everything happens in fresh
// temp directories; the bundle itself is never touched.
//
// The mount is served by a daemon started the way a user would (`layerfs passthrough SRC MNT`), not
// in this process: a process that serves a mount must never make a synchronous call on it (Node's
// recursive readdir does, internally) — it would wait for an answer only it can give.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';

const SAMPLE = path.resolve(__dirname, '..', '..', 'demo', 'sample');
const CLI = path.resolve(__dirname, '..', 'layerfs');
const run = promisify(execFile);

export async function runDemo(): Promise<number> {
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

const indent = (s: string) => `${s.trimEnd().split('\n').map((l) => `  ${l}`).join('\n')}\n`;
