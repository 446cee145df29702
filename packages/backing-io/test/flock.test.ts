// tryLockExclusive is flock(LOCK_EX | LOCK_NB): held per open file, refused to any other open of the
// same file (in this process too), and released when its last fd closes — which is how
// layerfs-overlay's shared daemon is replaced when it dies (bin/src/shared-daemon.ts).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { syscalls } from '@layerfs/backing-io';
import { tempDir } from './helpers';

test('one holder at a time; closing the holder frees the lock', () => {
  const d = tempDir();
  const file = path.join(d.dir, 'lock');
  const a = fs.openSync(file, 'w');
  const b = fs.openSync(file, 'r');
  try {
    expect(syscalls.tryLockExclusive(a)).toBe(true);
    expect(syscalls.tryLockExclusive(b)).toBe(false);
    fs.closeSync(a);
    expect(syscalls.tryLockExclusive(b)).toBe(true);
  } finally {
    for (const fd of [a, b]) {
      try {
        fs.closeSync(fd);
      } catch {
        // already closed
      }
    }
    d.cleanup();
  }
});

test('an fd that is not open is an error (EBADF), not a lock held elsewhere', () => {
  expect(() => syscalls.tryLockExclusive(987654)).toThrow(/EBADF/);
});
