// One subtree writable, the rest of the mirror read-only: every request that would change something
// outside `dir` is refused with EROFS (reads everywhere stay on the kernel's passthrough).
import type { FilePolicy, PolicyRequest } from '@layerfs/fuse-bridge';

const CHANGES = new Set([
  'create',
  'mkdir',
  'mknod',
  'symlink',
  'link',
  'unlink',
  'rmdir',
  'rename',
  'chmod',
  'chown',
  'utimens',
  'truncate',
  'setxattr',
  'removexattr',
]);

export function writableOnlyUnder(dir: string): FilePolicy {
  const inside = (p: string | undefined) => p !== undefined && (p === dir || p.startsWith(`${dir}/`));
  const O_ACCMODE = 3;
  const O_TRUNC = 0o1000;
  return {
    check: (req: PolicyRequest) => {
      const writes = CHANGES.has(req.op) || (req.op === 'open' && ((req.flags! & O_ACCMODE) !== 0 || (req.flags! & O_TRUNC) !== 0));
      if (!writes) return;
      const ok = inside(req.path) && (req.newPath === undefined || inside(req.newPath));
      return ok ? undefined : 'EROFS';
    },
  };
}
