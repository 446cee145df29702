// A backing file's realPath is its path as path.resolve() gives it: opens skip path.resolve for a
// path already normal (the common case), and must tell a name that starts with a dot (".bin") from a
// "." or ".." component. The open itself is a real file's: openFile hands back an fd of it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { backingFileOpen, type BackingFile } from '@layerfs/backing-io';
import { tempDir } from './helpers';

test("realPath is path.resolve's answer, for dot names, dot components and untidy paths alike", async () => {
  const t = tempDir();
  try {
    const real = path.join(t.dir, 'f');
    fs.writeFileSync(real, 'x');
    const cases = [
      '/a/.bin/x',
      '/a/..b/x',
      '/a/.../x',
      '/a/b.',
      '/.a/.b',
      '/a/./b',
      '/a/../b',
      '/a/.',
      '/a/..',
      '/a//b',
      '/a/b/',
      '/.',
      '/',
      'rel/x',
    ];
    for (const p of cases) {
      const seen: string[] = [];
      const f = (await backingFileOpen({
        userPath: '/x',
        realPath: p,
        flags: fs.constants.O_RDONLY,
        openFile: (asked, flags) => {
          seen.push(asked);
          return fs.openSync(real, flags);
        },
      })) as BackingFile;
      try {
        expect([p, f.realPath]).toEqual([p, path.resolve(p)]);
        expect(seen).toEqual([path.resolve(p)]);
      } finally {
        await f.put();
      }
    }
  } finally {
    t.cleanup();
  }
});
