// O_SYNC / O_DSYNC writes are durable before they complete: the core issues fsync / fdatasync on the
// backing fd between the write and the completion.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { backingFileOpen, backingFileWriteIter } from '@layerfs/backing-io';
import { tempDir, tracingIo } from './helpers';

test.each([
  ['O_SYNC', fs.constants.O_SYNC, 'fsync'],
  ['O_DSYNC', fs.constants.O_DSYNC, 'fdatasync'],
  ['neither', 0, undefined],
])('%s', async (_name, openFlag, expected) => {
  const t = tempDir();
  try {
    const p = path.join(t.dir, 'f');
    fs.writeFileSync(p, '');
    const io = tracingIo();
    const file = await backingFileOpen({ userPath: '/f', realPath: p, flags: fs.constants.O_WRONLY | openFlag, io: io.ops });
    let traceAtCompletion: string[] = [];
    await backingFileWriteIter(
      file,
      { buf: Buffer.from('data') },
      { pos: 0, flags: file.iocbFlags },
      {
        endWrite: () => {
          traceAtCompletion = [...io.trace];
        },
      },
    );
    expect(traceAtCompletion).toEqual(expected ? ['write', expected] : ['write']);
    // The backing fd itself was opened without O_SYNC: durability is decided per request, once.
    const fdFlags = fs.readFileSync(`/proc/self/fdinfo/${file.fd}`, 'utf8').match(/flags:\s+(\d+)/)![1];
    expect(parseInt(fdFlags, 8) & fs.constants.O_DSYNC).toBe(0);
    await file.put();
  } finally {
    t.cleanup();
  }
});
