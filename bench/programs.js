#!/usr/bin/env node
// `npm run bench:programs`: real programs through the mount, as issue 10 measures them: `git add` +
// `git commit` of a 1 000-file tree, and sqlite with two writers and a reader, in rollback-journal
// and WAL modes. The overlay (wire transport, kernel passthrough where the kernel has it) against
// fuse-overlayfs and the kernel's overlay; the passthrough against bindfs and the source itself.
// Every sample on a fresh mount (a fresh upper layer for the overlays); the targets interleaved;
// medians and ratios. Needs root; git, sqlite3, fuse-overlayfs and bindfs (installed when missing).
//
//   node bench/programs.js [--runs N]
'use strict';
const { execFileSync, spawnSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const args = process.argv.slice(2);
const RUNS = Number(args[args.indexOf('--runs') + 1] || 3) || 3;
const CLI = path.resolve(__dirname, '..', 'bin', 'layerfs');
const ROWS = 2000;

function sh(cmd, argv, o = {}) {
  return execFileSync(cmd, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20, ...o });
}
for (const [bin, pkg] of [
  ['git', 'git'],
  ['sqlite3', 'sqlite3'],
  ['fuse-overlayfs', 'fuse-overlayfs'],
  ['bindfs', 'bindfs'],
]) {
  if (spawnSync('which', [bin]).status !== 0) {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    spawnSync('apt-get', ['install', '-y', '-qq', pkg], { stdio: 'inherit', env });
  }
}
if (process.getuid() !== 0) throw new Error('the benchmark needs root (mounts)');

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'layerfs-programs-'));
const lower = path.join(base, 'lower');
const src = path.join(base, 'src');
const mnt = path.join(base, 'mnt');
for (const d of [lower, src, mnt]) fs.mkdirSync(d);
// The tree git adds: 1 000 files of a few hundred bytes in 20 directories, in the lower layer for the
// overlays (so the commit copies up nothing but the new .git) and copied into the mount otherwise.
const tree = path.join(base, 'tree');
for (let d = 0; d < 20; d++) {
  fs.mkdirSync(path.join(tree, `d${d}`), { recursive: true });
  for (let f = 0; f < 50; f++) fs.writeFileSync(path.join(tree, `d${d}`, `f${f}.txt`), `file ${d}/${f}\n`.repeat(20));
}
sh('cp', ['-a', tree, path.join(lower, 'tree')]);

function freshUpper() {
  const rw = path.join(base, 'rw');
  fs.rmSync(rw, { recursive: true, force: true });
  fs.mkdirSync(path.join(rw, 'upper'), { recursive: true });
  fs.mkdirSync(path.join(rw, 'work'));
  return { upper: path.join(rw, 'upper'), work: path.join(rw, 'work') };
}
function freshSource() {
  fs.rmSync(src, { recursive: true, force: true });
  fs.mkdirSync(src);
  sh('cp', ['-a', tree, path.join(src, 'tree')]);
}
const waitGone = () => {
  for (let i = 0; i < 100 && fs.readFileSync('/proc/self/mounts', 'utf8').includes(` ${mnt} `); i++) spawnSync('sleep', ['0.05']);
};

const overlay = {
  'kernel-overlay': () => {
    const { upper, work } = freshUpper();
    sh('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${upper},workdir=${work}`, mnt]);
  },
  'layerfs-overlay': () => {
    const { upper, work } = freshUpper();
    sh(process.execPath, [CLI, 'overlay', mnt, '-o', `lowerdir=${lower},upperdir=${upper},workdir=${work}`]);
  },
  'fuse-overlayfs': () => {
    const { upper, work } = freshUpper();
    sh('fuse-overlayfs', ['-o', `lowerdir=${lower},upperdir=${upper},workdir=${work}`, mnt]);
  },
};
const passthrough = {
  native: null,
  'layerfs-passthrough': () => {
    freshSource();
    sh(process.execPath, [CLI, 'passthrough', src, mnt]);
  },
  bindfs: () => {
    freshSource();
    sh('bindfs', [src, mnt]);
  },
};

const now = () => process.hrtime.bigint();
const secs = (t0) => Number(now() - t0) / 1e9;

function gitCommit(root) {
  const dir = path.join(root, 'tree');
  const git = (...a) => sh('git', ['-C', dir, '-c', 'user.name=bench', '-c', 'user.email=bench@example.invalid', ...a]);
  git('init', '-q');
  const t = now();
  git('add', '-A');
  git('commit', '-q', '-m', 'tree');
  return secs(t);
}

/** Two writers inserting ROWS rows each in small transactions, and a reader counting, at once. */
async function sqlite(root, mode) {
  const db = path.join(root, `bench-${mode}.db`);
  sh('sqlite3', [db, `PRAGMA journal_mode=${mode}; CREATE TABLE t (w INTEGER, i INTEGER, v TEXT);`]);
  const writer = (w) => {
    let sql = `.timeout 20000\nPRAGMA journal_mode=${mode};\n`;
    for (let i = 0; i < ROWS; i += 20) {
      sql += 'BEGIN IMMEDIATE;\n';
      for (let k = i; k < i + 20; k++) sql += `INSERT INTO t VALUES (${w}, ${k}, '${'x'.repeat(100)}');\n`;
      sql += 'COMMIT;\n';
    }
    return sql;
  };
  const reader = `.timeout 20000\n${'SELECT count(*) FROM t;\n'.repeat(200)}`;
  const runSql = (sql) =>
    new Promise((resolve, reject) => {
      const p = spawn('sqlite3', [db], { stdio: ['pipe', 'ignore', 'pipe'] });
      let err = '';
      p.stderr.on('data', (d) => (err += d));
      p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`sqlite3 exited ${code}: ${err}`))));
      p.stdin.end(sql);
    });
  const t = now();
  await Promise.all([runSql(writer(1)), runSql(writer(2)), runSql(reader)]);
  const s = secs(t);
  const n = Number(sh('sqlite3', [db, 'SELECT count(*) FROM t;']).trim());
  if (n !== 2 * ROWS) throw new Error(`sqlite ${mode}: ${n} rows, expected ${2 * ROWS}`);
  return s;
}

const workloads = [
  ['git add + commit of 1 000 files (s)', (root) => gitCommit(root)],
  ['sqlite, 2 writers + 1 reader, rollback journal (s)', (root) => sqlite(root, 'DELETE')],
  ['sqlite, 2 writers + 1 reader, WAL (s)', (root) => sqlite(root, 'WAL')],
];

async function suite(targets) {
  const out = {};
  for (const [label, fn] of workloads) {
    for (let r = 0; r < RUNS; r++) {
      for (const [name, mount] of Object.entries(targets)) {
        let root = mnt;
        if (mount) mount();
        else {
          freshSource();
          root = src;
        }
        try {
          sh('sync', []);
          ((out[name] ??= {})[label] ??= []).push(await fn(root));
        } finally {
          if (mount) {
            sh('umount', [mnt]);
            waitGone();
          }
        }
        process.stderr.write(`bench: ${name.padEnd(20)} ${label.padEnd(50)} ${out[name][label].at(-1).toFixed(3)}\n`);
      }
    }
  }
  return out;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
function table(title, out, ours, others) {
  const names = Object.keys(out);
  let s = `\n${title}\n\n| workload | ${names.join(' | ')} | ${others.map((o) => `${ours} speed vs ${o}`).join(' | ')} |\n`;
  s += `|${'---|'.repeat(1 + names.length + others.length)}\n`;
  for (const [label] of workloads) {
    const m = Object.fromEntries(names.map((n) => [n, median(out[n][label])]));
    s += `| ${label} | ${names.map((n) => m[n].toFixed(3)).join(' | ')} | ${others.map((o) => `${(m[o] / m[ours]).toFixed(2)}×`).join(' | ')} |\n`;
  }
  return s;
}

(async () => {
  try {
    const o = await suite(overlay);
    const p = await suite(passthrough);
    process.stdout.write(table('Overlay', o, 'layerfs-overlay', ['fuse-overlayfs', 'kernel-overlay']));
    process.stdout.write(table('Passthrough', p, 'layerfs-passthrough', ['bindfs', 'native']));
    process.stdout.write(`\n(speed: > 1× is faster; medians of ${RUNS}; ${new Date().toISOString().slice(0, 10)})\n`);
  } finally {
    spawnSync('umount', [mnt]);
    fs.rmSync(base, { recursive: true, force: true });
  }
})().catch((err) => {
  process.stderr.write(`bench: ${err.stack || err}\n`);
  process.exitCode = 1;
});
