// Bad input gets one clear line, the right exit code, and leaves nothing mounted.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { scratch } from '../helpers/scratch';
import { TRANSPORT, isMounted, layerfs, mountPassthrough } from '../helpers/cli';

describe('layerfs passthrough refuses bad input', () => {
  const s = scratch();
  const src = path.join(s.dir, 'src');
  const mnt = path.join(s.dir, 'mnt');
  beforeAll(() => {
    fs.mkdirSync(src);
    fs.mkdirSync(mnt);
    fs.mkdirSync(path.join(src, 'inner'));
    fs.mkdirSync(path.join(mnt, '..', 'mnt2'), { recursive: true });
    fs.writeFileSync(path.join(s.dir, 'file'), 'x');
  });
  afterAll(() => s.cleanup());

  const cases: Array<[string, () => string[], number, RegExp, string]> = [
    [
      'missing source',
      () => ['passthrough', path.join(s.dir, 'nope'), mnt],
      1,
      /source .*nope does not exist: pass an existing directory/,
      mnt,
    ],
    ['source is a file', () => ['passthrough', path.join(s.dir, 'file'), mnt], 1, /source .*file is not a directory/, mnt],
    [
      'mountpoint missing',
      () => ['passthrough', src, path.join(s.dir, 'nomnt')],
      1,
      /mountpoint .*nomnt does not exist: create it first/,
      path.join(s.dir, 'nomnt'),
    ],
    [
      'mountpoint inside the source',
      () => ['passthrough', src, path.join(src, 'inner')],
      1,
      /mountpoint .*inner is inside the source .*would wait on itself/,
      path.join(src, 'inner'),
    ],
    [
      'source inside the mountpoint',
      () => ['passthrough', src, s.dir],
      1,
      /source .*src is inside the mountpoint .*would wait on itself/,
      s.dir,
    ],
    ['mountpoint not empty', () => ['passthrough', path.join(s.dir, 'mnt2'), src], 1, /mountpoint .*src is not empty: .*-o nonempty/, src],
    ['unknown option', () => ['passthrough', src, mnt, '-o', 'bogus=1'], 2, /unknown mount option: bogus/, mnt],
    ['missing operand', () => ['passthrough', src], 2, /Not enough non-option arguments.*see layerfs --help/, mnt],
    ['unknown command', () => ['frobnicate'], 2, /Unknown argument: frobnicate/, mnt],
  ];

  test.each(cases)('%s', async (_name, args, code, message, target) => {
    const r = await layerfs(args());
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toMatch(/^layerfs: /);
    expect(r.code).toBe(code);
    expect(isMounted(target)).toBe(false);
  });

  test('double mount: the second is refused and the first keeps working', async () => {
    const m = await mountPassthrough(src, mnt);
    try {
      const r = await layerfs(['passthrough', src, mnt, '--transport', TRANSPORT]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/mountpoint .*mnt is already mounted .*unmount it first \(layerfs umount/);
      fs.writeFileSync(path.join(mnt, 'still-works'), 'yes');
      expect(fs.readFileSync(path.join(src, 'still-works'), 'utf8')).toBe('yes');
    } finally {
      await m.unmount();
    }
    expect(isMounted(mnt)).toBe(false);
  });

  test('umount of something that is not mounted says so', async () => {
    const r = await layerfs(['umount', mnt]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/is not mounted: nothing to unmount/);
  });
});
