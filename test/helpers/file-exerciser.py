#!/usr/bin/env python3
"""A file-system exerciser in the manner of fsx: random operations on one file, each checked
against a model of what the file must hold.

usage: file-exerciser.py FILE OPS SEED [--reopen-every N] [--max-len BYTES] [--no-mmap]

Operations: read, write (past EOF too: holes), mapped read and write (msync), truncate up and down,
fallocate (extending and KEEP_SIZE), punch hole, zero range, collapse and insert range, copy_file_range
within the file, fsync, close and reopen, and a read through a second, fresh open of the file (a
new open must see what the first fd wrote: the kernel's page cache kept across opens must hold the
same bytes). After every operation the size is checked by fstat and by lseek(SEEK_END); every read
is compared with the model. A fallocate mode the file system refuses with EOPNOTSUPP is dropped at
the start, as fsx does. The file must exist (it may hold data: a lower file of an overlay is copied
up by the first write); its bytes at the start are the model's.

Exits 0 with one summary line, or 1 after printing the last operations and the first bad byte.
"""
import ctypes
import errno
import mmap
import os
import random
import sys

FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02
FALLOC_FL_COLLAPSE_RANGE = 0x08
FALLOC_FL_ZERO_RANGE = 0x10
FALLOC_FL_INSERT_RANGE = 0x20

libc = ctypes.CDLL(None, use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]


def fallocate(fd, mode, off, length):
    if libc.fallocate(fd, mode, off, length) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


args = sys.argv[1:]
path, nops, seed = args[0], int(args[1]), int(args[2])
reopen_every = int(args[args.index("--reopen-every") + 1]) if "--reopen-every" in args else 50
max_len = int(args[args.index("--max-len") + 1]) if "--max-len" in args else 256 * 1024
use_mmap = "--no-mmap" not in args
rng = random.Random(seed)
page = mmap.PAGESIZE
max_op = 64 * 1024

with open(path, "rb") as f:
    model = bytearray(f.read())
fd = os.open(path, os.O_RDWR)
block = os.fstat(fd).st_blksize
log = []


def fail(msg):
    print("FAIL after %d operations: %s" % (len(log), msg))
    for line in log[-25:]:
        print("  " + line)
    sys.exit(1)


def compare(got, off, what):
    want = bytes(model[off:off + len(got)])
    if got != want:
        bad = next(i for i in range(len(got)) if got[i] != want[i])
        fail("%s at 0x%x+0x%x: byte 0x%x is %02x, must be %02x" %
             (what, off, len(got), off + bad, got[bad], want[bad]))


def check_size():
    st = os.fstat(fd).st_size
    end = os.lseek(fd, 0, os.SEEK_END)
    if st != len(model) or end != len(model):
        fail("size: fstat %d, lseek(SEEK_END) %d, must be %d" % (st, end, len(model)))


def supported(mode):
    # Asked of a scratch range past the largest offset the run uses, then cut off again.
    probe = max(len(model), max_len) + 2 * max_op
    try:
        fallocate(fd, mode, probe, block)
        os.ftruncate(fd, len(model))
        return True
    except OSError as e:
        if e.errno in (errno.EOPNOTSUPP, errno.ENOSYS):
            return False
        if e.errno == errno.EINVAL and mode & (FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_INSERT_RANGE):
            return True  # collapse/insert past EOF is EINVAL: the mode exists
        raise


modes = {name: supported(m) for name, m in [
    ("fallocate", 0), ("keep_size", FALLOC_FL_KEEP_SIZE),
    ("punch", FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE), ("zero", FALLOC_FL_ZERO_RANGE),
    ("collapse", FALLOC_FL_COLLAPSE_RANGE), ("insert", FALLOC_FL_INSERT_RANGE)]}
check_size()


pattern = bytes(rng.randrange(256) for _ in range(max_op + 4096))


def data(n):
    # A fresh stretch of random bytes per write, so a stale page never equals the new one.
    k = rng.randrange(4096)
    return pattern[k:k + n]


def span(limit):
    off = rng.randrange(limit) if limit > 0 else 0
    return off, min(rng.randrange(max_op + 1), limit - off)


ops = ["read", "write", "write", "truncate", "fsync", "reopen_read", "copy_range"]
if use_mmap:
    ops += ["mapread", "mapwrite"]
ops += [name for name in ("fallocate", "punch", "zero", "collapse", "insert") if modes[name]]

for n in range(nops):
    op = rng.choice(ops)
    size = len(model)
    if op in ("read", "mapread", "reopen_read"):
        off, length = span(size)
        if length == 0:
            continue
        log.append("%s 0x%x+0x%x" % (op, off, length))
        if op == "read":
            got = os.pread(fd, length, off)
            if len(got) != length:
                fail("short read: %d of %d at 0x%x" % (len(got), length, off))
        elif op == "reopen_read":
            other = os.open(path, os.O_RDONLY)
            got = os.pread(other, length, off)
            os.close(other)
        else:
            base = off - off % page
            mm = mmap.mmap(fd, off + length - base, mmap.MAP_SHARED, mmap.PROT_READ, offset=base)
            got = mm[off - base:]
            mm.close()
        compare(got, off, op)
    elif op in ("write", "mapwrite"):
        off, length = span(max_len)
        if length == 0:
            continue
        buf = data(length)
        log.append("%s 0x%x+0x%x (size 0x%x)" % (op, off, length, size))
        if op == "write":
            if os.pwrite(fd, buf, off) != length:
                fail("short write")
        else:
            if off + length > size:
                os.ftruncate(fd, off + length)
            base = off - off % page
            mm = mmap.mmap(fd, off + length - base, mmap.MAP_SHARED,
                           mmap.PROT_READ | mmap.PROT_WRITE, offset=base)
            mm[off - base:] = buf
            mm.flush()
            mm.close()
        if off > size:
            model.extend(bytes(off - size))
        model[off:off + length] = buf
    elif op == "truncate":
        to = rng.randrange(max_len)
        log.append("truncate 0x%x -> 0x%x" % (size, to))
        os.ftruncate(fd, to)
        if to < size:
            del model[to:]
        else:
            model.extend(bytes(to - size))
    elif op == "fsync":
        log.append("fsync")
        os.fsync(fd)
    elif op == "copy_range":
        src, length = span(size)
        dst = rng.randrange(max_len)
        length = min(length, max_len - dst)
        if length == 0 or (src < dst + length and dst < src + length):
            continue  # overlapping ranges in one file are EINVAL
        log.append("copy_range 0x%x+0x%x -> 0x%x (size 0x%x)" % (src, length, dst, size))
        done = 0
        while done < length:
            k = os.copy_file_range(fd, fd, length - done, src + done, dst + done)
            if k == 0:
                fail("copy_file_range returned 0 with %d bytes left" % (length - done))
            done += k
        chunk = bytes(model[src:src + length])
        if dst > size:
            model.extend(bytes(dst - size))
        model[dst:dst + length] = chunk
    elif op == "fallocate":
        off, length = span(max_len)
        keep = modes["keep_size"] and rng.random() < 0.5
        if length == 0:
            continue
        log.append("fallocate%s 0x%x+0x%x (size 0x%x)" % (" keep_size" if keep else "", off, length, size))
        fallocate(fd, FALLOC_FL_KEEP_SIZE if keep else 0, off, length)
        if not keep and off + length > size:
            model.extend(bytes(off + length - size))
    elif op in ("punch", "zero"):
        off, length = span(size)
        if length == 0:
            continue
        log.append("%s 0x%x+0x%x" % (op, off, length))
        mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE if op == "punch" else FALLOC_FL_ZERO_RANGE
        fallocate(fd, mode, off, length)
        model[off:off + length] = bytes(length)
    elif op == "collapse":
        off, length = span(size - 1)
        off -= off % block
        length -= length % block
        if length == 0 or off + length >= size:
            continue
        log.append("collapse 0x%x+0x%x (size 0x%x)" % (off, length, size))
        fallocate(fd, FALLOC_FL_COLLAPSE_RANGE, off, length)
        del model[off:off + length]
    elif op == "insert":
        off, length = span(size)
        off -= off % block
        length -= length % block
        if length == 0 or off >= size or size + length > max_len:
            continue
        log.append("insert 0x%x+0x%x (size 0x%x)" % (off, length, size))
        fallocate(fd, FALLOC_FL_INSERT_RANGE, off, length)
        model[off:off] = bytes(length)
    check_size()
    if reopen_every and rng.randrange(reopen_every) == 0:
        log.append("close/open")
        os.close(fd)
        fd = os.open(path, os.O_RDWR)

whole = os.pread(fd, len(model) + 1, 0)
if len(whole) != len(model):
    fail("final read: %d bytes, must be %d" % (len(whole), len(model)))
compare(whole, 0, "final read")
os.close(fd)
print("ok: %d operations, final size %d, fallocate modes %s" %
      (len(log), len(model), ",".join(k for k, v in modes.items() if v) or "none"))
