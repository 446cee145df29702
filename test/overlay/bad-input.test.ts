// Each mount check of the overlay, with its one-line message; nothing is left mounted.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { overlayLayers } from '../helpers/scratch';
import { isMounted, layerfs } from '../helpers/cli';
import { run } from '../helpers/run';

describe('layerfs overlay refuses bad layers', () => {
  const t = overlayLayers([{ f: 'x' }]);
  const other = path.join(t.dir, 'other');
  beforeAll(() => {
    fs.mkdirSync(other);
    fs.writeFileSync(path.join(t.dir, 'afile'), '');
  });
  afterAll(() => t.cleanup());
  const L = () => t.lower[0]!;
  const cases: Array<[string, () => string[], number, RegExp]> = [
    ['missing lower', () => ['-o', `lowerdir=${path.join(t.dir, 'nope')}`], 1, /lower layer 1 .*nope does not exist/],
    ['lower is a file', () => ['-o', `lowerdir=${path.join(t.dir, 'afile')}`], 1, /lower layer 1 .*afile is not a directory/],
    ['no lower at all', () => [], 2, /no lower layer given/],
    ['upper without work', () => ['-o', `lowerdir=${L()},upperdir=${t.upper}`], 2, /upperdir and workdir go together/],
    [
      'work inside upper',
      () => ['-o', `lowerdir=${L()},upperdir=${t.upper},workdir=${path.join(t.upper!, 'w')}`],
      1,
      /workdir .* is inside upperdir|does not exist/,
    ],
    ['upper inside a lower', () => ['-o', `lowerdir=${t.dir},upperdir=${t.upper},workdir=${t.work}`], 1, /contain one another|is inside/],
    [
      'workdir not empty',
      () => ['-o', `lowerdir=${L()},upperdir=${t.upper},workdir=${other}`],
      1,
      /workdir .*other holds stray: use an empty directory/,
    ],
    ['unknown option', () => ['-o', `lowerdir=${L()},bogus`], 2, /unknown mount option: bogus \(see layerfs overlay --help\)/],
    [
      'a kernel feature layerfs lacks',
      () => ['-o', `lowerdir=${L()},index=on`],
      2,
      /index=on is not supported: there is no inode index .*; leave it out or use index=off/,
    ],
    [
      'metacopy with user xattrs (the kernel refuses the pair too)',
      () => ['-o', `lowerdir=${L()},userxattr,metacopy=on`],
      2,
      /metacopy=on cannot go with user xattrs/,
    ],
    [
      'a kernel value layerfs does not honour',
      () => ['-o', `lowerdir=${L()},uuid=on`],
      2,
      /uuid=on is not supported: the overlay has no persistent uuid of its own/,
    ],
    [
      'redirects with user xattrs (the kernel refuses the pair too)',
      () => ['-o', `lowerdir=${L()},userxattr,redirect_dir=on`],
      2,
      /redirect_dir=on cannot go with user xattrs/,
    ],
    [
      "a value fuse-overlayfs's xattr_permissions does not take",
      () => ['-o', `lowerdir=${L()},xattr_permissions=3`],
      2,
      /xattr_permissions takes 0, 1 or 2 \(got xattr_permissions=3\)/,
    ],
    ['lowerdir= and lowerdir+= together', () => ['-o', `lowerdir=${L()},lowerdir+=${L()}`], 2, /lowerdir= and lowerdir\+= do not mix/],
  ];
  test.each(cases)('%s', async (_name, args, code, message) => {
    if (_name === 'workdir not empty') fs.writeFileSync(path.join(other, 'stray'), '');
    if (_name === 'work inside upper') fs.mkdirSync(path.join(t.upper!, 'w'), { recursive: true });
    const r = await layerfs(['overlay', t.mnt, ...args()]);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.code).toBe(code);
    expect(isMounted(t.mnt)).toBe(false);
  });

  test('upper and work on a read-only filesystem', async () => {
    const ro = fs.mkdtempSync(path.join(t.dir, 'ro-'));
    const mounted = await run('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', ro]);
    expect(mounted.code).toBe(0);
    try {
      fs.mkdirSync(path.join(ro, 'u'));
      fs.mkdirSync(path.join(ro, 'w'));
      expect((await run('mount', ['-o', 'remount,ro', ro])).code).toBe(0);
      const r = await layerfs(['overlay', t.mnt, '-o', `lowerdir=${L()},upperdir=${ro}/u,workdir=${ro}/w`]);
      expect(r.stderr).toMatch(/^layerfs: upperdir .*\/u is on a read-only filesystem: the upper layer and workdir must be writable/);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.code).toBe(1);
    } finally {
      await run('umount', [ro]);
    }
  });

  test('layerfs-overlay (a mount program: no checks in the parent) says what is wrong in one line', async () => {
    const program = path.resolve(__dirname, '..', '..', 'bin', 'layerfs-overlay');
    const bad = await run(program, ['-o', `lowerdir=${L()},bogus`, t.mnt]);
    expect(bad.stderr).toBe('layerfs-overlay: unknown mount option: bogus (see layerfs overlay --help)\n');
    expect(bad.code).toBe(2);
    const missing = await run(program, ['-o', `lowerdir=${path.join(t.dir, 'nope')}`, t.mnt]);
    expect(missing.stderr).toMatch(/^layerfs-overlay: lower layer 1 .*nope does not exist/);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    expect(missing.code).toBe(1);
    expect(isMounted(t.mnt)).toBe(false);
  });

  test('workdir on another filesystem than upperdir', async () => {
    const shm = fs.mkdtempSync('/dev/shm/layerfs-test-work-');
    try {
      const r = await layerfs(['overlay', t.mnt, '-o', `lowerdir=${L()},upperdir=${t.upper},workdir=${shm}`]);
      expect(r.stderr).toMatch(/are on different filesystems: .*put both on one filesystem/);
      expect(r.code).toBe(1);
    } finally {
      fs.rmSync(shm, { recursive: true, force: true });
    }
  });
});
