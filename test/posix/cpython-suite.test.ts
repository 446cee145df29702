// CPython's own regression tests of the filesystem calls it wraps (os, posix, shutil, tempfile, glob,
// io, mmap, fcntl, zipfile, …): a suite written by others, run from outside as a user would run it,
// with both its scratch directories (regrtest's --tempdir and TMPDIR) inside the mount. Every test
// case that passes in a plain directory must pass in the mount — skipped does not count as passed, so
// a mount that answered ENOTSUP for xattrs (and made the suite skip them) fails here. Run as root and
// as an unprivileged user (uid 65534: the suite's permission cases only run without root) in root's
// mounts, and as that user in mounts it made itself (through fusermount3: a daemon without any
// privilege, which meets the host's permission checks itself), against the passthrough and an overlay.
//
// Needs the CPython test package (Debian: libpython3.X-testsuite; .ci/run installs it); skipped
// without it.
import { execFile, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { scratch } from '../helpers/scratch';
import { run } from '../helpers/run';
import { CLI, TRANSPORT, isMounted, mountOverlay, mountPassthrough, waitFor, type Mounted } from '../helpers/cli';

const MODULES = [
  'test_os',
  'test_posix',
  'test_shutil',
  'test_tempfile',
  'test_glob',
  'test_fnmatch',
  'test_filecmp',
  'test_fileio',
  'test_mmap',
  'test_fcntl',
  'test_stat',
  'test_posixpath',
  'test_genericpath',
  'test_zipfile',
];
const NOBODY = 65534;
const AS_NOBODY = [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups'];
const fusermount3 = ['/usr/bin/fusermount3', '/bin/fusermount3'].find((p) => fs.existsSync(p));

/** A python3 that has the test package, or undefined. */
function findPython(): string | undefined {
  for (const py of ['/usr/bin/python3', 'python3']) {
    if (spawnSync(py, ['-c', 'import test.test_os, test.libregrtest'], { stdio: 'ignore' }).status === 0) return py;
  }
  return undefined;
}
const PYTHON = process.getuid?.() === 0 ? findPython() : undefined;
const maybe = PYTHON ? describe : describe.skip;

type Outcome = 'passed' | 'skipped' | 'failed';

/**
 * Runs the modules with their scratch in `dir` as `uid`; each test case's outcome from regrtest's JUnit
 * XML, written into `out`. `ownMount`: `dir` is in a mount `uid` made, where only its user may look
 * (no allow_other), so it makes `dir` itself.
 */
async function suite(dir: string, uid: number, out: string, ownMount = false): Promise<Map<string, Outcome>> {
  if (ownMount) {
    const mk = await run('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', 'mkdir', dir]);
    if (mk.code !== 0) throw new Error(`mkdir ${dir} as uid ${uid}: ${mk.stderr}`);
  } else {
    fs.mkdirSync(dir, { recursive: true });
    fs.chownSync(dir, uid, uid);
  }
  fs.mkdirSync(out, { recursive: true });
  fs.chownSync(out, uid, uid);
  const xml = path.join(out, 'junit.xml');
  const args = ['-m', 'test', '--tempdir', dir, '--junit-xml', xml, ...MODULES];
  const [cmd, argv] = uid === 0 ? [PYTHON!, args] : ['setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', PYTHON!, ...args]];
  return new Promise((resolve, reject) => {
    // cwd outside the mount: only the suite's own scratch lives there.
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, TMPDIR: dir, LANG: 'C.UTF-8' };
    execFile(cmd, argv, { cwd: '/', env, timeout: 600_000, maxBuffer: 64 << 20 }, (err, stdout) => {
      // regrtest exits non-zero when a case fails; the XML says which (the comparison decides).
      let text: string;
      try {
        text = fs.readFileSync(xml, 'utf8');
      } catch {
        reject(new Error(`the suite wrote no results (${err?.message}):\n${stdout.slice(-3000)}`));
        return;
      }
      const cases = new Map<string, Outcome>();
      for (const m of text.matchAll(/<testcase name="([^"]+)"[^>]*?(\/>|>([\s\S]*?)<\/testcase>)/g)) {
        const body = m[3] ?? '';
        cases.set(m[1], /<(failure|error)\b/.test(body) ? 'failed' : /<skipped\b/.test(body) ? 'skipped' : 'passed');
      }
      resolve(cases);
    });
  });
}

/** The cases that pass in the reference and do not pass in the mount, with how they ended there. */
function regressions(reference: Map<string, Outcome>, mounted: Map<string, Outcome>): string[] {
  const out: string[] = [];
  for (const [name, outcome] of reference) {
    if (outcome === 'passed' && mounted.get(name) !== 'passed') out.push(`${name}: ${mounted.get(name) ?? 'not run'}`);
  }
  return out;
}

maybe("CPython's filesystem test modules pass in the mount as in a plain directory", () => {
  const t = scratch();
  const dir = (...p: string[]) => {
    const d = path.join(t.dir, ...p);
    fs.mkdirSync(d, { recursive: true });
    fs.chmodSync(d, 0o755);
    return d;
  };
  const reference = new Map<number, Map<string, Outcome>>();
  beforeAll(async () => {
    fs.chmodSync(t.dir, 0o755);
    for (const uid of [0, NOBODY])
      reference.set(uid, await suite(path.join(dir('plain'), `run-${uid}`), uid, dir('results', `plain-${uid}`)));
    // The reference itself ran the suite: hundreds of cases passed.
    expect([...reference.get(0)!.values()].filter((o) => o === 'passed').length).toBeGreaterThan(1000);
  }, 300_000);
  afterAll(() => t.cleanup());

  const targets: Array<[string, () => Promise<Mounted>]> = [
    ['passthrough', () => mountPassthrough(dir('src'), dir('pt-mnt'))],
    ['overlay', () => mountOverlay(dir('ov-mnt'), { lower: [dir('ov-l')], upper: dir('ov-u'), work: dir('ov-w') })],
  ];
  // The user's own mounts: /dev/fuse usable by the user as on a stock distribution (it is 0600 on
  // some CI machines: made 0666 for the test and put back).
  const asUser = async (args: string[], mnt: string): Promise<Mounted> => {
    const r = await run('setpriv', [...AS_NOBODY, 'env', 'HOME=/tmp', process.execPath, CLI, ...args, '--transport', TRANSPORT, mnt]);
    if (r.code !== 0) throw new Error(`mount as uid ${NOBODY} failed (${r.code}): ${r.stderr}`);
    const pid = Number(/daemon pid (\d+)/.exec(r.stdout)?.[1]);
    return {
      mountpoint: mnt,
      pid,
      unmount: async () => {
        if (isMounted(mnt)) await run('setpriv', [...AS_NOBODY, process.execPath, CLI, 'umount', mnt]);
        await waitFor(() => !isMounted(mnt), `${mnt} to be unmounted`);
      },
    };
  };
  const userDir = (n: string) => {
    const d = dir(n);
    fs.chownSync(d, NOBODY, NOBODY);
    return d;
  };
  const userTargets: Array<[string, () => Promise<Mounted>]> = [
    ['passthrough', () => asUser(['passthrough', userDir('upt-src')], userDir('upt-mnt'))],
    [
      'overlay',
      () =>
        asUser(
          ['overlay', '-o', `lowerdir=${userDir('uov-l')},upperdir=${userDir('uov-u')},workdir=${userDir('uov-w')}`],
          userDir('uov-mnt'),
        ),
    ],
  ];
  (fusermount3 ? test.each(userTargets) : test.skip.each(userTargets))(
    '%s mounted by the user (uid 65534) itself',
    async (_name, mount) => {
      const devMode = fs.statSync('/dev/fuse').mode & 0o777;
      fs.chmodSync('/dev/fuse', 0o666);
      try {
        const m = await mount();
        try {
          const cases = await suite(path.join(m.mountpoint, 'run'), NOBODY, dir('results', `own-${_name}`), true);
          expect(regressions(reference.get(NOBODY)!, cases)).toEqual([]);
        } finally {
          await m.unmount();
        }
      } finally {
        fs.chmodSync('/dev/fuse', devMode);
      }
    },
    600_000,
  );

  test.each(targets)(
    '%s',
    async (_name, mount) => {
      const m = await mount();
      try {
        for (const uid of [0, NOBODY]) {
          const cases = await suite(path.join(m.mountpoint, `run-${uid}`), uid, dir('results', `${_name}-${uid}`));
          expect({ uid, regressions: regressions(reference.get(uid)!, cases) }).toEqual({ uid, regressions: [] });
        }
      } finally {
        await m.unmount();
      }
    },
    600_000,
  );
});
