// Mounting without privilege: the setuid fusermount3 does mount(2) for us and hands back the
// /dev/fuse fd over a socket (libfuse's _FUSE_COMMFD protocol: fusermount3 finds the socket's fd
// number in that environment variable and sends the device fd with SCM_RIGHTS).
// auto_unmount is asked for (fusermount3 then stays, watching the socket), and the sentinel of
// fuse-bridge's sentinel.ts backs it up where fusermount3's own check fails.
import { spawn } from 'node:child_process';
import { syscalls } from '@layerfs/backing-io';
import { MountError, findFusermount, startUnmountSentinel } from '@layerfs/fuse-bridge';
import type { Socket } from 'node:net';

export interface FusermountMount {
  /** The /dev/fuse fd of the new mount, non-blocking, close-on-exec. */
  devFd: number;
  /** Release the socket that keeps fusermount3 watching (after the unmount, or to let it unmount). */
  close(): void;
}

/**
 * Mount `mountpoint` through fusermount3 with the comma-separated mount `options` (fsname, subtype,
 * default_permissions, allow_other, auto_unmount, …; fusermount3 adds fd, rootmode, user_id, group_id).
 */
export async function fusermountMount(mountpoint: string, options: string): Promise<FusermountMount> {
  const helper = findFusermount();
  if (!helper) throw new MountError('mounting as a user needs the setuid fusermount3 (apt-get install fuse3), or --transport fuse-native');
  const [ours, theirs] = syscalls.socketpairUnix();
  let stderr = '';
  let child;
  try {
    child = spawn(helper, ['-o', options, '--', mountpoint], {
      stdio: ['ignore', 'ignore', 'pipe', theirs],
      env: { ...process.env, _FUSE_COMMFD: '3' },
    });
  } finally {
    syscalls.close(theirs);
  }
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  // fusermount3 sends the fd once the mount is made, or closes its end on failure. The wait is for a
  // process that only checks and mounts: blocking this thread for it costs nothing at mount time.
  const devFd = syscalls.recvFd(ours);
  if (devFd === undefined) {
    syscalls.close(ours);
    await exited;
    throw new MountError(`fusermount3 could not mount ${mountpoint}: ${stderr.trim().replace(/^fusermount3?: /, '') || 'no reason given'}`);
  }
  syscalls.setNonblocking(devFd);
  // With auto_unmount it lives on (in the background) until our end closes; nothing waits for it.
  child.unref();
  (child.stderr as Socket).unref();
  const releaseSentinel = startUnmountSentinel(mountpoint, helper);
  return {
    devFd,
    close: () => {
      syscalls.close(ours);
      releaseSentinel();
    },
  };
}
