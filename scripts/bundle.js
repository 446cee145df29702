#!/usr/bin/env node
// Build step after tsc: the mount program's daemon (bin/dist/overlay-main.js and the packages it
// loads) joined into one file, bin/dist/overlay-main.bundle.js, plus V8's code cache for it, which
// bin/dist/mount-program.js loads. A container mount waits for the mount program's start-up; one
// compiled-and-cached file instead of ~60 modules takes ~40 ms off each mount (bin/src/mount-program.ts).
// esbuild does the joining: a resolver and CommonJS bundler is what it is for, and well kept.
// Skipped when the bundle is newer than every file it was made of (setup runs this on every npm
// start/test/bench).
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const dist = path.join(root, 'bin', 'dist');
const bundle = path.join(dist, 'overlay-main.bundle.js');
const inputsFile = `${bundle}.inputs.json`;

// The loader's own check (bin/src/mount-program.ts), with the cache as a second output.
const loader = require(path.join(dist, 'mount-program.js'));
if (!process.argv.includes('--force') && loader.bundleIsCurrent([loader.BUNDLE, loader.CACHE])) process.exit(0);

const esbuild = require('esbuild');
const result = esbuild.buildSync({
  entryPoints: [path.join(dist, 'overlay-main.js')],
  outfile: bundle,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  // Native addons and what finds them stay where npm put them; ./cli (yargs, the whole CLI) is
  // loaded only for --help, --version and the foreground.
  external: ['koffi', 'fuse-native', 'node-gyp-build', './cli'],
  absWorkingDir: root,
  metafile: true,
  logLevel: 'warning',
});
const inputs = Object.keys(result.metafile.inputs).map((f) => path.relative(root, path.resolve(root, f)));
// The cache is written by the loader itself, so it is made by the same Node and flags that use it.
const r = spawnSync(process.execPath, [path.join(dist, 'mount-program.js'), '--write-code-cache'], {
  stdio: ['ignore', 'inherit', 'inherit'],
});
if (r.status !== 0) {
  process.stderr.write('bundle: writing the code cache failed; see above\n');
  process.exit(1);
}
fs.writeFileSync(inputsFile, JSON.stringify(inputs));
