// Serving a mount in the foreground: report readiness, unmount cleanly on SIGINT/SIGTERM/SIGHUP,
// and return when the mount is gone (also when someone else unmounted it).
import type { MountHandle } from '@layerfs/fuse-bridge';
import { reportReady } from './daemon';
import { describeError, exitCodeFor } from './errors';

export async function serveForeground(mount: () => Promise<MountHandle>, describe: string): Promise<void> {
  let handle: MountHandle;
  try {
    handle = await mount();
  } catch (err) {
    reportReady({ ok: false, code: exitCodeFor(err), message: describeError(err).replace(/^layerfs: /, '') });
    throw err;
  }
  let signals = 0;
  const stop = (sig: NodeJS.Signals) => {
    if (++signals > 1) {
      process.stderr.write(`layerfs: ${sig} again: exiting without waiting for the unmount\n`);
      process.exit(130);
    }
    void handle.unmount();
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, stop);
  process.stderr.write(`layerfs: ${describe} on ${handle.mountpoint} (${handle.description}; pid ${process.pid}); stop with Ctrl-C or layerfs umount ${handle.mountpoint}\n`);
  reportReady({ ok: true, detail: handle.description });
  await handle.closed;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(sig, stop);
}
