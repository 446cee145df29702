#!/usr/bin/env node
// `npm run bench:memory`: the daemon's peak resident set (VmHWM) after `du -s` and `ls -lR` over
// 100 000 files (100 directories × 1 000), for the overlay (the files in its lower layer) and
// passthrough, on both transports. The bound asked for is 300 MB: caches must stay bounded however
// many files are walked. Needs root (mounts).
//
//   node bench/memory.js [--dirs N] [--files N]
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const { opt } = require('./args');

const DIRS = Number(opt('dirs', 100));
const FILES = Number(opt('files', 1000));
const BOUND_MB = 300;
const CLI = path.resolve(__dirname, '..', 'bin', 'layerfs');

const sh = (cmd, argv) => execFileSync(cmd, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 30 });

/** The pid of the daemon serving `mnt` (the CLI's "daemon pid N" / "pid N" in its ready line). */
function mount(argv) {
  const out = sh(process.execPath, [CLI, ...argv]);
  const m = /pid (\d+)/.exec(out);
  if (!m) throw new Error(`no daemon pid in: ${out}`);
  return Number(m[1]);
}

function peakMb(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)[1]) / 1024;
}

function main() {
  if (process.getuid() !== 0) throw new Error('the memory benchmark needs root (mounts)');
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'layerfs-mem-'));
  const src = path.join(work, 'src');
  const mnt = path.join(work, 'mnt');
  fs.mkdirSync(mnt);
  process.stderr.write(`bench: making ${DIRS} × ${FILES} files in ${src}\n`);
  for (let d = 0; d < DIRS; d++) {
    const dir = path.join(src, `d${d}`);
    fs.mkdirSync(dir, { recursive: true });
    for (let f = 0; f < FILES; f++) fs.writeFileSync(path.join(dir, `f${f}`), '');
  }
  const rows = [];
  try {
    for (const fsName of ['overlay', 'passthrough']) {
      for (const transport of ['wire', 'fuse-native']) {
        const rw = path.join(work, 'rw');
        fs.rmSync(rw, { recursive: true, force: true });
        fs.mkdirSync(path.join(rw, 'upper'), { recursive: true });
        fs.mkdirSync(path.join(rw, 'work'));
        const argv =
          fsName === 'overlay'
            ? ['overlay', '-o', `lowerdir=${src},upperdir=${rw}/upper,workdir=${rw}/work`, '--transport', transport, mnt]
            : ['passthrough', src, mnt, '--transport', transport];
        const pid = mount(argv);
        try {
          const t0 = process.hrtime.bigint();
          sh('du', ['-s', mnt]);
          sh('sh', ['-c', 'ls -lR "$1" | wc -l', 'sh', mnt]);
          const secs = Number(process.hrtime.bigint() - t0) / 1e9;
          const mb = peakMb(pid);
          rows.push([fsName, transport, mb, secs]);
          process.stderr.write(`bench: ${fsName} on ${transport}: VmHWM ${mb.toFixed(0)} MB (walks took ${secs.toFixed(1)} s)\n`);
        } finally {
          sh(process.execPath, [CLI, 'umount', mnt]);
        }
      }
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  const lines = [
    `| filesystem | transport | daemon VmHWM (MB) | du -s + ls -lR (s) | under ${BOUND_MB} MB |`,
    '|---|---|---|---|---|',
    ...rows.map(([f, t, mb, s]) => `| ${f} | ${t} | ${mb.toFixed(0)} | ${s.toFixed(1)} | ${mb < BOUND_MB ? 'yes' : 'NO'} |`),
  ];
  process.stdout.write(
    `\n${lines.join('\n')}\n\n(${DIRS * FILES} files; ${os.cpus().length} cores, Node ${process.version}, ${new Date().toISOString().slice(0, 10)})\n`,
  );
  if (rows.some(([, , mb]) => mb >= BOUND_MB)) process.exitCode = 1;
}

main();
