// The POSIX behaviour table: one list of cases, run against a plain directory (which proves each
// case is right about POSIX) and against every layerfs mount. Each case gets a fresh, empty
// directory `dir` and uses only the calls a program would: Node's fs, and libc through backing-io's
// syscalls for what Node lacks (xattrs, readdir's d_ino).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { syscalls } from '@layerfs/backing-io';

export interface PosixCase {
  name: string;
  run(dir: string): void | Promise<void>;
}

const j = path.join;
/** Longer than the coarse clock's tick (ctime comes from it), so a changed ctime is a larger one. */
const pause = () => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 30);
const sh = (cmd: string, args: string[]) => {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
};

export const posixCases: PosixCase[] = [
  {
    name: 'create, write, read back, overwrite in the middle',
    run(dir) {
      const f = j(dir, 'f');
      fs.writeFileSync(f, 'hello world');
      expect(fs.readFileSync(f, 'utf8')).toBe('hello world');
      const fd = fs.openSync(f, 'r+');
      fs.writeSync(fd, 'WORLD', 6);
      fs.closeSync(fd);
      expect(fs.readFileSync(f, 'utf8')).toBe('hello WORLD');
      expect(fs.statSync(f).size).toBe(11);
      expect(() => fs.openSync(f, 'wx')).toThrow(expect.objectContaining({ code: 'EEXIST' }));
    },
  },
  {
    name: 'truncate shrinks and extends with zeroes, by path and by fd',
    run(dir) {
      const f = j(dir, 't');
      fs.writeFileSync(f, 'abcdefgh');
      fs.truncateSync(f, 3);
      expect(fs.readFileSync(f, 'utf8')).toBe('abc');
      const fd = fs.openSync(f, 'r+');
      fs.ftruncateSync(fd, 6);
      expect(fs.fstatSync(fd).size).toBe(6);
      fs.closeSync(fd);
      expect(fs.readFileSync(f)).toEqual(Buffer.from([97, 98, 99, 0, 0, 0]));
      fs.writeFileSync(f, 'x', { flag: 'w' }); // O_TRUNC on open
      expect(fs.readFileSync(f, 'utf8')).toBe('x');
    },
  },
  {
    name: 'rename over an existing file replaces it atomically',
    run(dir) {
      fs.writeFileSync(j(dir, 'a'), 'new');
      fs.writeFileSync(j(dir, 'b'), 'old');
      const ino = fs.statSync(j(dir, 'a')).ino;
      fs.renameSync(j(dir, 'a'), j(dir, 'b'));
      expect(fs.existsSync(j(dir, 'a'))).toBe(false);
      expect(fs.readFileSync(j(dir, 'b'), 'utf8')).toBe('new');
      expect(fs.statSync(j(dir, 'b')).ino).toBe(ino);
      fs.mkdirSync(j(dir, 'd1'));
      fs.mkdirSync(j(dir, 'd2'));
      fs.writeFileSync(j(dir, 'd2', 'x'), '');
      expect(() => fs.renameSync(j(dir, 'd1'), j(dir, 'd2'))).toThrow(expect.objectContaining({ code: 'ENOTEMPTY' }));
      fs.renameSync(j(dir, 'd2', 'x'), j(dir, 'd1', 'x'));
      expect(fs.readdirSync(j(dir, 'd1'))).toEqual(['x']);
    },
  },
  {
    name: 'hard links share the inode and count in nlink',
    run(dir) {
      fs.writeFileSync(j(dir, 'a'), 'data');
      fs.linkSync(j(dir, 'a'), j(dir, 'h'));
      const a = fs.statSync(j(dir, 'a'));
      const h = fs.statSync(j(dir, 'h'));
      expect(h.ino).toBe(a.ino);
      expect(a.nlink).toBe(2);
      expect(h.nlink).toBe(2);
      fs.unlinkSync(j(dir, 'h'));
      expect(fs.existsSync(j(dir, 'h'))).toBe(false);
      expect(fs.readFileSync(j(dir, 'a'), 'utf8')).toBe('data');
    },
  },
  {
    name: 'nlink seen through the other name right after an unlink',
    run(dir) {
      fs.writeFileSync(j(dir, 'a'), 'data');
      fs.linkSync(j(dir, 'a'), j(dir, 'h'));
      expect(fs.statSync(j(dir, 'h')).nlink).toBe(2);
      fs.unlinkSync(j(dir, 'a'));
      expect(fs.statSync(j(dir, 'h')).nlink).toBe(1);
    },
  },
  {
    name: 'a mode changed through one hard-link name shows through the other',
    run(dir) {
      fs.writeFileSync(j(dir, 'a'), 'data');
      fs.chmodSync(j(dir, 'a'), 0o644);
      fs.linkSync(j(dir, 'a'), j(dir, 'h'));
      expect(fs.statSync(j(dir, 'h')).mode & 0o777).toBe(0o644);
      fs.chmodSync(j(dir, 'a'), 0o600);
      expect(fs.statSync(j(dir, 'h')).mode & 0o777).toBe(0o600);
    },
  },
  {
    name: 'data written through one hard-link name is read through the other',
    run(dir) {
      fs.writeFileSync(j(dir, 'a'), 'data');
      fs.linkSync(j(dir, 'a'), j(dir, 'h'));
      expect(fs.readFileSync(j(dir, 'a'), 'utf8')).toBe('data');
      fs.appendFileSync(j(dir, 'h'), '+more');
      expect(fs.readFileSync(j(dir, 'a'), 'utf8')).toBe('data+more');
    },
  },
  {
    name: 'symlinks: create, readlink, lstat vs stat, dangling',
    run(dir) {
      fs.writeFileSync(j(dir, 'target'), 'T');
      fs.symlinkSync('target', j(dir, 'l'));
      expect(fs.readlinkSync(j(dir, 'l'))).toBe('target');
      expect(fs.lstatSync(j(dir, 'l')).isSymbolicLink()).toBe(true);
      expect(fs.statSync(j(dir, 'l')).isFile()).toBe(true);
      expect(fs.readFileSync(j(dir, 'l'), 'utf8')).toBe('T');
      fs.symlinkSync('nowhere/at/all', j(dir, 'dangling'));
      expect(fs.readlinkSync(j(dir, 'dangling'))).toBe('nowhere/at/all');
      expect(() => fs.statSync(j(dir, 'dangling'))).toThrow(expect.objectContaining({ code: 'ENOENT' }));
      expect(fs.lstatSync(j(dir, 'dangling')).size).toBe('nowhere/at/all'.length);
    },
  },
  {
    name: 'fifo: mkfifo makes a named pipe',
    run(dir) {
      sh('mkfifo', ['-m', '0640', j(dir, 'p')]);
      const st = fs.statSync(j(dir, 'p'));
      expect(st.isFIFO()).toBe(true);
      expect(st.mode & 0o777).toBe(0o640);
    },
  },
  {
    name: 'xattrs: set, get, list, replace, remove, ENODATA',
    run(dir) {
      const f = j(dir, 'x');
      fs.writeFileSync(f, '');
      syscalls.lsetxattr(f, 'user.colour', Buffer.from('blue'));
      syscalls.lsetxattr(f, 'user.empty', Buffer.alloc(0));
      expect(syscalls.lgetxattr(f, 'user.colour').toString()).toBe('blue');
      expect(syscalls.lgetxattr(f, 'user.empty').length).toBe(0);
      expect(syscalls.llistxattr(f).sort()).toEqual(expect.arrayContaining(['user.colour', 'user.empty']));
      expect(() => syscalls.lsetxattr(f, 'user.colour', Buffer.from('x'), syscalls.XattrFlags.CREATE)).toThrow(/EEXIST/);
      expect(() => syscalls.lsetxattr(f, 'user.none', Buffer.from('x'), syscalls.XattrFlags.REPLACE)).toThrow(/ENODATA/);
      syscalls.lsetxattr(f, 'user.colour', Buffer.from('a much longer value than before'), syscalls.XattrFlags.REPLACE);
      expect(syscalls.lgetxattr(f, 'user.colour').toString()).toBe('a much longer value than before');
      syscalls.lremovexattr(f, 'user.colour');
      expect(() => syscalls.lgetxattr(f, 'user.colour')).toThrow(/ENODATA/);
    },
  },
  {
    name: 'chmod changes the permission bits',
    run(dir) {
      const f = j(dir, 'm');
      fs.writeFileSync(f, '');
      fs.chmodSync(f, 0o751);
      expect(fs.statSync(f).mode & 0o7777).toBe(0o751);
      fs.chmodSync(f, 0o4755);
      expect(fs.statSync(f).mode & 0o7777).toBe(0o4755);
      fs.mkdirSync(j(dir, 'd'), 0o700);
      fs.chmodSync(j(dir, 'd'), 0o1777);
      expect(fs.statSync(j(dir, 'd')).mode & 0o7777).toBe(0o1777);
    },
  },
  {
    name: 'chown changes owner and group; -1 leaves one unchanged',
    run(dir) {
      const f = j(dir, 'o');
      fs.writeFileSync(f, '');
      fs.chownSync(f, 1234, 5678);
      expect(fs.statSync(f)).toMatchObject({ uid: 1234, gid: 5678 });
      fs.chownSync(f, -1, 4321);
      expect(fs.statSync(f)).toMatchObject({ uid: 1234, gid: 4321 });
      fs.symlinkSync('o', j(dir, 'lo'));
      fs.lchownSync(j(dir, 'lo'), 42, 43);
      expect(fs.lstatSync(j(dir, 'lo'))).toMatchObject({ uid: 42, gid: 43 });
      expect(fs.statSync(f)).toMatchObject({ uid: 1234, gid: 4321 });
    },
  },
  {
    name: 'utimens: distinct atime and mtime, to the nanosecond, and UTIME_NOW',
    run(dir) {
      const f = j(dir, 'u');
      fs.writeFileSync(f, '');
      sh('touch', ['-d', '2001-02-03 04:05:06.123456789 UTC', f]);
      let st = fs.statSync(f, { bigint: true });
      expect(st.mtimeNs).toBe(981173106123456789n);
      expect(st.atimeNs).toBe(981173106123456789n);
      fs.utimesSync(f, 1500000000, 1600000000);
      st = fs.statSync(f, { bigint: true });
      expect(st.atimeNs).toBe(1500000000000000000n);
      expect(st.mtimeNs).toBe(1600000000000000000n);
      sh('touch', ['-d', '@-86400.25', f]); // before the epoch
      st = fs.statSync(f, { bigint: true });
      expect(st.atimeNs).toBe(-86400250000000n);
      expect(st.mtimeNs).toBe(-86400250000000n);
      const before = Date.now();
      sh('touch', [f]); // UTIME_NOW for both
      expect(fs.statSync(f).mtimeMs).toBeGreaterThanOrEqual(before - 2000);
    },
  },
  {
    name: 'utimens: one time alone (UTIME_OMIT for the other), as touch -m and touch -a do',
    run(dir) {
      const f = j(dir, 'u1');
      fs.writeFileSync(f, '');
      fs.utimesSync(f, 1500000000, 1600000000);
      sh('touch', ['-m', '-d', '@1000000000.5', f]);
      let st = fs.statSync(f, { bigint: true });
      expect(st.mtimeNs).toBe(1000000000500000000n);
      expect(st.atimeNs).toBe(1500000000000000000n);
      sh('touch', ['-a', '-d', '@1100000000', f]);
      st = fs.statSync(f, { bigint: true });
      expect(st.atimeNs).toBe(1100000000000000000n);
      expect(st.mtimeNs).toBe(1000000000500000000n);
    },
  },
  {
    name: 'readdir of 2000 entries lists each once, with d_ino equal to st_ino',
    run(dir) {
      const names = Array.from({ length: 2000 }, (_, i) => `entry-${String(i).padStart(4, '0')}`);
      for (const n of names) fs.writeFileSync(j(dir, n), '');
      expect(fs.readdirSync(dir).sort()).toEqual(names);
      const ents = syscalls.readdirIno(dir);
      expect(ents).toHaveLength(2000);
      for (const e of ents.filter((_, i) => i % 97 === 0)) {
        expect(e.ino).toBe(fs.statSync(j(dir, e.name), { bigint: true }).ino);
        expect(e.type).toBe(fs.constants.S_IFREG);
      }
    },
  },
  {
    name: 'an unlinked file stays readable and writable through its open fd',
    run(dir) {
      const f = j(dir, 'gone');
      fs.writeFileSync(f, 'still here');
      const fd = fs.openSync(f, 'r+');
      try {
        fs.unlinkSync(f);
        expect(fs.existsSync(f)).toBe(false);
        expect(fs.readdirSync(dir)).toEqual([]); // no hidden stand-in (libfuse's .fuse_hidden*) either
        const buf = Buffer.alloc(10);
        fs.readSync(fd, buf, 0, 10, 0);
        expect(buf.toString()).toBe('still here');
        fs.writeSync(fd, ' and more', 10);
        expect(fs.fstatSync(fd).size).toBe(19);
        expect(fs.fstatSync(fd).nlink).toBe(0);
        const all = Buffer.alloc(19);
        fs.readSync(fd, all, 0, 19, 0);
        expect(all.toString()).toBe('still here and more');
        fs.ftruncateSync(fd, 5);
        expect(fs.fstatSync(fd).size).toBe(5);
      } finally {
        fs.closeSync(fd);
      }
    },
  },
  {
    name: "a file unlinked after the caller looked it up is still the caller's (fstat and reopen of an O_PATH fd)",
    run(dir) {
      // The race open(O_CREAT) vs unlink, made deterministic: the name is resolved (O_PATH: a lookup,
      // no open), then unlinked, then the node is stat'ed and opened through the magic link.
      const f = j(dir, 'f');
      fs.writeFileSync(f, 'data');
      const p = fs.openSync(f, 0o10000000 /* O_PATH */);
      try {
        fs.unlinkSync(f);
        expect(fs.fstatSync(p).nlink).toBe(0);
        const fd = fs.openSync(`/proc/self/fd/${p}`, 'r+');
        try {
          const buf = Buffer.alloc(4);
          fs.readSync(fd, buf, 0, 4, 0);
          expect(buf.toString()).toBe('data');
        } finally {
          fs.closeSync(fd);
        }
      } finally {
        fs.closeSync(p);
      }
      expect(fs.readdirSync(dir)).toEqual([]);
    },
  },
  {
    name: 'a directory whose file is unlinked while open can be removed, the fd still serving the file',
    run(dir) {
      const d = j(dir, 'd');
      fs.mkdirSync(d);
      fs.writeFileSync(j(d, 'f'), 'kept');
      const fd = fs.openSync(j(d, 'f'), 'r+');
      try {
        fs.unlinkSync(j(d, 'f'));
        expect(fs.readdirSync(d)).toEqual([]);
        expect(fs.fstatSync(fd).nlink).toBe(0);
        fs.rmdirSync(d); // CPython's test.support does this (can_xattr): ENOTEMPTY on libfuse 2's stand-in
        expect(fs.existsSync(d)).toBe(false);
        fs.writeSync(fd, '!', 4);
        const buf = Buffer.alloc(5);
        fs.readSync(fd, buf, 0, 5, 0);
        expect(buf.toString()).toBe('kept!');
      } finally {
        fs.closeSync(fd);
      }
      expect(fs.readdirSync(dir)).toEqual([]);
    },
  },
  {
    name: 'sparse file: pwrite and pread past 4 GiB',
    run(dir) {
      const f = j(dir, 'sparse');
      const fd = fs.openSync(f, 'w+');
      const off = 5 * 2 ** 30 + 123;
      fs.writeSync(fd, 'far away', 0, 'utf8');
      fs.writeSync(fd, Buffer.from('past 4 GiB'), 0, 10, off);
      const st = fs.fstatSync(fd);
      expect(st.size).toBe(off + 10);
      expect(st.blocks * 512).toBeLessThan(1024 * 1024); // holes stay holes
      const back = Buffer.alloc(10);
      fs.readSync(fd, back, 0, 10, off);
      expect(back.toString()).toBe('past 4 GiB');
      const hole = Buffer.alloc(4096, 1);
      fs.readSync(fd, hole, 0, 4096, 2 ** 32);
      expect(hole.every((b) => b === 0)).toBe(true);
      fs.closeSync(fd);
      expect(fs.statSync(f).size).toBe(off + 10);
    },
  },
  {
    name: 'fsync and fdatasync succeed on files; fsync on a directory',
    run(dir) {
      const fd = fs.openSync(j(dir, 's'), 'w');
      fs.writeSync(fd, 'durable');
      fs.fsyncSync(fd);
      fs.fdatasyncSync(fd);
      fs.closeSync(fd);
      const dfd = fs.openSync(dir, 'r');
      fs.fsyncSync(dfd);
      fs.closeSync(dfd);
      expect(fs.readFileSync(j(dir, 's'), 'utf8')).toBe('durable');
    },
  },
  {
    name: 'statfs reports the backing filesystem',
    run(dir) {
      const s = fs.statfsSync(dir);
      expect(s.bsize).toBeGreaterThan(0);
      expect(s.blocks).toBeGreaterThan(0);
      expect(s.bavail).toBeLessThanOrEqual(s.blocks);
      expect(s.files).toBeGreaterThan(0);
    },
  },
  {
    name: 'mkdir, rmdir, ENOTEMPTY, ENOENT, ENOTDIR, EISDIR',
    run(dir) {
      fs.mkdirSync(j(dir, 'd'), 0o755);
      expect(fs.statSync(j(dir, 'd')).isDirectory()).toBe(true);
      fs.writeFileSync(j(dir, 'd', 'f'), '');
      expect(() => fs.rmdirSync(j(dir, 'd'))).toThrow(expect.objectContaining({ code: 'ENOTEMPTY' }));
      expect(() => fs.readFileSync(j(dir, 'nope'))).toThrow(expect.objectContaining({ code: 'ENOENT' }));
      expect(() => fs.readdirSync(j(dir, 'd', 'f'))).toThrow(expect.objectContaining({ code: 'ENOTDIR' }));
      expect(() => fs.unlinkSync(j(dir, 'd'))).toThrow(expect.objectContaining({ code: 'EISDIR' }));
      fs.unlinkSync(j(dir, 'd', 'f'));
      fs.rmdirSync(j(dir, 'd'));
      expect(fs.existsSync(j(dir, 'd'))).toBe(false);
    },
  },
  {
    name: 'O_APPEND writes always land at the end',
    run(dir) {
      const f = j(dir, 'log');
      fs.writeFileSync(f, 'one\n');
      const a = fs.openSync(f, 'a');
      const b = fs.openSync(f, 'a');
      fs.writeSync(a, 'two\n');
      fs.writeSync(b, 'three\n');
      fs.writeSync(a, 'four\n', 0); // the position is ignored with O_APPEND
      fs.closeSync(a);
      fs.closeSync(b);
      expect(fs.readFileSync(f, 'utf8')).toBe('one\ntwo\nthree\nfour\n');
    },
  },
  {
    name: 'link changes the ctime of the file it links',
    run(dir) {
      const f = j(dir, 'f');
      fs.writeFileSync(f, 'x');
      const before = fs.statSync(f, { bigint: true }).ctimeNs;
      pause();
      fs.linkSync(f, j(dir, 'g'));
      expect(fs.statSync(f, { bigint: true }).ctimeNs).toBeGreaterThan(before);
    },
  },
  {
    name: 'chown(-1, -1) changes only the ctime',
    run(dir) {
      const f = j(dir, 'f');
      fs.writeFileSync(f, 'x');
      const before = fs.statSync(f, { bigint: true });
      pause();
      fs.chownSync(f, -1, -1);
      const after = fs.statSync(f, { bigint: true });
      expect(after.ctimeNs).toBeGreaterThan(before.ctimeNs);
      expect([after.mtimeNs, after.uid, after.gid, after.mode]).toEqual([before.mtimeNs, before.uid, before.gid, before.mode]);
    },
  },
  {
    name: 'a name longer than NAME_MAX (255 bytes) is ENAMETOOLONG, looked up or created',
    run(dir) {
      fs.writeFileSync(j(dir, 'a'.repeat(255)), 'x');
      expect(fs.readdirSync(dir)).toEqual(['a'.repeat(255)]);
      const long = j(dir, 'b'.repeat(256));
      expect(() => fs.lstatSync(long)).toThrow(expect.objectContaining({ code: 'ENAMETOOLONG' }));
      expect(() => fs.writeFileSync(long, 'x')).toThrow(expect.objectContaining({ code: 'ENAMETOOLONG' }));
      expect(() => fs.mkdirSync(long)).toThrow(expect.objectContaining({ code: 'ENAMETOOLONG' }));
    },
  },
];

/** Cases a target is known to fail, with the reason; they run as test.failing so a fix is noticed. */
export type KnownFailures = Record<string, string>;
