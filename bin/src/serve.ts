// Serving a mount in the foreground: report readiness, unmount cleanly on SIGINT/SIGTERM/SIGHUP,
// and return when the mount is gone (also when someone else unmounted it).
//
// The signal handlers go in before mount(2): the kernel serves the mountpoint (and a watcher may
// see it) before mount() resolves, and a signal in that window would otherwise take Node's default
// action and kill the daemon with its mount still attached. A signal that arrives while mounting is
// remembered and honoured as soon as there is a handle to unmount.
import type { MountHandle } from '@layerfs/fuse-bridge';
import { reportReady } from './daemon';
import { describeError, exitCodeFor } from './errors';

export const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
export const DAEMON_TITLE = 'layerfs daemon ';

export async function serveForeground(mount: () => Promise<MountHandle>, describe: string): Promise<void> {
  let handle: MountHandle | undefined;
  let stopRequested = false;
  let signals = 0;
  const stop = (sig: NodeJS.Signals) => {
    if (++signals > 1) {
      process.stderr.write(`layerfs: ${sig} again: exiting without waiting for the unmount\n`);
      process.exit(130);
    }
    stopRequested = true;
    if (handle) void handle.unmount();
  };
  for (const sig of STOP_SIGNALS) process.on(sig, stop);
  try {
    try {
      handle = await mount();
    } catch (err) {
      reportReady({ ok: false, code: exitCodeFor(err), message: describeError(err).replace(/^layerfs: /, '') });
      throw err;
    }
    process.stderr.write(
      `layerfs: ${describe} on ${handle.mountpoint} (${handle.description}; pid ${process.pid}); stop with Ctrl-C or layerfs umount ${handle.mountpoint}\n`,
    );
    reportReady({ ok: true, detail: handle.description });
    // What ps shows: which mount this daemon serves (and `layerfs umount` finds it by this, to wait
    // for it). The mountpoint comes first: a title longer than the original argv is cut at its end.
    process.title = `${DAEMON_TITLE}${handle.mountpoint}: ${describe}`;
    if (stopRequested) void handle.unmount();
    await handle.closed;
  } finally {
    for (const sig of STOP_SIGNALS) process.off(sig, stop);
  }
}
