// Serving a mount in the foreground: report readiness, unmount cleanly on SIGINT/SIGTERM/SIGHUP,
// and return when the mount is gone (also when someone else unmounted it).
//
// The signal handlers go in before mount(2): the kernel serves the mountpoint (and a watcher may
// see it) before mount() resolves, and a signal in that window would otherwise take Node's default
// action and kill the daemon with its mount still attached. A signal that arrives while mounting is
// remembered and honoured as soon as there is a handle to unmount.
import type { MountHandle } from '@layerfs/fuse-bridge';
import { failed, reportReady } from './daemon';

const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
export const DAEMON_TITLE = 'layerfs daemon ';

/**
 * Run `stop` at SIGINT, SIGTERM or SIGHUP; a second one exits at once, without waiting for
 * `waitingFor`. Returns what takes the handlers off again.
 */
export function onStopSignals(stop: () => void, waitingFor: string): () => void {
  let signals = 0;
  const handler = (sig: NodeJS.Signals) => {
    if (++signals > 1) {
      process.stderr.write(`layerfs: ${sig} again: exiting without waiting for ${waitingFor}\n`);
      process.exit(130);
    }
    stop();
  };
  for (const sig of STOP_SIGNALS) process.on(sig, handler);
  return () => {
    for (const sig of STOP_SIGNALS) process.off(sig, handler);
  };
}

export async function serveForeground(mount: () => Promise<MountHandle>, describe: string): Promise<void> {
  let handle: MountHandle | undefined;
  let stopRequested = false;
  const off = onStopSignals(() => {
    stopRequested = true;
    if (handle) void handle.unmount();
  }, 'the unmount');
  try {
    try {
      handle = await mount();
    } catch (err) {
      reportReady(failed(err));
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
    off();
  }
}
