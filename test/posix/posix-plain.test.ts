// The behaviour table against a plain directory: proves every case states POSIX correctly.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { posixCases } from './table';
import { scratch } from '../helpers/scratch';

describe('POSIX table on a plain directory', () => {
  const s = scratch();
  afterAll(() => s.cleanup());
  test.each(posixCases.map((c, i) => [c.name, i] as const))('%s', async (_name, i) => {
    const dir = path.join(s.dir, `case${i}`);
    fs.mkdirSync(dir);
    await posixCases[i]!.run(dir);
  });
});
