// O_APPEND through the mount: two appending handles inside and one writer outside the mount (on the
// source) run at once; no record is lost or overwritten.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFile } from 'node:child_process';
import { sourceAndMountpoint } from '../helpers/scratch';
import { mountPassthrough } from '../helpers/cli';

const appender = `
const fs = require('fs');
const [file, tag, n] = process.argv.slice(1);
const fd = fs.openSync(file, 'a');
for (let i = 0; i < Number(n); i++) fs.writeSync(fd, tag + String(i).padStart(5, '0') + '\\n');
fs.closeSync(fd);
`;

test('appends from two handles in the mount and one outside interleave without loss', async () => {
  const s = sourceAndMountpoint({ log: '' });
  const { src, mnt } = s;
  const m = await mountPassthrough(src, mnt);
  const N = 2000;
  try {
    const run = (file: string, tag: string) =>
      new Promise<void>((resolve, reject) =>
        execFile(process.execPath, ['-e', appender, file, tag, String(N)], (err) => (err ? reject(err) : resolve())),
      );
    await Promise.all([run(path.join(mnt, 'log'), 'A'), run(path.join(mnt, 'log'), 'B'), run(path.join(src, 'log'), 'X')]);
    const lines = fs.readFileSync(path.join(mnt, 'log'), 'utf8').split('\n').filter(Boolean);
    expect(lines).toHaveLength(3 * N);
    for (const tag of ['A', 'B', 'X']) {
      const mine = lines.filter((l) => l.startsWith(tag)).map((l) => Number(l.slice(1)));
      expect(mine).toEqual(Array.from({ length: N }, (_, i) => i)); // all there, each writer in order
    }
  } finally {
    await m.unmount();
    s.cleanup();
  }
});
