#!/usr/bin/env node
// `npm run bench:floor`: how much of a new daemon's cost is the JavaScript request loop itself. Times
// passes of lstat over N files (each pass after drop_caches, so each is N LOOKUPs) on three mounts,
// each new: "floor", layerfs's wire transport serving an in-memory directory (no host syscall, no
// filesystem logic: the transport, the codec and the node table alone), layerfs's overlay over a
// lower directory of N files, and fuse-overlayfs over the same layer. Root (mounts, drop_caches).
//
//   node bench/floor.js [--runs 3] [--passes 3] [--files 3000]
//   node bench/floor.js --serve MNT N     (the floor daemon; the benchmark starts it)
'use strict';
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { setTimeout } = require('node:timers');

const { args, opt } = require('./args');

function serve(mnt, n) {
  const { NodeFsBase, ROOT_NODE, mountFs } = require('@layerfs/fuse-bridge');
  const { chooseTransport } = require('@layerfs/fuse-wire');
  const S_IFDIR = 0o040000;
  const S_IFREG = 0o100000;
  const born = BigInt(Date.now()) * 1000000n;
  const attr = (node) =>
    node === ROOT_NODE
      ? {
          ino: 1n,
          mode: S_IFDIR | 0o555,
          nlink: 2,
          uid: 0,
          gid: 0,
          rdev: 0,
          size: 0n,
          blocks: 0n,
          blksize: 4096,
          atimeNs: born,
          mtimeNs: born,
          ctimeNs: born,
        }
      : {
          ino: BigInt(node),
          mode: S_IFREG | 0o444,
          nlink: 1,
          uid: 0,
          gid: 0,
          rdev: 0,
          size: 2n,
          blocks: 8n,
          blksize: 4096,
          atimeNs: born,
          mtimeNs: born,
          ctimeNs: born,
        };
  const names = new Map(Array.from({ length: n }, (_, i) => [`f${i}`, i + 2]));
  class Floor extends NodeFsBase {
    lookup(_ctx, parent, name) {
      const node = parent === ROOT_NODE ? names.get(name) : undefined;
      return node === undefined ? undefined : { node, generation: 0, attr: attr(node) };
    }
    getattr(_ctx, node) {
      return attr(node);
    }
  }
  mountFs(mnt, new Floor(), { transport: chooseTransport('wire').transport, fsname: 'floor', subtype: 'floor' }).then(
    () => process.stdout.write('mounted\n'),
    (e) => {
      process.stderr.write(`floor: ${e.message}\n`);
      process.exit(1);
    },
  );
}

const sh = (cmd, argv) => execFileSync(cmd, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const mounted = (mnt) => fs.readFileSync('/proc/self/mounts', 'utf8').includes(` ${mnt} `);
async function waitMount(mnt, want) {
  for (let i = 0; i < 200 && mounted(mnt) !== want; i++) await new Promise((r) => setTimeout(r, 25));
  if (mounted(mnt) !== want) throw new Error(`${mnt} did not ${want ? 'mount' : 'unmount'}`);
}
// In a child process, as the other benchmarks do: the timed loop never shares a process with a daemon.
const STAT = `const fs = require('fs'); const [dir, n] = process.argv.slice(1);
const names = Array.from({ length: Number(n) }, (_, i) => dir + '/f' + i);
const t0 = process.hrtime.bigint(); for (const f of names) fs.lstatSync(f);
process.stdout.write(String(Number(process.hrtime.bigint() - t0) / 1e3 / names.length));`;

async function main() {
  if (process.getuid() !== 0) throw new Error('the benchmark needs root (drop_caches and mounts)');
  const RUNS = Number(opt('runs', 3));
  const PASSES = Number(opt('passes', 3));
  const N = Number(opt('files', 3000));
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'layerfs-floor-'));
  const lower = path.join(base, 'lower');
  fs.mkdirSync(path.join(lower, 'small'), { recursive: true });
  for (let i = 0; i < N; i++) fs.writeFileSync(path.join(lower, 'small', `f${i}`), 'x\n');
  const mnt = path.join(base, 'mnt');
  fs.mkdirSync(mnt);
  const cli = path.resolve(__dirname, '..', 'bin', 'layerfs');
  const fresh = () => {
    for (const d of ['upper', 'work']) fs.rmSync(path.join(base, d), { recursive: true, force: true });
    for (const d of ['upper', 'work']) fs.mkdirSync(path.join(base, d));
    return `lowerdir=${lower},upperdir=${base}/upper,workdir=${base}/work`;
  };
  const targets = {
    floor: {
      mount: async () => {
        const child = spawn(process.execPath, [path.join(__dirname, 'floor.js'), '--serve', mnt, String(N)], {
          stdio: 'ignore',
          detached: true,
        });
        child.unref();
        await waitMount(mnt, true);
        return mnt;
      },
    },
    'layerfs-overlay-wire': {
      mount: async () => {
        sh(process.execPath, [cli, 'overlay', '--transport', 'wire', '-o', fresh(), mnt]);
        return path.join(mnt, 'small');
      },
    },
    'fuse-overlayfs': {
      mount: async () => {
        sh('fuse-overlayfs', ['-o', fresh(), mnt]);
        return path.join(mnt, 'small');
      },
    },
  };
  const samples = {};
  for (let r = 0; r < RUNS; r++) {
    for (const [name, t] of Object.entries(targets)) {
      const dir = await t.mount();
      try {
        for (let p = 0; p < PASSES; p++) {
          sh('sync', []);
          fs.writeFileSync('/proc/sys/vm/drop_caches', '3');
          ((samples[name] ??= [])[p] ??= []).push(Number(sh(process.execPath, ['-e', STAT, dir, String(N)])));
        }
      } finally {
        sh('umount', [mnt]);
        await waitMount(mnt, false);
      }
    }
  }
  fs.rmSync(base, { recursive: true, force: true });
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const passes = Array.from({ length: PASSES }, (_, p) => `pass ${p + 1}`);
  const lines = [`| µs per lstat (a LOOKUP each) | ${passes.join(' | ')} |`, `|---|${passes.map(() => '---').join('|')}|`];
  for (const name of Object.keys(targets)) lines.push(`| ${name} | ${samples[name].map((xs) => median(xs).toFixed(1)).join(' | ')} |`);
  const vs = (name) => samples[name].map((xs, p) => `${(median(samples['fuse-overlayfs'][p]) / median(xs)).toFixed(2)}×`);
  for (const name of ['floor', 'layerfs-overlay-wire']) lines.push(`| ${name} speed vs fuse-overlayfs | ${vs(name).join(' | ')} |`);
  process.stdout.write(
    `\n${lines.join('\n')}\n\n(each run a new mount of each target; medians of ${RUNS}; ${N} files; ${os.cpus().length} cores, Node ${process.version})\n`,
  );
}

if (args[0] === '--serve') serve(args[1], Number(args[2]));
else
  main().catch((e) => {
    process.stderr.write(`floor: ${e.message}\n`);
    process.exit(1);
  });
