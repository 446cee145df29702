#!/usr/bin/env python3
"""mmap coherence through a mount (Node cannot mmap).

usage: mmap-check.py MOUNTED_FILE BACKING_FILE
1. A MAP_SHARED mapping sees bytes written with write() through another fd of the mount.
2. Bytes stored through the mapping and msync'ed are seen by read() through the mount, and have
   reached the backing file outside the mount.
Prints one line per check; exits 1 on the first mismatch.
"""
import mmap
import os
import sys

mounted, backing = sys.argv[1], sys.argv[2]
size = 3 * mmap.PAGESIZE

fd_map = os.open(mounted, os.O_RDWR)
mm = mmap.mmap(fd_map, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
_ = mm[:]  # fault every page in before the write below

fd_w = os.open(mounted, os.O_WRONLY)
os.pwrite(fd_w, b"written-by-write()", mmap.PAGESIZE + 10)
os.close(fd_w)
seen = mm[mmap.PAGESIZE + 10: mmap.PAGESIZE + 28]
print("mapping sees write():", seen)
if seen != b"written-by-write()":
    sys.exit(1)

mm[2 * mmap.PAGESIZE + 5: 2 * mmap.PAGESIZE + 24] = b"stored-via-mapping!"
mm.flush()  # msync(MS_SYNC)
fd_r = os.open(mounted, os.O_RDONLY)
got = os.pread(fd_r, 19, 2 * mmap.PAGESIZE + 5)
os.close(fd_r)
print("read() sees the mapping:", got)
if got != b"stored-via-mapping!":
    sys.exit(1)

with open(backing, "rb") as f:
    f.seek(2 * mmap.PAGESIZE + 5)
    below = f.read(19)
print("backing file has it after msync:", below)
if below != b"stored-via-mapping!":
    sys.exit(1)
mm.close()
os.close(fd_map)
print("ok")
