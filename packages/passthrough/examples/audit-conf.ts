// An audit log of every write to a `*.conf` file: those opens are served by the daemon, so the
// policy sees their bytes; every other open stays on the kernel's passthrough.
import type { FilePolicy } from '@layerfs/fuse-bridge';

export function auditConfWrites(log: (line: string) => void): FilePolicy {
  const O_ACCMODE = 3;
  return {
    serveData: (req) => req.path.endsWith('.conf') && (req.flags! & O_ACCMODE) !== 0,
    onWrite: (ev) => {
      log(`uid ${ev.ctx.uid} wrote ${ev.data.length} bytes at ${ev.offset} of ${ev.path}`);
    },
  };
}
