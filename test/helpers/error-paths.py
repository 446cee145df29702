#!/usr/bin/env python3
# The errno of each failing call pjdfstest's error files look at, in the directory given: names too
# long, wrong types, existing targets, ".", sticky directories and permissions as uid 65534. Prints
# one "case: ERRNO" line each (or "ok"); run as root, it forks the unprivileged part itself. The
# answers are the kernel's and the filesystem's together, so a plain directory's are the reference.
import errno
import os
import sys

root = sys.argv[1]
os.chdir(root)


def outcome(f):
    try:
        f()
        return 'ok'
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))


def rename_dir_onto_nonempty():
    os.mkdir('e')
    os.rename('e', 'd')


def open_nofollow_symlink():
    os.symlink('f', 's3')
    os.open('s3', os.O_RDONLY | os.O_NOFOLLOW)


os.makedirs('d/sub', exist_ok=True)
with open('d/f', 'w') as fh:
    fh.write('x')
with open('f', 'w') as fh:
    fh.write('y')
os.makedirs('sticky', exist_ok=True)
os.chmod('sticky', 0o1777)
with open('sticky/root', 'w') as fh:
    fh.write('r')

CASES = [
    ('mkdir, 255-byte name', lambda: os.mkdir('a' * 255)),
    ('mkdir, 256-byte name', lambda: os.mkdir('a' * 256)),
    ('create, 256-byte name', lambda: open('a' * 256, 'w')),
    ('rmdir, 255-byte name', lambda: os.rmdir('a' * 255)),
    ('rmdir of a non-empty directory', lambda: os.rmdir('d')),
    ('rename a directory onto a non-empty one', rename_dir_onto_nonempty),
    ('rename a directory into itself', lambda: os.rename('d', 'd/sub/x')),
    ('link to a directory', lambda: os.link('d', 'dl')),
    ('unlink of a directory', lambda: os.unlink('d')),
    ('rmdir of a file', lambda: os.rmdir('f')),
    ('mkfifo over a file', lambda: os.mkfifo('f')),
    ('mkdir over a directory', lambda: os.mkdir('d')),
    ('mknod over a file', lambda: os.mknod('f', 0o10644)),
    ('symlink, 4096-byte target', lambda: os.symlink('x' * 4096, 'sl')),
    ('symlink, 4095-byte target', lambda: os.symlink('x' * 4095, 'sl2')),
    ('readlink of a file', lambda: os.readlink('f')),
    ('open a directory for writing', lambda: os.open('d', os.O_WRONLY)),
    ('O_DIRECTORY on a file', lambda: os.open('f', os.O_RDONLY | os.O_DIRECTORY)),
    ('O_NOFOLLOW on a symlink', open_nofollow_symlink),
    ('O_CREAT|O_EXCL of an existing file', lambda: os.open('f', os.O_CREAT | os.O_EXCL | os.O_WRONLY)),
    ('rename a file onto a directory', lambda: os.rename('f', 'd')),
    ('rename a directory onto a file', lambda: os.rename('d', 'f')),
    ('truncate a directory', lambda: os.truncate('d', 0)),
    ('rename of dir/.', lambda: os.rename('d/.', 'z')),
    ('rmdir of dir/.', lambda: os.rmdir('d/.')),
    ('link from a missing name', lambda: os.link('nope', 'x')),
    ('a file as a directory in a path', lambda: os.stat('f/x')),
    ('setxattr in an unknown namespace', lambda: os.setxattr('f', 'bogus.x', b'1')),
    ('utime of a missing name', lambda: os.utime('nope')),
    ('chmod of a missing name', lambda: os.chmod('nope', 0o644)),
]
for name, f in CASES:
    print(f'{name}: {outcome(f)}')
sys.stdout.flush()

USER_CASES = [
    ('as a user: chown to another user', lambda: os.chown('sticky/mine', 1234, -1)),
    ("as a user: unlink another's file in a sticky directory", lambda: os.unlink('sticky/root')),
    ("as a user: rename another's file in a sticky directory", lambda: os.rename('sticky/root', 'sticky/r2')),
    ("as a user: open root's 0644 file for writing", lambda: open('f', 'a')),
    ("as a user: O_TRUNC of root's file", lambda: os.open('f', os.O_WRONLY | os.O_TRUNC)),
    ("as a user: mkdir in root's 0755 directory", lambda: os.mkdir('d/u')),
    ("as a user: utime to now of another's file", lambda: os.utime('f')),
    ("as a user: utime to given times of another's file", lambda: os.utime('f', (1, 1))),
    ("as a user: chmod of another's file", lambda: os.chmod('f', 0o777)),
    ('as a user: set-group-ID on an own file of an own group', lambda: os.chmod('sticky/mine', 0o2755)),
]
pid = os.fork()
if pid == 0:
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
    with open('sticky/mine', 'w') as fh:
        fh.write('m')
    for name, f in USER_CASES:
        print(f'{name}: {outcome(f)}')
    print(f"as a user: mode after that chmod: {oct(os.stat('sticky/mine').st_mode)}")
    sys.stdout.flush()
    os._exit(0)
os.waitpid(pid, 0)
