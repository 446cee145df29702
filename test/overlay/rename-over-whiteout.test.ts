// Renaming onto a whiteout, as the kernel's overlay does it: a lower directory moved away and back
// (empty and populated), a lower directory removed and a new one moved onto its name (empty and
// populated), a file moved away and back. Then the same again with each step's upper layer pushed
// onto the lower stack (a layer that was an upper, with its redirects and whiteouts, read as a lower),
// ten layers deep; after every step layerfs and the kernel's overlay show the same tree, with the
// same st_ino for every entry (a copied-up lower hard link included: a file of its own, as the kernel
// makes it without index=on, while its other name stays the lower inode).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { overlayLayers } from '../helpers/scratch';
import { Layers, kernelImpl, layerfsImpl } from '../helpers/interop';
import { treeView } from '../helpers/tree-view';

const tree = { 'd1/a': 'A', 'd1/sub/b': 'B', 'e1/': '', 'gone/x': 'x', 'gone2/': '', f: 'file', 'keep/k': 'k' };

function moves(root: string, round: number): void {
  const p = (n: string) => path.join(root, n);
  fs.renameSync(p('d1'), p(`d1.moved${round}`));
  fs.renameSync(p(`d1.moved${round}`), p('d1'));
  fs.renameSync(p('e1'), p('e1.moved'));
  fs.renameSync(p('e1.moved'), p('e1'));
  fs.renameSync(p('f'), p('f.moved'));
  fs.renameSync(p('f.moved'), p('f'));
  // A cycle of three directory renames.
  fs.renameSync(p('d1'), p('tmp'));
  fs.renameSync(p('keep'), p('d1'));
  fs.renameSync(p('tmp'), p('keep'));
  fs.renameSync(p('keep'), p('tmp'));
  fs.renameSync(p('d1'), p('keep'));
  fs.renameSync(p('tmp'), p('d1'));
  // Into another directory and back.
  fs.renameSync(p('d1'), p('keep/inner'));
  fs.renameSync(p('keep/inner'), p('d1'));
  fs.writeFileSync(p(`d1/round${round}`), `r${round}`);
}

function firstRound(root: string): void {
  moves(root, 0);
  fs.appendFileSync(path.join(root, 'h1'), '+');
  fs.rmSync(path.join(root, 'gone'), { recursive: true });
  fs.mkdirSync(path.join(root, 'newdir'));
  fs.writeFileSync(path.join(root, 'newdir/n'), 'n');
  fs.renameSync(path.join(root, 'newdir'), path.join(root, 'gone'));
  fs.rmdirSync(path.join(root, 'gone2'));
  fs.mkdirSync(path.join(root, 'newdir2'));
  fs.renameSync(path.join(root, 'newdir2'), path.join(root, 'gone2'));
}

function expected(rounds: number): string[] {
  const files = ['d1 755 dir []', 'd1/a 644 file 1 A []'];
  for (let r = 0; r < rounds; r++) files.push(`d1/round${r} 644 file ${`r${r}`.length} r${r} []`);
  files.push(
    'd1/sub 755 dir []',
    'd1/sub/b 644 file 1 B []',
    'e1 755 dir []',
    'f 644 file 4 file []',
    'gone 755 dir []',
    'gone/n 644 file 1 n []',
    'gone2 755 dir []',
    'h1 644 file 2 h+ []',
    'h2 644 file 1 h []',
    'keep 755 dir []',
    'keep/k 644 file 1 k []',
  );
  return files.sort();
}

/** Every entry's path and st_ino. */
function inodes(root: string, rel = ''): string[] {
  const out: string[] = [];
  for (const name of fs.readdirSync(path.join(root, rel)).sort()) {
    const p = rel ? `${rel}/${name}` : name;
    const st = fs.lstatSync(path.join(root, p));
    out.push(`${p} ${st.ino}`);
    if (st.isDirectory()) out.push(...inodes(root, p));
  }
  return out;
}

/**
 * Mount `t` with layerfs, run `change`, check the view; remount it (st_ino must survive a remount);
 * then the kernel's overlay on the same layers shows the same tree and the same numbers.
 */
async function step(t: Layers, change: (root: string) => void, want: string[]): Promise<void> {
  let mnt = await layerfsImpl.mount(t);
  let inMount: string[];
  try {
    change(mnt);
    expect(treeView(mnt).sort()).toEqual(want);
    inMount = inodes(mnt);
  } finally {
    await layerfsImpl.unmount(mnt);
  }
  mnt = await layerfsImpl.mount(t);
  try {
    expect(inodes(mnt)).toEqual(inMount);
  } finally {
    await layerfsImpl.unmount(mnt);
  }
  const kmnt = await kernelImpl.mount(t);
  try {
    expect(treeView(kmnt).sort()).toEqual(want);
    expect(inodes(kmnt)).toEqual(inMount);
  } finally {
    await kernelImpl.unmount(kmnt);
  }
}

test('rename onto whiteouts, then again on stacked layers (10 deep), as the kernel overlay shows it', async () => {
  const t = overlayLayers([tree]);
  fs.writeFileSync(path.join(t.lower[0]!, 'h1'), 'h');
  fs.linkSync(path.join(t.lower[0]!, 'h1'), path.join(t.lower[0]!, 'h2'));
  try {
    await step(t, firstRound, expected(1));
    let layers: Layers = t;
    for (let round = 1; round < 10; round++) {
      // The upper just written becomes the top lower layer; a fresh upper and workdir on top.
      const upper = path.join(t.dir, `upper${round}`);
      const work = path.join(t.dir, `work${round}`);
      fs.mkdirSync(upper);
      fs.mkdirSync(work);
      layers = { ...layers, lower: [layers.upper!, ...layers.lower], upper, work };
      await step(layers, (root) => moves(root, round), expected(round + 1));
    }
  } finally {
    t.cleanup();
  }
}, 180000);

// A directory moved in one mount and moved again in the next, with each upper pushed onto the lower
// stack: the redirect each rename writes must name where the layer just below holds the directory
// (which may itself be a redirect), not where the lowest layer does — the lowest path is a whiteout
// in the layer between. Each step also on a plain directory: the union must show what it shows.
test('a directory moved again in each stacked layer (back, into another, a child out) keeps its contents', async () => {
  const t = overlayLayers([tree]);
  const plain = path.join(t.dir, 'plain');
  fs.cpSync(t.lower[0]!, plain, { recursive: true });
  const chain: Array<(root: string) => void> = [
    (r) => fs.renameSync(path.join(r, 'd1'), path.join(r, 'd2')),
    (r) => fs.renameSync(path.join(r, 'd2'), path.join(r, 'd1')),
    (r) => fs.renameSync(path.join(r, 'd1'), path.join(r, 'keep/inner')),
    (r) => fs.renameSync(path.join(r, 'keep/inner/sub'), path.join(r, 'sub-out')),
    (r) => fs.renameSync(path.join(r, 'keep/inner'), path.join(r, 'd1')),
    (r) => fs.renameSync(path.join(r, 'sub-out'), path.join(r, 'd1/sub')),
  ];
  try {
    let layers: Layers = t;
    for (let i = 0; i < chain.length; i++) {
      if (i > 0) {
        const upper = path.join(t.dir, `upper${i}`);
        const work = path.join(t.dir, `work${i}`);
        fs.mkdirSync(upper);
        fs.mkdirSync(work);
        layers = { ...layers, lower: [layers.upper!, ...layers.lower], upper, work };
      }
      chain[i]!(plain);
      await step(layers, chain[i]!, treeView(plain).sort());
    }
  } finally {
    t.cleanup();
  }
}, 120000);
