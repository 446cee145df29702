// One subtree writable, the rest of the mirror read-only: every request that would change something
// outside `dir` is refused with EROFS (reads everywhere stay on the kernel's passthrough).
import { changesSomething, type FilePolicy } from '@layerfs/fuse-bridge';

export function writableOnlyUnder(dir: string): FilePolicy {
  const inside = (p: string | undefined) => p !== undefined && (p === dir || p.startsWith(`${dir}/`));
  return {
    check: (req) => {
      if (!changesSomething(req)) return;
      const ok = inside(req.path) && (req.newPath === undefined || inside(req.newPath));
      return ok ? undefined : 'EROFS';
    },
  };
}
