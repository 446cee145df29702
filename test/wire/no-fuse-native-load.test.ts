// Package boundaries: a process that serves a mount on the wire transport never loads the
// fuse-native binding (nor libfuse): the interface package loads it only when that transport starts.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { run } from '../helpers/run';
import { sourceAndMountpoint } from '../helpers/scratch';

const SCRIPT = `
const { mountPassthrough } = require('@layerfs/passthrough');
(async () => {
  const m = await mountPassthrough({ source: process.argv[1], mountpoint: process.argv[2], transport: 'wire' });
  const loaded = Object.keys(require.cache).filter((k) => k.includes('node_modules/fuse-native') || k.endsWith('transport.js') && k.includes('fuse-native'));
  const maps = require('fs').readFileSync('/proc/self/maps', 'utf8');
  await m.unmount();
  console.log(JSON.stringify({ loaded, libfuse: maps.includes('libfuse') }));
})().catch((e) => { console.error(e); process.exit(1); });
`;

test('serving on the wire transport loads neither fuse-native nor libfuse', async () => {
  const t = sourceAndMountpoint({ f: 'x' });
  try {
    const root = path.resolve(__dirname, '..', '..');
    const r = await run(process.execPath, ['-e', SCRIPT, t.src, t.mnt], { cwd: root });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ loaded: [], libfuse: false });
    expect(fs.readdirSync(t.mnt)).toEqual([]);
  } finally {
    t.cleanup();
  }
});
