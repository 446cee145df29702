// Wrapping a filesystem on the handler interface: a plain object with the overridden operations and
// the inner filesystem's other methods bound to it once, so optional operations the inner one lacks
// stay absent (a transport tests for them) and a third party's class needs no cooperation. Not a
// Proxy: a transport reads an operation on every request, and a trap that binds on each read cost
// a fifth of a lookup's time. Properties that are not methods (backingRoots, exclusive, getters)
// are forwarded live.
import type { NodeHandlers } from '../handler';

export function wrapHandlers(inner: NodeHandlers, overrides: Partial<NodeHandlers>): NodeHandlers {
  const out: Record<string, unknown> = {};
  const seen = new Set<string>();
  for (let o: object | null = inner; o && o !== Object.prototype; o = Object.getPrototypeOf(o) as object | null) {
    for (const key of Object.getOwnPropertyNames(o)) {
      if (key === 'constructor' || seen.has(key)) continue;
      seen.add(key);
      const d = Object.getOwnPropertyDescriptor(o, key)!;
      if (typeof d.value === 'function') out[key] = (d.value as (...a: unknown[]) => unknown).bind(inner);
      else
        Object.defineProperty(out, key, {
          get: () => (inner as unknown as Record<string, unknown>)[key],
          enumerable: true,
          configurable: true,
        });
    }
  }
  for (const [key, fn] of Object.entries(overrides)) Object.defineProperty(out, key, { value: fn, enumerable: true, writable: true });
  // A wrapper that looks at reads must see every one: the inner filesystem's readFd would let the
  // transport splice around it.
  if ('read' in overrides && !('readFd' in overrides)) delete out.readFd;
  return out as unknown as NodeHandlers;
}

/** The operations that change the tree or a file's metadata (named alike in the policy hook's requests). */
export const METADATA_CHANGES = [
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
] as const satisfies readonly (keyof NodeHandlers)[];

/** The operations that change the tree or a file (EROFS on a read-only mount). */
export const MODIFYING_OPS = [
  ...METADATA_CHANGES,
  'write',
  'fallocate',
  'tmpfile',
  'copyFileRange',
] as const satisfies readonly (keyof NodeHandlers)[];

/** Every operation that carries a caller (all but the lifecycle ones). */
export const REQUEST_OPS = [
  ...MODIFYING_OPS,
  'lookup',
  'getattr',
  'access',
  'statfs',
  'opendir',
  'readdir',
  'fsyncdir',
  'open',
  'read',
  'flush',
  'fsync',
  'readlink',
  'getxattr',
  'listxattr',
  'lseek',
] as const satisfies readonly (keyof NodeHandlers)[];
