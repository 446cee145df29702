#!/usr/bin/env node
// One-time (and idempotent) setup, run by `npm start`, `npm test` and `npm run bench` before they do
// anything: system packages, npm dependencies, the TypeScript build and the patched fuse-native
// binding. Each step is skipped when already done, so a second run costs a few stat calls.
// Uses only Node built-ins: it runs before node_modules exists.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const quiet = process.argv.includes('--quiet');
const say = (s) => {
  if (!quiet) process.stderr.write(`setup: ${s}\n`);
};
const isRoot = process.getuid && process.getuid() === 0;

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'], cwd: root, ...opts });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  return r.status === 0;
}

function fail(msg) {
  process.stderr.write(`setup: ${msg}\n`);
  process.exit(1);
}

// -- system packages -------------------------------------------------------------------------------
function hasLib(name) {
  const r = spawnSync('ldconfig', ['-p'], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.includes(name);
}

/** Install Debian packages; `optional` ones only warn when they cannot be had. */
function ensureApt(packages, why, { optional = false } = {}) {
  const missing = packages.filter((p) => !dpkgInstalled(p));
  if (missing.length === 0) return;
  const give = optional ? (msg) => say(`warning: ${msg}; the tests that need them are skipped`) : fail;
  if (!isRoot || !fs.existsSync('/usr/bin/apt-get')) {
    give(`${why} needs the Debian packages ${missing.join(' ')}: install them (apt-get install -y ${missing.join(' ')}) and run again`);
    return;
  }
  say(`installing ${missing.join(' ')} (${why})`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  // Another apt (unattended-upgrades on a fresh machine) may hold the lock: wait for it, up to 5 min.
  const lock = ['-o', 'DPkg::Lock::Timeout=300'];
  if (!run('apt-get', [...lock, 'install', '-y', '-qq', ...missing], { env })) {
    run('apt-get', [...lock, 'update', '-qq'], { env });
    if (!run('apt-get', [...lock, 'install', '-y', '-qq', ...missing], { env }))
      give(`apt-get could not install ${missing.join(' ')} (if another package manager was running, run again once it is done)`);
  }
}

function dpkgInstalled(pkg) {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.includes('install ok installed');
}

if (process.platform !== 'linux') fail('layerfs runs on Linux (FUSE); this is ' + process.platform);
if (!fs.existsSync('/dev/fuse')) fail('/dev/fuse is missing: load the fuse module (modprobe fuse) or run where FUSE is available');
if (!hasLib('libfuse.so.2')) ensureApt(['libfuse2'], 'fuse-native');
// Tools some tests compare against (fuse-overlayfs for interop): CI asks for them through
// LAYERFS_SETUP_EXTRA; where they cannot be installed, those tests are skipped, not failed.
const extra = process.env.LAYERFS_SETUP_EXTRA;
if (extra) ensureApt(extra.split(',').filter(Boolean), 'the interop tests', { optional: true });

// -- npm dependencies ------------------------------------------------------------------------------
const lock = path.join(root, 'package-lock.json');
const stamp = path.join(root, 'node_modules', '.package-lock.json');
const depsStale = !fs.existsSync(stamp) || fs.statSync(stamp).mtimeMs < fs.statSync(lock).mtimeMs;
if (depsStale) {
  say('installing npm dependencies (npm ci)');
  if (!run('npm', ['ci', '--no-audit', '--no-fund'])) fail('npm ci failed; see above');
}

// -- the patched fuse-native binding ---------------------------------------------------------------
const nativeDir = path.join(root, 'packages', 'fuse-bridge', 'native');
const { PATCH_VERSION, writePatchedSource } = require(path.join(nativeDir, 'patch-fuse-native.js'));
const fuseNativeDir = path.dirname(require.resolve('fuse-native/package.json', { paths: [root] }));
const installed = path.join(fuseNativeDir, 'build', 'Release', 'fuse.node');
const marker = path.join(fuseNativeDir, 'build', 'layerfs-patch.json');
const markerOk = fs.existsSync(installed) && fs.existsSync(marker) && JSON.parse(fs.readFileSync(marker, 'utf8')).version === PATCH_VERSION;
if (!markerOk) {
  say('building fuse-native with the layerfs fixes (utimens, create flags, 64-bit inodes, ns times)');
  writePatchedSource(path.join(nativeDir, 'build-src'));
  const gyp = findNodeGyp();
  const nodedir = path.resolve(process.execPath, '..', '..');
  const args = [gyp, 'rebuild', '--directory', nativeDir, '--loglevel=error'];
  if (fs.existsSync(path.join(nodedir, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${nodedir}`);
  const ok = gyp && run(process.execPath, args, { stdio: ['ignore', quiet ? 'ignore' : 'inherit', 'inherit'] });
  if (!ok) {
    if (process.env.LAYERFS_REQUIRE_PATCHED) fail('building the patched fuse-native failed (needs python3, make, g++ and Node headers)');
    say(
      'warning: could not build the patched fuse-native (needs python3, make, g++ and Node headers); ' +
        'using the stock binding: utimens loses mtime and create loses its flags',
    );
  } else {
    fs.mkdirSync(path.dirname(installed), { recursive: true });
    fs.copyFileSync(path.join(nativeDir, 'build', 'Release', 'fuse.node'), installed);
    fs.writeFileSync(marker, JSON.stringify({ version: PATCH_VERSION }));
  }
}

function findNodeGyp() {
  const candidates = [];
  if (process.env.npm_execpath)
    candidates.push(path.join(path.dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  const npmRoot = spawnSync('npm', ['root', '-g'], { encoding: 'utf8' }).stdout?.trim();
  if (npmRoot) candidates.push(path.join(npmRoot, 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  candidates.push(
    path.resolve(process.execPath, '..', '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  );
  return candidates.find((c) => fs.existsSync(c));
}

// -- TypeScript ------------------------------------------------------------------------------------
if (!run(path.join(root, 'node_modules', '.bin', 'tsc'), ['-b'])) fail('the TypeScript build failed; see above');
if (!run(process.execPath, [path.join(root, 'scripts', 'bundle.js')])) fail('bundling the mount program failed; see above');
