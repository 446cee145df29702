// The mount program (bin/layerfs-overlay, podman's mount_program) compiles its bundle with the code
// cache the build stored; V8 takes that cache only from the same Node under the same V8 flags, and a
// refused cache is silent: every container mount would compile the bundle from scratch (~40 ms).
// So: the cache the build made is taken by a loader started as the mount program starts it, and
// refused under another V8 flag (the check that would notice the loader or the build ever setting
// flags the other does not).
import * as path from 'node:path';
import { run } from '../helpers/run';

const DIST = path.resolve(__dirname, '..', '..', 'bin', 'dist');

const SCRIPT = `
const [dist, other] = process.argv.slice(1);
const fs = require('fs'), vm = require('vm'), Module = require('module');
const { BUNDLE, CACHE, bundleIsCurrent } = require(dist + '/mount-program.js');
if (other) require('v8').setFlagsFromString(other);
const script = new vm.Script(Module.wrap(fs.readFileSync(BUNDLE, 'utf8')), { filename: BUNDLE, cachedData: fs.readFileSync(CACHE) });
console.log(JSON.stringify({ current: bundleIsCurrent([BUNDLE, CACHE]), rejected: script.cachedDataRejected }));
`;

test("the mount program's code cache is taken as the mount program loads it, and refused under other V8 flags", async () => {
  const asLoaded = await run(process.execPath, ['-e', SCRIPT, DIST]);
  expect(asLoaded.stderr).toBe('');
  expect(JSON.parse(asLoaded.stdout)).toEqual({ current: true, rejected: false });
  const other = await run(process.execPath, ['-e', SCRIPT, DIST, '--interrupt-budget=12345']);
  expect(other.stderr).toBe('');
  expect(JSON.parse(other.stdout)).toEqual({ current: true, rejected: true });
});
