#!/usr/bin/env node
// `npm run bench:podman`: the time of `podman build` of the containers test's Containerfile (COPY of
// a tree, RUN steps that copy up, delete, and move a lower directory and file away and back) with
// layerfs-overlay as containers/storage's mount_program, against fuse-overlayfs in that role and the
// kernel's overlay, rootful; and rootless (a user with subuids, /dev/fuse made 0666 for the run)
// against fuse-overlayfs. Fresh storage for every build; the runs interleaved; medians and ratios.
// layerfs-overlay twice per run: a build that starts its own daemon (an idle one left by an earlier
// build is stopped first), then one right after it, which the first one's daemon serves (still up
// for its idle time: a user's next build or run).
//
// --large: the fixture's heavier Containerfile (4 000 files; sed -i, a tar round trip, rm -rf and a
// directory moved away and back): steps of seconds. Each step of a build starts on a whole second
// of the wall clock (seen with every mount program), so the default build's short steps make its
// times whole seconds plus a remainder, and its ratio mostly counts second boundaries crossed.
//
//   node bench/podman-build.js [--runs N] [--rootful-only] [--large]
'use strict';
const { execFileSync, spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const args = process.argv.slice(2);
const RUNS = Number(args[args.indexOf('--runs') + 1] || 3) || 3;
const ROOTFUL_ONLY = args.includes('--rootful-only');
const LARGE = args.includes('--large');
const PROGRAM = path.resolve(__dirname, '..', 'bin', 'layerfs-overlay');
const USER = 'layerfs-podman';
const { busyboxBuild, ensureSubuidUser, stopPauseProcesses } = require('../test/helpers/podman-fixture');

for (const bin of ['podman', 'fuse-overlayfs', 'busybox']) {
  if (spawnSync('which', [bin]).status !== 0) {
    process.stderr.write(`bench: ${bin} is missing (apt-get install podman runc uidmap fuse-overlayfs busybox-static)\n`);
    process.exit(1);
  }
}
if (process.getuid() !== 0) throw new Error('the benchmark needs root (rootful podman, and a test user for the rootless runs)');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'layerfs-podman-bench-'));
fs.chmodSync(dir, 0o755);
const { tar, ctx } = busyboxBuild(dir, '/bin/busybox', { large: LARGE });

let uid;
if (!ROOTFUL_ONLY) {
  uid = ensureSubuidUser(USER);
  for (const d of ['home', 'xdg']) {
    fs.mkdirSync(path.join(dir, d), { mode: 0o700 });
    fs.chownSync(path.join(dir, d), uid, uid);
  }
}

/** Stop the shared layerfs-overlay daemons serving no mount (bin/src/shared-daemon.ts), and wait. */
function stopIdleDaemons() {
  const idle = fs
    .readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').startsWith('layerfs daemon (overlay, shared): 0 mounts');
      } catch {
        return false;
      }
    })
    .map(Number);
  for (const pid of idle) process.kill(pid, 'SIGTERM');
  for (const pid of idle) spawnSync('tail', [`--pid=${pid}`, '-f', '/dev/null'], { timeout: 5000 });
}

const sleepMs = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
/** The CPU the mount programs' daemons use until stop() (bench/daemon-cpu.js, sampling /proc). */
function daemonCpu() {
  const out = path.join(dir, `cpu${n}.json`);
  const stop = `${out}.stop`;
  const sampler = spawn(
    process.execPath,
    [path.join(__dirname, 'daemon-cpu.js'), out, stop, 'layerfs daemon', '/usr/bin/fuse-overlayfs', 'fuse-overlayfs'],
    {
      stdio: 'ignore',
    },
  );
  sampler.unref();
  while (!fs.existsSync(`${out}.ready`)) sleepMs(5);
  return {
    stop() {
      fs.writeFileSync(stop, '');
      while (!fs.existsSync(out)) sleepMs(5);
      return JSON.parse(fs.readFileSync(out, 'utf8')).cpuMs;
    },
  };
}

let n = 0;
/** The daemons' CPU (ms) of each build, in the order of the builds. */
const cpuMs = [];
/** Seconds for `podman build` with fresh storage (the image import untimed). */
function build(mountProgram, asUser) {
  const root = path.join(dir, `s${n++}`);
  fs.mkdirSync(path.join(root, 'graph'), { recursive: true });
  fs.mkdirSync(path.join(root, 'run'));
  if (asUser) execFileSync('chown', ['-R', `${uid}:${uid}`, root]);
  const storage = ['--root', path.join(root, 'graph'), '--runroot', path.join(root, 'run'), '--storage-driver', 'overlay'];
  if (mountProgram) storage.push('--storage-opt', `overlay.mount_program=${mountProgram}`);
  const podman = (...a) => {
    const argv = ['podman', ...storage, ...a];
    const cmd = asUser
      ? ['runuser', '-u', USER, '--', 'env', `HOME=${path.join(dir, 'home')}`, `XDG_RUNTIME_DIR=${path.join(dir, 'xdg')}`, ...argv]
      : argv;
    execFileSync(cmd[0], cmd.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  };
  podman('import', tar, 'localhost/layerfs-bb');
  const cpu = daemonCpu();
  const t = process.hrtime.bigint();
  let s;
  try {
    podman('build', '--network', 'none', '-t', 'localhost/bench', ctx);
    s = Number(process.hrtime.bigint() - t) / 1e9;
  } finally {
    // Also when the build fails: the sampler would otherwise outlive the benchmark.
    cpuMs.push(cpu.stop());
  }
  if (asUser)
    spawnSync('runuser', [
      '-u',
      USER,
      '--',
      'env',
      `HOME=${path.join(dir, 'home')}`,
      `XDG_RUNTIME_DIR=${path.join(dir, 'xdg')}`,
      'podman',
      'unshare',
      'rm',
      '-rf',
      root,
    ]);
  else spawnSync('podman', [...storage, 'system', 'reset', '-f'], { stdio: 'ignore' });
  return s;
}

const targets = [
  ['rootful: kernel overlay', () => build(undefined, false)],
  ['rootful: fuse-overlayfs', () => build('/usr/bin/fuse-overlayfs', false)],
  [
    'rootful: layerfs-overlay',
    () => {
      stopIdleDaemons();
      return build(PROGRAM, false);
    },
  ],
  ['rootful: layerfs-overlay again', () => build(PROGRAM, false)],
];
if (!ROOTFUL_ONLY)
  targets.push(
    ['rootless: fuse-overlayfs', () => build('/usr/bin/fuse-overlayfs', true)],
    [
      'rootless: layerfs-overlay',
      () => {
        stopIdleDaemons();
        return build(PROGRAM, true);
      },
    ],
    ['rootless: layerfs-overlay again', () => build(PROGRAM, true)],
  );
const devMode = fs.statSync('/dev/fuse').mode & 0o777;
const times = Object.fromEntries(targets.map(([k]) => [k, []]));
const cpus = Object.fromEntries(targets.map(([k]) => [k, []]));
try {
  if (!ROOTFUL_ONLY) fs.chmodSync('/dev/fuse', 0o666);
  for (let r = 0; r < RUNS; r++)
    for (const [k, fn] of targets) {
      times[k].push(fn());
      cpus[k].push(cpuMs.at(-1) / 1000);
      process.stderr.write(`bench: ${k.padEnd(32)} ${times[k].at(-1).toFixed(2)} s (daemons' CPU ${cpus[k].at(-1).toFixed(2)} s)\n`);
    }
} finally {
  fs.chmodSync('/dev/fuse', devMode);
  if (!ROOTFUL_ONLY) stopPauseProcesses(USER);
  spawnSync('rm', ['-rf', dir]);
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
process.stdout.write(
  `\n| podman build${LARGE ? ' (--large)' : ''} | median (s) | runs (s) | daemons' CPU, median (s) |\n|---|---|---|---|\n`,
);
for (const [k] of targets)
  process.stdout.write(
    `| ${k} | ${median(times[k]).toFixed(2)} | ${times[k].map((x) => x.toFixed(2)).join(', ')} | ${k.includes('kernel') ? '—' : median(cpus[k]).toFixed(2)} |\n`,
  );
const ratio = (a, b) => (median(times[b]) / median(times[a])).toFixed(2);
const both = (mode) =>
  `${ratio(`${mode}: layerfs-overlay`, `${mode}: fuse-overlayfs`)}× (again: ${ratio(`${mode}: layerfs-overlay again`, `${mode}: fuse-overlayfs`)}×)`;
process.stdout.write(`\nlayerfs-overlay speed vs fuse-overlayfs: rootful ${both('rootful')}`);
if (!ROOTFUL_ONLY) process.stdout.write(`, rootless ${both('rootless')}`);
process.stdout.write(` (> 1× is faster; medians of ${RUNS}; ${new Date().toISOString().slice(0, 10)})\n`);
