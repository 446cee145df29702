// The kernel tells the wire transport who is calling; files made through the mount belong to the
// caller, as on a local filesystem, in the source (passthrough) and in the upper layer (overlay).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Mounted, mountOverlay, mountPassthrough } from '../helpers/cli';
import { overlayLayers, sourceAndMountpoint } from '../helpers/scratch';
import { run } from '../helpers/run';

const NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups'];

async function asNobody(script: string, dir: string) {
  const r = await run('setpriv', [...NOBODY, 'sh', '-c', script, 'sh', dir]);
  if (r.code !== 0) throw new Error(`as nobody: ${r.stderr}`);
}

async function checkOwners(mnt: string, backing: string) {
  // The scratch dir is private (mkdtemp: 0700); uid 65534 must be able to reach the mount.
  fs.chmodSync(path.dirname(mnt), 0o755);
  fs.mkdirSync(path.join(mnt, 'pub'));
  fs.chmodSync(path.join(mnt, 'pub'), 0o1777);
  await asNobody('cd "$1" && echo hi > file && mkdir dir && ln -s file link && mkfifo fifo', path.join(mnt, 'pub'));
  for (const name of ['file', 'dir', 'link', 'fifo']) {
    const st = fs.lstatSync(path.join(backing, 'pub', name));
    expect([name, st.uid, st.gid]).toEqual([name, 65534, 65534]);
    const seen = fs.lstatSync(path.join(mnt, 'pub', name));
    expect([name, seen.uid, seen.gid]).toEqual([name, 65534, 65534]);
  }
}

test('passthrough: a file created by uid 65534 is owned by 65534:65534 in the source', async () => {
  const t = sourceAndMountpoint();
  let m: Mounted | undefined;
  try {
    m = await mountPassthrough(t.src, t.mnt);
    await checkOwners(t.mnt, t.src);
  } finally {
    await m?.unmount();
    t.cleanup();
  }
});

test('overlay: a file created by uid 65534 is owned by 65534:65534 in the upper layer', async () => {
  const t = overlayLayers([{ 'base/': '' }]);
  let m: Mounted | undefined;
  try {
    m = await mountOverlay(t.mnt, t);
    await checkOwners(t.mnt, t.upper!);
  } finally {
    await m?.unmount();
    t.cleanup();
  }
});
