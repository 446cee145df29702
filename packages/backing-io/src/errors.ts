// Errno-carrying errors. Inside layerfs an errno is always a *positive* number (EIO = 5);
// exactly one adapter per transport negates it for the kernel.
import { constants } from 'node:os';

export type ErrnoCode = keyof typeof constants.errno;

const codeByErrno = new Map<number, string>();
for (const [code, num] of Object.entries(constants.errno)) {
  if (!codeByErrno.has(num)) codeByErrno.set(num, code);
}

const DESCRIPTIONS: Partial<Record<string, string>> = {
  ENOENT: 'no such file or directory',
  EEXIST: 'file already exists',
  ENOTDIR: 'not a directory',
  EISDIR: 'illegal operation on a directory',
  ENOTEMPTY: 'directory not empty',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EXDEV: 'cross-device link not permitted',
  EROFS: 'read-only file system',
  ELOOP: 'too many levels of symbolic links',
  EINVAL: 'invalid argument',
  EIO: 'i/o error',
  EBADF: 'bad file descriptor',
  ENODATA: 'no data available',
  ENOSYS: 'function not implemented',
  EBUSY: 'resource busy or locked',
  ENOTCONN: 'transport endpoint is not connected',
};

/** An error that *is* an errno, with a Node-style message: `ENOENT: no such file or directory, open '/a'`. */
export class FsError extends Error {
  readonly errno: number;
  readonly code: string;
  readonly syscall: string | undefined;
  readonly path: string | undefined;

  constructor(code: ErrnoCode | number, syscall?: string, path?: string, detail?: string) {
    const errno = typeof code === 'number' ? code : constants.errno[code];
    const name = typeof code === 'number' ? (codeByErrno.get(code) ?? `E${code}`) : code;
    const what = detail ?? DESCRIPTIONS[name] ?? name.toLowerCase();
    // No stack: an errno is an answer, not a bug, and the request paths make one for every negative
    // lookup and every absent xattr the kernel asks about (capturing the stack was ~10 µs of each).
    const stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(`${name}: ${what}${syscall ? `, ${syscall}` : ''}${path !== undefined ? ` '${path}'` : ''}`);
    Error.stackTraceLimit = stackTraceLimit;
    this.name = 'FsError';
    this.errno = errno;
    this.code = name;
    this.syscall = syscall;
    this.path = path;
  }
}

/**
 * The positive errno an error carries, or undefined when it carries none (a bug, not an fs error).
 * Node's own fs errors carry `errno` negated and `code` as a name; koffi calls give us numbers.
 */
export function errnoOf(err: unknown): number | undefined {
  if (err === null || typeof err !== 'object') return undefined;
  const e = err as { errno?: unknown; code?: unknown };
  if (typeof e.code === 'string' && e.code in constants.errno) {
    return constants.errno[e.code as ErrnoCode];
  }
  if (typeof e.errno === 'number' && e.errno !== 0) return Math.abs(e.errno);
  return undefined;
}

export function errnoName(errno: number): string {
  return codeByErrno.get(errno) ?? `E${errno}`;
}

/** True when `err` carries the named errno. Use it to ignore errors by name, never wholesale. */
export function isErrno(err: unknown, code: ErrnoCode): boolean {
  return errnoOf(err) === constants.errno[code];
}
