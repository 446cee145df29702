// lstatAt answers what fs.lstatSync(path, { bigint: true }) answers, field by field, for every file
// type, through a directory fd and a name (the overlay's lookups and getattrs rely on the two being
// interchangeable); a final symlink is not followed; "" is the fd's own directory; nothing there is
// ENOENT, or undefined from lstatAtIfAny (statxAt and statxAtIfAny alike).
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { FsError, syscalls } from '@layerfs/backing-io';
import { tempDir } from './helpers';

const FIELDS = ['dev', 'ino', 'mode', 'nlink', 'uid', 'gid', 'rdev', 'size', 'blksize', 'blocks'] as const;
const TIMES = ['atime', 'mtime', 'ctime', 'birthtime'] as const;

function expectSame(got: fs.BigIntStats, want: fs.BigIntStats): void {
  for (const f of FIELDS) expect([f, got[f]]).toEqual([f, want[f]]);
  for (const t of TIMES) {
    expect([t, got[`${t}Ns`], got[`${t}Ms`], got[t].getTime()]).toEqual([t, want[`${t}Ns`], want[`${t}Ms`], want[t].getTime()]);
  }
  const kinds = ['isFile', 'isDirectory', 'isSymbolicLink', 'isFIFO', 'isSocket', 'isBlockDevice', 'isCharacterDevice'] as const;
  for (const k of kinds) expect([k, got[k]()]).toEqual([k, want[k]()]);
}

test('lstatAt matches fs.lstatSync for a file, a directory, a symlink, a fifo, a socket and a device', async () => {
  const t = tempDir('layerfs-lstat-at-');
  const server = net.createServer();
  try {
    fs.writeFileSync(path.join(t.dir, 'file'), 'twelve bytes');
    fs.utimesSync(path.join(t.dir, 'file'), new Date(1_000_123), new Date(2_000_456));
    fs.mkdirSync(path.join(t.dir, 'dir'));
    fs.symlinkSync('file', path.join(t.dir, 'link'));
    const dirFd = fs.openSync(t.dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    try {
      syscalls.mknodAt(dirFd, 'fifo', fs.constants.S_IFIFO | 0o640, 0);
      const names = ['file', 'dir', 'link', 'fifo', 'sock'];
      try {
        syscalls.mknodAt(dirFd, 'null', fs.constants.S_IFCHR | 0o600, 0x103);
        names.push('null'); // a device needs CAP_MKNOD: compared where the test runs as root
      } catch (err) {
        expect((err as FsError).code).toBe('EPERM');
      }
      await new Promise<void>((resolve) => server.listen(path.join(t.dir, 'sock'), resolve));
      for (const name of names) {
        expectSame(syscalls.lstatAt(dirFd, name), fs.lstatSync(path.join(t.dir, name), { bigint: true }));
      }
      expect(syscalls.lstatAt(dirFd, 'link').isSymbolicLink()).toBe(true);
      expectSame(syscalls.lstatAt(dirFd, ''), fs.lstatSync(t.dir, { bigint: true }));
      expect(syscalls.lstatAtIfAny(dirFd, 'absent')).toBeUndefined();
      expect(() => syscalls.lstatAt(dirFd, 'absent')).toThrow(expect.objectContaining({ code: 'ENOENT' }));
      expect(() => syscalls.lstatAtIfAny(dirFd, 'file/x')).toThrow(FsError);
      // statxAt (the passthrough's lookups) the same way: its IfAny form answers absence by value.
      expect(syscalls.statxAtIfAny(dirFd, 'absent')).toBeUndefined();
      expect(syscalls.statxAtIfAny(dirFd, 'file')?.ino).toBe(fs.lstatSync(path.join(t.dir, 'file'), { bigint: true }).ino);
      expect(() => syscalls.statxAt(dirFd, 'absent')).toThrow(expect.objectContaining({ code: 'ENOENT' }));
      expect(() => syscalls.statxAtIfAny(dirFd, 'file/x')).toThrow(expect.objectContaining({ code: 'ENOTDIR' }));
    } finally {
      fs.closeSync(dirFd);
    }
  } finally {
    server.close();
    t.cleanup();
  }
});
