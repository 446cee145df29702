// The example of reusing the core: HelloFs (packages/fuse-bridge/examples/hello-fs.ts), a read-only
// in-memory filesystem in a few dozen lines on NodeFsBase, mounted for real on each transport and
// read through the kernel by other processes (this process serves the mount: it must not call it
// synchronously).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { mountFs } from '@layerfs/fuse-bridge';
import { chooseTransport } from '@layerfs/fuse-wire';
import { HelloFs } from '../packages/fuse-bridge/examples/hello-fs';
import { TRANSPORT } from './helpers/cli';
import { scratch } from './helpers/scratch';
import { run } from './helpers/run';

test('HelloFs mounts, lists, reads and refuses changes with EROFS', async () => {
  const s = scratch();
  const mnt = path.join(s.dir, 'mnt');
  // mountFs clears this process's umask (the kernel already applied the caller's): the tests that
  // run after this one in the same process expect it back.
  const umask = process.umask(0o022);
  fs.mkdirSync(mnt);
  const m = await mountFs(mnt, new HelloFs({ 'hello.txt': 'Hello, world!\n', empty: '' }), {
    transport: chooseTransport(TRANSPORT).transport,
    fsname: 'hello',
    subtype: 'hello',
  });
  try {
    expect((await run('ls', [mnt])).stdout).toBe('empty\nhello.txt\n');
    expect((await run('cat', [path.join(mnt, 'hello.txt')])).stdout).toBe('Hello, world!\n');
    expect((await run('stat', ['-c', '%s %A', path.join(mnt, 'hello.txt')])).stdout).toBe('14 -r--r--r--\n');
    const touch = await run('sh', ['-c', `echo x > ${mnt}/hello.txt`]);
    expect(touch.stderr).toMatch(/Read-only file system|Permission denied/);
    const mk = await run('mkdir', [path.join(mnt, 'd')]);
    expect(mk.stderr).toMatch(/Read-only file system/);
    expect((await run('cat', [path.join(mnt, 'nope')])).code).not.toBe(0);
  } finally {
    await m.unmount();
    process.umask(umask);
    s.cleanup();
  }
});
