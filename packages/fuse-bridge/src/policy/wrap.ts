// Wrapping a filesystem on the handler interface: a Proxy that answers the overridden operations and
// forwards the rest bound to the inner filesystem, so optional operations the inner one lacks stay
// absent (a transport tests for them) and a third party's class needs no cooperation.
import type { NodeHandlers } from '../handler';

export function wrapHandlers(inner: NodeHandlers, overrides: Partial<NodeHandlers>): NodeHandlers {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (Object.prototype.hasOwnProperty.call(overrides, prop)) return overrides[prop as keyof NodeHandlers];
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

/** The operations that change the tree or a file (EROFS on a read-only mount). */
export const MODIFYING_OPS = [
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
