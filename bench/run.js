#!/usr/bin/env node
// `npm run bench`: layerfs on both transports (wire, fuse-native) against native and bindfs, and the
// overlay against the kernel's overlay and fuse-overlayfs, in one run, on the same data. Prints
// markdown tables of medians and ratios, and the targets of issues 2, 3 and 5. Absolute numbers on a
// shared machine are noise; compare the ratios. Needs root (drop_caches, mounts); installs fio,
// bindfs and fuse-overlayfs with apt when missing.
//
//   node bench/run.js [--suite passthrough|overlay|all] [--rootless] [--policies] [--runs N] [--big-mib N] [--small N] [--only a,b]
//                     [--workloads randwrite,copy-up]   (workloads whose label contains one of these)
//                     [--layerfs-o spin_us=200,...]     (more mount options for every layerfs target)
//                     [--against /other/checkout/bin/layerfs]   (an A/B in the same run: another
//                      build's CLI — an older commit's checkout — as one more target beside ours)
//                     [--warm N]   (steady state: N untimed passes of a mixed metadata workload on
//                      each new mount before its timed sample; the default, 0, times a new daemon)
//
// The passthrough suite compares layerfs passthrough with native and bindfs; the overlay suite
// compares layerfs overlay with the kernel's overlay and fuse-overlayfs over the same lower layer
// (a fresh upper layer for every sample), adding copy-up of the big file and a tree walk.
'use strict';
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const { opt, flag } = require('./args');
const RUNS = Number(opt('runs', 3));
const BIG_MIB = Number(opt('big-mib', 1024));
const WRITE_MIB = Math.min(512, BIG_MIB);
const SMALL = Number(opt('small', 3000));
const SUITE = opt('suite', 'all');
const ONLY = opt('only', '');
const WORKLOADS = opt('workloads', '');
const CLI = path.resolve(__dirname, '..', 'bin', 'layerfs');
// Items of --layerfs-o are -o items: a value with a comma of its own cannot be given here.
const LAYERFS_O = opt('layerfs-o', '').split(',').filter(Boolean);
const AGAINST = opt('against', '') && path.resolve(opt('against', ''));
// --rootless: the overlay suite for what a rootless mount gets (no kernel passthrough: the daemon
// serves every read and write), layerfs with -o passthrough=off against fuse-overlayfs on the same data.
const ROOTLESS = flag('rootless');
// --warm N: what a mount that has served a while costs, not a new one. A daemon written in
// JavaScript spends its first tens of thousands of requests in V8's interpreter and compilers; every
// sample is a new mount, so without this the metadata rows time that warm-up. Every target gets
// the same untimed passes (a C daemon has nothing to warm; the kernel's caches are dropped by the
// timed workloads that drop them anyway).
const WARM = Number(opt('warm', 0));
// --policies: the passthrough with bindfs's policies (--map and --perms) against the same passthrough
// without them and against bindfs with the same flags; then counts the READ/WRITE requests that reach
// the daemon under --map, --force-user and --perms (0: the data stayed on kernel passthrough).
const POLICIES = flag('policies');
// Colons inside the values: a comma would end the -o item (as in bindfs's fstab form).
const POLICY_OPTS = ['map=65534/0:@65534/@0', 'perms=0644:a+X'];

function sh(cmd, argv, o = {}) {
  return execFileSync(cmd, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20, ...o });
}
function haveTool(bin, pkg) {
  if (spawnSync('which', [bin]).status === 0) return true;
  process.stderr.write(`bench: installing ${pkg}\n`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (spawnSync('apt-get', ['install', '-y', '-qq', pkg], { stdio: 'inherit', env }).status === 0) return true;
  spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  return spawnSync('apt-get', ['install', '-y', '-qq', pkg], { stdio: 'inherit', env }).status === 0;
}
function ensureTool(bin, pkg) {
  if (!haveTool(bin, pkg)) throw new Error(`cannot install ${pkg}`);
}
const dropCaches = () => {
  sh('sync', []);
  fs.writeFileSync('/proc/sys/vm/drop_caches', '3');
};
const now = () => process.hrtime.bigint();
const secs = (t0) => Number(now() - t0) / 1e9;
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

// A helper process does the small-file loops, so the timed code never shares a process with a daemon.
const SMALL_SCRIPT = `
const fs = require('fs'); const path = require('path');
const [op, dir, n] = process.argv.slice(1); const N = Number(n);
const names = Array.from({ length: N }, (_, i) => path.join(dir, 'f' + i));
const create = () => { for (const f of names) fs.writeFileSync(f + '.new', 'x'.repeat(100)); };
const remove = () => { for (const f of names) fs.unlinkSync(f + '.new'); };
// untimed: something to remove, on disk (the removal must not pay for the creation's journal)
if (op === 'remove') { create(); require('child_process').execFileSync('sync'); }
const t0 = process.hrtime.bigint();
if (op === 'stat') for (const f of names) fs.lstatSync(f);
if (op === 'lstat1') for (let i = 0; i < N; i++) fs.lstatSync(names[0]);
if (op === 'read') for (const f of names) fs.readFileSync(f);
if (op === 'create') create();
if (op === 'remove') remove();
const t = Number(process.hrtime.bigint() - t0) / 1e9;
if (op === 'create') remove(); // untimed: leave the tree as it was
process.stdout.write(String(t));
`;
/** Untimed, on a new mount: a walk, listings, reads, stats, and creates and removes in a scratch directory. */
function warmUp(root) {
  for (let i = 0; i < WARM; i++) {
    dropCaches();
    if (fs.existsSync(`${root}/tree`)) sh('find', [`${root}/tree`, '-printf', '.']);
    sh('ls', ['-l', `${root}/small`]);
    sh('sh', ['-c', 'cat "$1"/* > /dev/null', 'sh', `${root}/small`]);
    small('stat', `${root}/small`);
    const scratch = `${root}/.warm-up`;
    fs.mkdirSync(scratch);
    sh(process.execPath, ['-e', SMALL_SCRIPT, 'create', scratch, String(SMALL)]);
    fs.rmdirSync(scratch);
  }
}
const small = (op, dir, n = SMALL) => Number(sh(process.execPath, ['-e', SMALL_SCRIPT, op, dir, String(n)]));
const LATENCY_N = 20000;

function fioIops(file, rw) {
  const out = sh('fio', [
    '--name=b',
    `--filename=${file}`,
    '--size=256M',
    `--rw=${rw}`,
    '--bs=4k',
    '--ioengine=psync',
    '--invalidate=0',
    '--runtime=8',
    '--time_based',
    '--output-format=json',
  ]);
  const job = JSON.parse(out.slice(out.indexOf('{'))).jobs[0];
  return rw === 'randread' ? job.read.iops : job.write.iops;
}

/** Per-sample upper and work directories for the overlays, on the same filesystem as the data. */
function freshUpper(mnt) {
  const base = path.join(path.dirname(mnt), 'rw');
  fs.rmSync(base, { recursive: true, force: true });
  fs.mkdirSync(path.join(base, 'upper'), { recursive: true });
  fs.mkdirSync(path.join(base, 'work'));
  return { upper: path.join(base, 'upper'), work: path.join(base, 'work') };
}

// `options`: the mount options a target takes (true: any); a workload that needs options it does not
// take skips it.
const layerfsMount = (transport, cmd, always = [], cli = CLI) => ({
  options: true,
  mount: (src, mnt, extra = []) => {
    const items = [...always, ...LAYERFS_O, ...extra];
    sh(process.execPath, [cli, ...cmd(src, mnt), '--transport', transport, ...items.flatMap((o) => ['-o', o])]);
    return mnt;
  },
  unmount: (mnt) => {
    sh(process.execPath, [cli, 'umount', mnt]);
    waitGone(mnt);
  },
});
/** --against: `NAME@against`, NAME's mount made by the other build's CLI; ratios against it print beside the others. */
const AGAINST_SUFFIX = '@against';
function addAgainst(table, name, transport, cmd, always = []) {
  if (AGAINST) table[name + AGAINST_SUFFIX] = layerfsMount(transport, cmd, always, AGAINST);
}
const withAgainst = (table, ours, bases) => (table[ours + AGAINST_SUFFIX] ? [...bases, ours + AGAINST_SUFFIX] : bases);
const overlayCmd = (src, mnt) => {
  const { upper, work } = freshUpper(mnt);
  return ['overlay', mnt, '-o', `lowerdir=${src},upperdir=${upper},workdir=${work}`];
};

const overlayTargets = {
  'kernel-overlay': {
    options: ['volatile'],
    mount: (src, mnt, extra = []) => {
      const { upper, work } = freshUpper(mnt);
      sh('mount', ['-t', 'overlay', 'overlay', '-o', [`lowerdir=${src},upperdir=${upper},workdir=${work}`, ...extra].join(','), mnt]);
      return mnt;
    },
    unmount: (mnt) => {
      sh('umount', [mnt]);
    },
  },
  'layerfs-overlay-wire': layerfsMount('wire', overlayCmd),
  'layerfs-overlay-fuse-native': layerfsMount('fuse-native', overlayCmd),
  'layerfs-overlay-rootless': layerfsMount('wire', overlayCmd, ['passthrough=off']),
  'fuse-overlayfs': {
    // It never fsyncs copied-up data: every mount of it is what `volatile` asks of the others.
    options: ['volatile'],
    mount: (src, mnt) => {
      const { upper, work } = freshUpper(mnt);
      sh('fuse-overlayfs', ['-o', `lowerdir=${src},upperdir=${upper},workdir=${work}`, mnt]);
      return mnt;
    },
    unmount: (mnt) => {
      sh('umount', [mnt]);
      waitGone(mnt);
    },
  },
  // Where it can be installed (it is optional): copy-on-write union, its own whiteout format.
  'unionfs-fuse': {
    mount: (src, mnt) => {
      const { upper } = freshUpper(mnt);
      sh('unionfs-fuse', ['-o', 'cow', `${upper}=RW:${src}=RO`, mnt]);
      return mnt;
    },
    unmount: (mnt) => {
      sh('umount', [mnt]);
      waitGone(mnt);
    },
  },
};

const passthroughCmd = (src, mnt) => ['passthrough', src, mnt];
const targets = {
  native: { mount: (src) => src, unmount: () => {} },
  'layerfs-wire': layerfsMount('wire', passthroughCmd),
  'layerfs-fuse-native': layerfsMount('fuse-native', passthroughCmd),
  bindfs: {
    options: true,
    mount: (src, mnt, extra = []) => {
      sh('bindfs', [...extra.flatMap((o) => ['-o', o]), src, mnt]);
      return mnt;
    },
    unmount: (mnt) => {
      sh('umount', [mnt]);
      waitGone(mnt);
    },
  },
};

const policyTargets = {
  'layerfs-wire': targets['layerfs-wire'],
  'layerfs-wire-policies': layerfsMount('wire', passthroughCmd, POLICY_OPTS),
  'bindfs-policies': { ...targets.bindfs, mount: (src, mnt, extra = []) => targets.bindfs.mount(src, mnt, [...POLICY_OPTS, ...extra]) },
};
addAgainst(targets, 'layerfs-wire', 'wire', passthroughCmd);
addAgainst(overlayTargets, 'layerfs-overlay-wire', 'wire', overlayCmd);
addAgainst(overlayTargets, 'layerfs-overlay-rootless', 'wire', overlayCmd, ['passthrough=off']);
addAgainst(policyTargets, 'layerfs-wire-policies', 'wire', passthroughCmd, POLICY_OPTS);

/**
 * READ and WRITE requests the daemon sees while a file is written, read and randomly read and
 * written through a passthrough mount with `flags` (counted from the wire transport's --debug trace).
 */
function daemonDataRequests(src, mnt, flags) {
  const log = path.join(path.dirname(mnt), 'trace.log');
  fs.rmSync(log, { force: true });
  sh(process.execPath, [CLI, 'passthrough', '--transport', 'wire', '--debug', '--log', log, ...flags, src, mnt]);
  try {
    sh('dd', ['if=/dev/zero', `of=${mnt}/w`, 'bs=1M', 'count=64', 'conv=fsync']);
    dropCaches();
    sh('dd', [`if=${mnt}/w`, 'of=/dev/null', 'bs=1M']);
    for (const rw of ['randread', 'randwrite'])
      sh('fio', ['--name=b', `--filename=${mnt}/w`, '--size=64M', `--rw=${rw}`, '--bs=4k', '--runtime=1', '--time_based']);
    fs.rmSync(`${mnt}/w`);
  } finally {
    sh(process.execPath, [CLI, 'umount', mnt]);
    waitGone(mnt);
  }
  const trace = fs.readFileSync(log, 'utf8');
  return (trace.match(/^layerfs: wire: > \d+ (READ|WRITE) /gm) ?? []).length;
}

function waitGone(mnt) {
  for (let i = 0; i < 200; i++) {
    if (!fs.readFileSync('/proc/self/mounts', 'utf8').includes(` ${mnt} `)) return;
    spawnSync('sleep', ['0.05']);
  }
}

const readBig = (root) => sh('dd', [`if=${root}/big`, 'of=/dev/null', 'bs=1M']);

// [label, kind, fn, mount options (for FUSE targets; skipped on the others)]
const workloads = [
  [
    `read ${BIG_MIB} MiB cold (s)`,
    'time',
    (root) => {
      dropCaches();
      const t = now();
      readBig(root);
      return secs(t);
    },
  ],
  // Warm: two untimed reads first (the second moves the pages to the active list), then the timed one.
  [
    `read ${BIG_MIB} MiB warm (s)`,
    'time',
    (root) => {
      readBig(root);
      readBig(root);
      const t = now();
      readBig(root);
      return secs(t);
    },
  ],
  [
    `write ${WRITE_MIB} MiB + fsync (s)`,
    'time',
    (root) => {
      const t = now();
      sh('dd', ['if=/dev/zero', `of=${root}/w`, 'bs=1M', `count=${WRITE_MIB}`, 'conv=fsync']);
      const s = secs(t);
      fs.rmSync(`${root}/w`);
      return s;
    },
  ],
  ['fio 4k randread (IOPS)', 'rate', (root) => fioIops(`${root}/fio`, 'randread')],
  ['fio 4k randwrite (IOPS)', 'rate', (root) => fioIops(`${root}/fio`, 'randwrite')],
  [
    `stat ${SMALL} files (s)`,
    'time',
    (root) => {
      dropCaches();
      return small('stat', `${root}/small`);
    },
  ],
  [
    `ls -l of ${SMALL} files (s)`,
    'time',
    (root) => {
      dropCaches();
      const t = now();
      sh('ls', ['-l', `${root}/small`]);
      return secs(t);
    },
  ],
  [
    `cat of ${SMALL} files (s)`,
    'time',
    (root) => {
      dropCaches();
      const t = now();
      sh('sh', ['-c', 'cat "$1"/* > /dev/null', 'sh', `${root}/small`]);
      return secs(t);
    },
  ],
  // sync first (untimed): each target's creates start from a clean journal, not from the previous
  // target's removal still waiting to be written (the targets run in a fixed order; without it the
  // second and third paid for the first's deletes, 0.3-0.6 s of a ~3.5 s row here).
  [
    `create ${SMALL} files (s)`,
    'time',
    (root) => {
      sh('sync', []);
      return small('create', `${root}/small`);
    },
  ],
  [`remove ${SMALL} files (s)`, 'time', (root) => small('remove', `${root}/small`)],
  [
    `lstat latency, TTL 0 (µs)`,
    'time',
    (root) => (small('lstat1', `${root}/small`, LATENCY_N) / LATENCY_N) * 1e6,
    ['attr_timeout=0', 'entry_timeout=0'],
  ],
];

// sync first (untimed): otherwise each sample pays for the writeback of the previous target's 1 GiB.
function copyUp(root) {
  sh('sync', []);
  const t = now();
  sh('touch', [`${root}/big`]);
  return secs(t);
}

const overlayExtra = [
  [`copy-up ${BIG_MIB} MiB (s)`, 'time', copyUp],
  // Without the fsync of the copied-up data that the kernel and layerfs do by default.
  [`copy-up ${BIG_MIB} MiB, volatile (s)`, 'time', copyUp, ['volatile']],
  // A container's `RUN chmod -R`/`chown -R` over a lower tree: a copy-up per file, the lower files
  // not in the page cache (as a layer just pulled or not read since boot); volatile, as
  // containers/storage mounts a container.
  [
    `copy-up of ${SMALL} files, chmod -R, volatile (s)`,
    'time',
    (root) => {
      dropCaches();
      const t = now();
      sh('chmod', ['-R', 'g+w', `${root}/small`]);
      return secs(t);
    },
    ['volatile'],
  ],
  [
    'find + tar of the tree (s)',
    'time',
    (root) => {
      dropCaches();
      const t = now();
      sh('find', [`${root}/tree`, '-printf', '.']);
      sh('sh', ['-c', `tar -cf - -C ${root} tree | wc -c`]);
      return secs(t);
    },
  ],
];

function runSuite(name, suiteTargets, suiteWorkloads, src, mnt) {
  const results = {};
  for (const tname of Object.keys(suiteTargets)) {
    if (ONLY && !ONLY.split(',').includes(tname)) continue;
    results[tname] = {};
  }
  // Interleaved: each repeat runs every target once, so drift on a shared machine hits all alike.
  for (const [label, , fn, mountOpts] of suiteWorkloads) {
    if (WORKLOADS && !WORKLOADS.split(',').some((w) => label.includes(w))) continue;
    const samples = {};
    // Copy-up is bound by this VM's disk, whose speed swings 10× between samples (a plain cp of
    // 1 GiB: 0.4–4.4 s): more samples for its median.
    const runs = label.startsWith('copy-up') ? Math.max(RUNS, 7) : RUNS;
    for (let r = 0; r < runs; r++) {
      for (const tname of Object.keys(results)) {
        const t = suiteTargets[tname];
        // A workload with mount options only means something where the options do (FUSE mounts that take them).
        if (mountOpts && !(t.options === true || mountOpts.every((o) => t.options?.includes(o)))) continue;
        const root = t.mount(src, mnt, mountOpts);
        try {
          warmUp(root);
          (samples[tname] ??= []).push(fn(root));
        } finally {
          t.unmount(mnt);
        }
      }
    }
    for (const [tname, xs] of Object.entries(samples)) {
      results[tname][label] = median(xs);
      process.stderr.write(`bench: ${name}: ${tname.padEnd(28)} ${label.padEnd(28)} ${results[tname][label].toFixed(3)}\n`);
    }
  }
  return results;
}

function main() {
  if (process.getuid() !== 0) throw new Error('the benchmark needs root (drop_caches and mounts)');
  ensureTool('fio', 'fio');
  ensureTool('bindfs', 'bindfs');
  if (SUITE !== 'passthrough' && !POLICIES) {
    ensureTool('fuse-overlayfs', 'fuse-overlayfs');
    if (!haveTool('unionfs-fuse', 'unionfs-fuse')) {
      process.stderr.write('bench: unionfs-fuse cannot be installed; the overlay suite runs without it\n');
      delete overlayTargets['unionfs-fuse'];
    }
  }
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'layerfs-bench-'));
  const src = path.join(work, 'src');
  const mnt = path.join(work, 'mnt');
  fs.mkdirSync(path.join(src, 'small'), { recursive: true });
  fs.mkdirSync(mnt);
  process.stderr.write(`bench: preparing ${BIG_MIB} MiB + ${SMALL} small files in ${work}\n`);
  sh('dd', ['if=/dev/urandom', `of=${src}/big`, 'bs=1M', `count=${BIG_MIB}`]);
  sh('dd', ['if=/dev/urandom', `of=${src}/fio`, 'bs=1M', 'count=256']);
  for (let i = 0; i < SMALL; i++) fs.writeFileSync(path.join(src, 'small', `f${i}`), 'y'.repeat(1000));
  if (SUITE !== 'passthrough' && !POLICIES) {
    // The tree walk: about 10 000 entries of a real project (this checkout's node_modules, ~9 000
    // entries since the lint tools came in; it was ~6 000, copied twice).
    fs.mkdirSync(path.join(src, 'tree'), { recursive: true });
    // realpath: a checkout whose node_modules is a symlink would otherwise copy just the link.
    sh('cp', ['-a', fs.realpathSync(path.resolve(__dirname, '..', 'node_modules')), path.join(src, 'tree', 'a')]);
    process.stderr.write(`bench: tree of ${sh('find', [path.join(src, 'tree'), '-printf', '.']).length} entries\n`);
  }
  if (!ROOTLESS) {
    delete overlayTargets['layerfs-overlay-rootless'];
    delete overlayTargets['layerfs-overlay-rootless' + AGAINST_SUFFIX];
  }
  try {
    if (POLICIES) {
      const wl = workloads.filter(([label]) => !label.startsWith('lstat latency'));
      report(
        runSuite('passthrough with policies', policyTargets, wl, src, mnt),
        wl,
        'layerfs-wire-policies',
        withAgainst(policyTargets, 'layerfs-wire-policies', ['layerfs-wire', 'bindfs-policies']),
        policyTargetChecks,
      );
      const rows = [['--map=65534/0:@65534/@0'], ['--force-user=65534', '--force-group=65534'], ['--perms=0644,a+X']].map((f) => [
        f.join(' '),
        daemonDataRequests(src, mnt, f),
      ]);
      process.stdout.write(
        `\nREAD/WRITE requests reaching the daemon (64 MiB written with fsync, read cold, 1 s each of 4k random read and write):\n${rows.map(([f, n]) => `  ${f}: ${n}`).join('\n')}\n`,
      );
      return;
    }
    if (ROOTLESS) {
      const only = {
        'fuse-overlayfs': overlayTargets['fuse-overlayfs'],
        'layerfs-overlay-rootless': overlayTargets['layerfs-overlay-rootless'],
      };
      const against = 'layerfs-overlay-rootless' + AGAINST_SUFFIX;
      if (overlayTargets[against]) only[against] = overlayTargets[against];
      const wl = [...workloads, ...overlayExtra].filter(([label]) => !label.startsWith('lstat latency'));
      report(
        runSuite('overlay (rootless data path)', only, wl, src, mnt),
        wl,
        'layerfs-overlay-rootless',
        withAgainst(only, 'layerfs-overlay-rootless', ['fuse-overlayfs']),
        rootlessTargets,
      );
      return;
    }
    if (SUITE !== 'overlay')
      report(
        runSuite('passthrough', targets, workloads, src, mnt),
        workloads,
        'layerfs-wire',
        withAgainst(targets, 'layerfs-wire', ['native', 'bindfs', 'layerfs-fuse-native']),
        passthroughTargets,
      );
    if (SUITE !== 'passthrough')
      report(
        runSuite('overlay', overlayTargets, [...workloads, ...overlayExtra], src, mnt),
        [...workloads, ...overlayExtra],
        'layerfs-overlay-wire',
        withAgainst(overlayTargets, 'layerfs-overlay-wire', [
          'kernel-overlay',
          'fuse-overlayfs',
          'layerfs-overlay-fuse-native',
          ...('unionfs-fuse' in overlayTargets ? ['unionfs-fuse'] : []),
        ]),
        overlayTargetChecks,
      );
  } finally {
    for (const t of [...Object.values(targets), ...Object.values(overlayTargets), ...Object.values(policyTargets)]) {
      try {
        t.unmount(mnt);
      } catch {
        /* not mounted */
      }
    }
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** Issue 11's targets: the daemon-served overlay (what a rootless mount gets) against fuse-overlayfs. */
function rootlessTargets(R) {
  const L = R['layerfs-overlay-rootless'];
  const F = R['fuse-overlayfs'];
  if (!L || !F) return [];
  const faster = (label) => F[label] / L[label]; // times: ≥ 1 is at or below fuse-overlayfs's time
  const rate = (label) => L[label] / F[label];
  return [
    ['rootless: cold read ≥ 1.0× fuse-overlayfs', faster(`read ${BIG_MIB} MiB cold (s)`), 1],
    ['rootless: warm read ≥ 1.0× fuse-overlayfs', faster(`read ${BIG_MIB} MiB warm (s)`), 1],
    ['rootless: write + fsync ≥ 1.0× fuse-overlayfs', faster(`write ${WRITE_MIB} MiB + fsync (s)`), 1],
    ['rootless: 4k random read ≥ 1.0× fuse-overlayfs', rate('fio 4k randread (IOPS)'), 1],
    ['rootless: 4k random write ≥ 1.0× fuse-overlayfs', rate('fio 4k randwrite (IOPS)'), 1],
    [`rootless: stat of ${SMALL} files ≤ 1.0× its time`, faster(`stat ${SMALL} files (s)`), 1],
    [`rootless: create of ${SMALL} files ≤ 1.0× its time`, faster(`create ${SMALL} files (s)`), 1],
    [`rootless: remove of ${SMALL} files ≤ 1.0× its time`, faster(`remove ${SMALL} files (s)`), 1],
    ['rootless: find + tar ≤ 1.0× its time', faster('find + tar of the tree (s)'), 1],
  ];
}

/** Issue 12's targets: policies cost the data path nothing, and beat bindfs with the same flags. */
function policyTargetChecks(R) {
  const P = R['layerfs-wire-policies'];
  const W = R['layerfs-wire'];
  const B = R['bindfs-policies'];
  if (!P || !W || !B) return [];
  const cold = `read ${BIG_MIB} MiB cold (s)`;
  const warm = `read ${BIG_MIB} MiB warm (s)`;
  const w = `write ${WRITE_MIB} MiB + fsync (s)`;
  return [
    ['policies: cold read ≥ 0.9× without policies', W[cold] / P[cold], 0.9],
    ['policies: warm read ≥ 0.9× without policies', W[warm] / P[warm], 0.9],
    ['policies: write + fsync ≥ 0.9× without policies', W[w] / P[w], 0.9],
    ['policies: 4k random read ≥ 0.9× without policies', P['fio 4k randread (IOPS)'] / W['fio 4k randread (IOPS)'], 0.9],
    ['policies: 4k random write ≥ 0.9× without policies', P['fio 4k randwrite (IOPS)'] / W['fio 4k randwrite (IOPS)'], 0.9],
    ['policies: write + fsync ≥ 10× bindfs (same flags)', B[w] / P[w], 10],
    ['policies: 4k random write ≥ 10× bindfs (same flags)', P['fio 4k randwrite (IOPS)'] / B['fio 4k randwrite (IOPS)'], 10],
    [`policies: stat of ${SMALL} files ≤ 1.0× bindfs's time`, B[`stat ${SMALL} files (s)`] / P[`stat ${SMALL} files (s)`], 1],
    [`policies: create of ${SMALL} files ≤ 1.0× bindfs's time`, B[`create ${SMALL} files (s)`] / P[`create ${SMALL} files (s)`], 1],
  ];
}

/** Issue 2's targets (layerfs passthrough against native and bindfs) and issue 5's (wire transport). */
function passthroughTargets(R) {
  const W = R['layerfs-wire'];
  const F = R['layerfs-fuse-native'];
  const N = R.native;
  const B = R.bindfs;
  const out = [];
  const cold = `read ${BIG_MIB} MiB cold (s)`;
  const warm = `read ${BIG_MIB} MiB warm (s)`;
  const w = `write ${WRITE_MIB} MiB + fsync (s)`;
  if (W && N && B) {
    out.push(
      ['wire: warm read ≥ 0.9× native', N[warm] / W[warm], 0.9],
      ['wire: cold read ≥ 0.9× native', N[cold] / W[cold], 0.9],
      ['wire: write + fsync ≥ 0.8× native', N[w] / W[w], 0.8],
      ['wire: 4k random write ≥ 0.5× native', W['fio 4k randwrite (IOPS)'] / N['fio 4k randwrite (IOPS)'], 0.5],
      ['wire: cold read ≥ 0.8× bindfs', B[cold] / W[cold], 0.8],
      ['wire: sequential write ≥ 2× bindfs', B[w] / W[w], 2],
      [`wire: stat of ${SMALL} files ≤ 1.5× bindfs's time`, 1.5 / (W[`stat ${SMALL} files (s)`] / B[`stat ${SMALL} files (s)`]), 1],
      [`wire: create of ${SMALL} files ≤ 1.0× bindfs's time`, 1 / (W[`create ${SMALL} files (s)`] / B[`create ${SMALL} files (s)`]), 1],
    );
  }
  if (W && F) {
    const ratio = (label) => W[label] / F[label];
    out.push(
      [`wire: ls -l of ${SMALL} files ≤ 0.5× fuse-native's time`, 0.5 / ratio(`ls -l of ${SMALL} files (s)`), 1],
      [`wire: cat of ${SMALL} files ≤ 0.6× fuse-native's time`, 0.6 / ratio(`cat of ${SMALL} files (s)`), 1],
      [`wire: create of ${SMALL} files ≤ 0.6× fuse-native's time`, 0.6 / ratio(`create ${SMALL} files (s)`), 1],
    );
  }
  return out;
}

/** Issue 3's targets (overlay against fuse-overlayfs) and issue 5's (against the kernel overlay), on the wire transport. */
function overlayTargetChecks(R) {
  const L = R['layerfs-overlay-wire'];
  const F = R['fuse-overlayfs'];
  const K = R['kernel-overlay'];
  if (!L || !F) return [];
  const speed = (label) => F[label] / L[label];
  const out = [
    ['cold read ≥ 0.8× fuse-overlayfs', speed(`read ${BIG_MIB} MiB cold (s)`), 0.8],
    ['warm read ≥ 1.0× fuse-overlayfs', speed(`read ${BIG_MIB} MiB warm (s)`), 1],
    ['write ≥ 1.0× fuse-overlayfs', speed(`write ${WRITE_MIB} MiB + fsync (s)`), 1],
    [`stat of ${SMALL} files ≤ 1.3× its time`, 1.3 * speed(`stat ${SMALL} files (s)`), 1],
    [`create of ${SMALL} files ≤ 1.0× its time`, speed(`create ${SMALL} files (s)`), 1],
    ['tree walk ≤ 1.5× its time', 1.5 * speed('find + tar of the tree (s)'), 1],
    // fuse-overlayfs never fsyncs a copy-up: compared with layerfs doing the same (-o volatile).
    ['copy-up ≤ 1.0× its time (both without fsync)', speed(`copy-up ${BIG_MIB} MiB, volatile (s)`), 1],
    [`ls -l of ${SMALL} files ≤ 0.5× its time`, 0.5 * speed(`ls -l of ${SMALL} files (s)`), 1],
    [`create of ${SMALL} files ≤ 0.5× its time`, 0.5 * speed(`create ${SMALL} files (s)`), 1],
  ];
  if (K) {
    out.push(
      ['cold read of a lower file ≥ 0.9× kernel overlay', K[`read ${BIG_MIB} MiB cold (s)`] / L[`read ${BIG_MIB} MiB cold (s)`], 0.9],
      ['warm read of a lower file ≥ 0.9× kernel overlay', K[`read ${BIG_MIB} MiB warm (s)`] / L[`read ${BIG_MIB} MiB warm (s)`], 0.9],
      ["copy-up ≤ 1.0× the kernel overlay's time (both fsync)", K[`copy-up ${BIG_MIB} MiB (s)`] / L[`copy-up ${BIG_MIB} MiB (s)`], 1],
      ['4k random write ≥ 0.5× kernel overlay', L['fio 4k randwrite (IOPS)'] / K['fio 4k randwrite (IOPS)'], 0.5],
    );
  }
  return out;
}

function report(results, suiteWorkloads, ours, bases, targetChecks) {
  const names = Object.keys(results);
  const fmt = (v, kind) => (v === undefined ? '' : kind === 'rate' ? Math.round(v).toString() : v.toFixed(3));
  // Speed relative to a base: > 1 is faster. For times that is base/ours, for rates ours/base.
  const speed = (label, kind, base) => {
    const a = results[ours]?.[label];
    const b = results[base]?.[label];
    if (a === undefined || b === undefined) return '';
    return (kind === 'rate' ? a / b : b / a).toFixed(2) + '×';
  };
  const lines = [];
  lines.push(`| workload | ${names.join(' | ')} | ${bases.map((b) => `${ours} speed vs ${b}`).join(' | ')} |`);
  lines.push(`|---|${names.map(() => '---').join('|')}|${bases.map(() => '---').join('|')}|`);
  for (const [label, kind] of suiteWorkloads) {
    lines.push(
      `| ${label} | ${names.map((n) => fmt(results[n][label], kind)).join(' | ')} | ${bases.map((b) => speed(label, kind, b)).join(' | ')} |`,
    );
  }
  process.stdout.write(
    `\n${lines.join('\n')}\n\n(speed: > 1× is faster; medians of ${RUNS} runs; ${WARM ? `each mount warmed by ${WARM} untimed passes first; ` : 'each sample a new mount; '}${os.cpus().length} cores, Node ${process.version}, ${new Date().toISOString().slice(0, 10)})\n`,
  );
  const checks = targetChecks(results);
  if (checks.length) {
    process.stdout.write('\n```text\nTargets:\n');
    for (const [what, value, need] of checks) {
      if (Number.isNaN(value)) continue; // a workload left out with --workloads or --only
      process.stdout.write(`  ${value >= need ? 'met   ' : 'MISSED'} ${what} (measured ${value.toFixed(2)}, need ≥ ${need})\n`);
    }
    process.stdout.write('```\n');
  }
}

main();
