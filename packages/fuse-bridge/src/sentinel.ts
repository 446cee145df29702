// No dead mount after a killed daemon, for mounts made as a user (through fusermount3).
//
// A daemon killed any way (kill -9 included) leaves its mount answering ENOTCONN until someone
// unmounts it, and a user cannot umount(2). fusermount3's auto_unmount was made for this, but before
// libfuse 3.16 it checks the dead mount as setuid root, which the kernel refuses for a mount without
// allow_other (EACCES instead of ENOTCONN), so it leaves the mount — Debian 12's 3.14 does. The
// sentinel does the same job as the user: a shell blocked reading a socket only the daemon holds;
// once the daemon is gone (EOF), it unmounts through fusermount3 only while the mountpoint answers
// ENOTCONN — the mount it watched, now dead. A clean unmount, or another mount made there since, is
// left alone.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { syscalls } from '@layerfs/backing-io';

/**
 * statfs (never answered from a cache) of the mountpoint: ENOTCONN is the dead mount; a FUSE mount
 * that still answers may be a connection the kernel is still closing, so it is asked again for up
 * to 5 s; anything else (the directory a clean unmount left) ends the sentinel.
 */
const SCRIPT = `read -r _ || true
i=0
while [ $i -lt 25 ]; do
  case "$(stat -f -c %T -- "$1" 2>&1)" in
    *"not connected"*) exec "$2" -u -z -q -- "$1" ;;
    fuse*) sleep 0.2 ;;
    *) exit 0 ;;
  esac
  i=$((i + 1))
done`;

/**
 * Start the sentinel for `mountpoint` (unmounting with `fusermount`, the setuid helper). Returns the
 * release: call it once the mount is gone (a clean unmount); the sentinel then checks and exits.
 */
export function startUnmountSentinel(mountpoint: string, fusermount: string): () => void {
  keepDeviceFromChildren();
  const [ours, theirs] = syscalls.socketpairUnix();
  try {
    spawn('/bin/sh', ['-c', SCRIPT, 'layerfs-unmount-sentinel', mountpoint, fusermount], {
      stdio: [theirs, 'ignore', 'ignore'],
      detached: true,
      env: { PATH: '/usr/bin:/bin', LC_ALL: 'C' },
    }).unref();
  } finally {
    syscalls.close(theirs);
  }
  // Ours is close-on-exec: only this process holds it, so its end is the daemon's end.
  let released = false;
  return () => {
    if (released) return;
    released = true;
    syscalls.close(ours);
  };
}

/**
 * libfuse 2 opens /dev/fuse without O_CLOEXEC: a sentinel that inherited the device would keep alive
 * the very connection it waits to see die (and any other child would keep a killed daemon's mount
 * hanging instead of dead).
 */
function keepDeviceFromChildren(): void {
  for (const name of fs.readdirSync('/proc/self/fd')) {
    try {
      if (fs.readlinkSync(`/proc/self/fd/${name}`) === '/dev/fuse') syscalls.setCloexec(Number(name));
    } catch {
      // closed meanwhile (the listing's own fd)
    }
  }
}
