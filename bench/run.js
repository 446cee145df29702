#!/usr/bin/env node
// `npm run bench`: layerfs passthrough against native and bindfs, in one run, on the same data.
// Prints a markdown table of medians and ratios, and the targets from issue 2. Absolute numbers on a
// shared machine are noise; compare the ratios. Needs root (drop_caches, mounts); installs fio and
// bindfs with apt when missing.
//
//   node bench/run.js [--runs N] [--big-mib N] [--small N] [--only native,layerfs,bindfs,layerfs-async]
'use strict';
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const RUNS = Number(opt('runs', 3));
const BIG_MIB = Number(opt('big-mib', 1024));
const WRITE_MIB = Math.min(512, BIG_MIB);
const SMALL = Number(opt('small', 3000));
const ONLY = opt('only', 'native,layerfs,layerfs-async,bindfs').split(',');
const CLI = path.resolve(__dirname, '..', 'bin', 'layerfs');

function sh(cmd, argv, o = {}) {
  return execFileSync(cmd, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...o });
}
function ensureTool(bin, pkg) {
  if (spawnSync('which', [bin]).status === 0) return;
  process.stderr.write(`bench: installing ${pkg}\n`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (spawnSync('apt-get', ['install', '-y', '-qq', pkg], { stdio: 'inherit', env }).status !== 0) {
    spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    if (spawnSync('apt-get', ['install', '-y', '-qq', pkg], { stdio: 'inherit', env }).status !== 0) throw new Error(`cannot install ${pkg}`);
  }
}
const dropCaches = () => { sh('sync', []); fs.writeFileSync('/proc/sys/vm/drop_caches', '3'); };
const now = () => process.hrtime.bigint();
const secs = (t0) => Number(now() - t0) / 1e9;
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

// A helper process does the small-file loops, so the timed code never shares a process with a daemon.
const SMALL_SCRIPT = `
const fs = require('fs'); const path = require('path');
const [op, dir, n] = process.argv.slice(1); const N = Number(n);
const names = Array.from({ length: N }, (_, i) => path.join(dir, 'f' + i));
const create = () => { for (const f of names) fs.writeFileSync(f + '.new', 'x'.repeat(100)); };
const remove = () => { for (const f of names) fs.unlinkSync(f + '.new'); };
if (op === 'remove') create(); // untimed: something to remove
const t0 = process.hrtime.bigint();
if (op === 'stat') for (const f of names) fs.lstatSync(f);
if (op === 'read') for (const f of names) fs.readFileSync(f);
if (op === 'create') create();
if (op === 'remove') remove();
const t = Number(process.hrtime.bigint() - t0) / 1e9;
if (op === 'create') remove(); // untimed: leave the tree as it was
process.stdout.write(String(t));
`;
const small = (op, dir) => Number(sh(process.execPath, ['-e', SMALL_SCRIPT, op, dir, String(SMALL)]));

function fioIops(file, rw) {
  const out = sh('fio', ['--name=b', `--filename=${file}`, '--size=256M', `--rw=${rw}`, '--bs=4k', '--ioengine=psync',
    '--invalidate=0', '--runtime=8', '--time_based', '--output-format=json']);
  const job = JSON.parse(out.slice(out.indexOf('{'))).jobs[0];
  return rw === 'randread' ? job.read.iops : job.write.iops;
}

const targets = {
  native: { mount: (src) => src, unmount: () => {} },
  layerfs: {
    mount: (src, mnt) => { sh(process.execPath, [CLI, 'passthrough', src, mnt]); return mnt; },
    unmount: (mnt) => { sh(process.execPath, [CLI, 'umount', mnt]); waitGone(mnt); },
  },
  'layerfs-async': {
    mount: (src, mnt) => { sh(process.execPath, [CLI, 'passthrough', src, mnt, '-o', 'metadata=async']); return mnt; },
    unmount: (mnt) => { sh(process.execPath, [CLI, 'umount', mnt]); waitGone(mnt); },
  },
  bindfs: {
    mount: (src, mnt) => { sh('bindfs', [src, mnt]); return mnt; },
    unmount: (mnt) => { sh('umount', [mnt]); waitGone(mnt); },
  },
};

function waitGone(mnt) {
  for (let i = 0; i < 200; i++) {
    if (!fs.readFileSync('/proc/self/mounts', 'utf8').includes(` ${mnt} `)) return;
    spawnSync('sleep', ['0.05']);
  }
}

const readBig = (root) => sh('dd', [`if=${root}/big`, 'of=/dev/null', 'bs=1M']);

const workloads = [
  [`read ${BIG_MIB} MiB cold (s)`, 'time', (root) => { dropCaches(); const t = now(); readBig(root); return secs(t); }],
  // Warm: two untimed reads first (the second moves the pages to the active list), then the timed one.
  [`read ${BIG_MIB} MiB warm (s)`, 'time', (root) => { readBig(root); readBig(root); const t = now(); readBig(root); return secs(t); }],
  [`write ${WRITE_MIB} MiB + fsync (s)`, 'time', (root) => { const t = now(); sh('dd', ['if=/dev/zero', `of=${root}/w`, 'bs=1M', `count=${WRITE_MIB}`, 'conv=fsync']); const s = secs(t); fs.rmSync(`${root}/w`); return s; }],
  ['fio 4k randread (IOPS)', 'rate', (root) => fioIops(`${root}/fio`, 'randread')],
  ['fio 4k randwrite (IOPS)', 'rate', (root) => fioIops(`${root}/fio`, 'randwrite')],
  [`stat ${SMALL} files (s)`, 'time', (root) => { dropCaches(); return small('stat', `${root}/small`); }],
  [`read ${SMALL} files (s)`, 'time', (root) => { dropCaches(); return small('read', `${root}/small`); }],
  [`create ${SMALL} files (s)`, 'time', (root) => small('create', `${root}/small`)],
  [`remove ${SMALL} files (s)`, 'time', (root) => small('remove', `${root}/small`)],
];

function main() {
  if (process.getuid() !== 0) throw new Error('the benchmark needs root (drop_caches and mounts)');
  ensureTool('fio', 'fio');
  ensureTool('bindfs', 'bindfs');
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'layerfs-bench-'));
  const src = path.join(work, 'src');
  const mnt = path.join(work, 'mnt');
  fs.mkdirSync(path.join(src, 'small'), { recursive: true });
  fs.mkdirSync(mnt);
  process.stderr.write(`bench: preparing ${BIG_MIB} MiB + ${SMALL} small files in ${work}\n`);
  sh('dd', ['if=/dev/urandom', `of=${src}/big`, 'bs=1M', `count=${BIG_MIB}`]);
  sh('dd', ['if=/dev/urandom', `of=${src}/fio`, 'bs=1M', 'count=256']);
  for (let i = 0; i < SMALL; i++) fs.writeFileSync(path.join(src, 'small', `f${i}`), 'y'.repeat(1000));
  const results = {};
  try {
    for (const name of ONLY) {
      const t = targets[name];
      results[name] = {};
      for (const [label, , fn] of workloads) {
        const samples = [];
        for (let r = 0; r < RUNS; r++) {
          const root = t.mount(src, mnt);
          try { samples.push(fn(root)); } finally { t.unmount(mnt); }
        }
        results[name][label] = median(samples);
        process.stderr.write(`bench: ${name.padEnd(14)} ${label.padEnd(28)} ${results[name][label].toFixed(3)}\n`);
      }
    }
  } finally {
    for (const t of Object.values(targets)) { try { t.unmount(mnt); } catch { /* not mounted */ } }
    fs.rmSync(work, { recursive: true, force: true });
  }
  report(results);
}

function report(results) {
  const names = Object.keys(results);
  const fmt = (v, kind) => (kind === 'rate' ? Math.round(v).toString() : v.toFixed(3));
  // Speed relative to native: > 1 is faster than native. For times that is native/target, for rates target/native.
  const speed = (name, label, kind, base) => {
    const a = results[name][label]; const b = results[base]?.[label];
    if (a === undefined || b === undefined) return '';
    return (kind === 'rate' ? a / b : b / a).toFixed(2) + '×';
  };
  const lines = [];
  lines.push(`| workload | ${names.join(' | ')} | layerfs speed vs native | layerfs speed vs bindfs |`);
  lines.push(`|---|${names.map(() => '---').join('|')}|---|---|`);
  for (const [label, kind] of workloads) {
    lines.push(`| ${label} | ${names.map((n) => fmt(results[n][label], kind)).join(' | ')} | ${speed('layerfs', label, kind, 'native')} | ${speed('layerfs', label, kind, 'bindfs')} |`);
  }
  process.stdout.write(`\n${lines.join('\n')}\n\n(speed: > 1× is faster; medians of ${RUNS} runs; ${os.cpus().length} cores, Node ${process.version}, ${new Date().toISOString().slice(0, 10)})\n`);
  if (results.layerfs && results.native && results.bindfs) {
    const L = results.layerfs; const N = results.native; const B = results.bindfs;
    const w = `write ${WRITE_MIB} MiB + fsync (s)`;
    const checks = [
      ['warm read ≥ 0.9× native', N[`read ${BIG_MIB} MiB warm (s)`] / L[`read ${BIG_MIB} MiB warm (s)`], 0.9],
      ['cold read ≥ 0.8× bindfs', B[`read ${BIG_MIB} MiB cold (s)`] / L[`read ${BIG_MIB} MiB cold (s)`], 0.8],
      ['sequential write ≥ 2× bindfs', B[w] / L[w], 2],
      [`stat of ${SMALL} files ≤ 1.5× bindfs's time`, 1.5 / (L[`stat ${SMALL} files (s)`] / B[`stat ${SMALL} files (s)`]), 1],
      [`create of ${SMALL} files ≤ 1.0× bindfs's time`, 1 / (L[`create ${SMALL} files (s)`] / B[`create ${SMALL} files (s)`]), 1],
    ];
    process.stdout.write('\nTargets (issue 2):\n');
    for (const [what, value, need] of checks) {
      process.stdout.write(`  ${value >= need ? 'met   ' : 'MISSED'} ${what} (measured ${(value).toFixed(2)}, need ≥ ${need})\n`);
    }
  }
}

main();
