// Permission specifications as bindfs takes them (-p/--perms, --create-with-perms, --chmod-filter):
// a comma- or colon-separated list of chmod(1)-like clauses applied in order, with bindfs's
// extensions. Parsed once at mount time into a chain of closures; applying one costs a few integer
// operations per attribute reply.
//
//   0644                 octal: the permission bits become these (setuid/setgid/sticky are kept:
//                        bindfs ignores them in specifications)
//   [ugoadf]*(op perms)+ op is + - =; perms are r w x, X (execute if a directory or if the
//                        original file had any execute bit), D (execute on directories only), or
//                        u g o (that class's bits of the original file). d / f restrict the clause to
//                        directories / non-directories. No who letter means a (bindfs ignores
//                        umask), unless d or f is there: then nothing, as bindfs does.
//
// "Original" is the mode the chain started from (the file's mode on disk, or the mode a chmod asked
// for), not the running result: `0644,a+X` adds x to directories and to files that were executable.
import { MountError } from '../mount-error';

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;

/** A parsed specification: the mode shown for a file whose mode is `mode`. */
export type PermChain = (mode: number) => number;

type Clause = (mode: number, original: number, dir: boolean) => number;

const CLASS_SHIFT = { u: 6, g: 3, o: 0 } as const;

function bad(option: string, spec: string, why: string): MountError {
  return new MountError(`${option}: bad permission specification '${spec}': ${why} (e.g. ${option}=0644,a+X or og-x:u=rwX)`, {
    usage: true,
  });
}

function parseClause(option: string, spec: string): Clause {
  if (/^[0-7]{1,4}$/.test(spec)) {
    const bits = parseInt(spec, 8) & 0o777;
    return (mode) => (mode & ~0o777) | bits;
  }
  const m = /^([ugoadf]*)((?:[-+=][rwxXDugo]*)+)$/.exec(spec);
  if (!m) throw bad(option, spec, 'expected octal bits or [ugoa][df](+|-|=)[rwxXDugo]');
  const left = m[1]!;
  if (left.includes('d') && left.includes('f')) throw bad(option, spec, "'d' and 'f' together match nothing");
  // No who letter: all classes — but with only d or f on the left, none (bindfs 1.14 does so).
  const who = left.replace(/[df]/g, '') || (left === '' ? 'a' : '');
  let whoMask = 0;
  for (const c of who) whoMask |= c === 'a' ? 0o777 : 0o7 << CLASS_SHIFT[c as 'u' | 'g' | 'o'];
  const only = left.includes('d') ? 'd' : left.includes('f') ? 'f' : '';
  const ops = m[2]!.match(/[-+=][rwxXDugo]*/g)!;
  const steps = ops.map((o) => {
    const op = o[0]!;
    const letters = o.slice(1);
    // The rwx triple this operation names, for a file with this original mode.
    const triple = (original: number, dir: boolean): number => {
      let t = 0;
      for (const c of letters) {
        if (c === 'r') t |= 4;
        else if (c === 'w') t |= 2;
        else if (c === 'x') t |= 1;
        else if (c === 'X') t |= dir || original & 0o111 ? 1 : 0;
        else if (c === 'D') t |= dir ? 1 : 0;
        else t |= (original >> CLASS_SHIFT[c as 'u' | 'g' | 'o']) & 7;
      }
      return t;
    };
    return (mode: number, original: number, dir: boolean): number => {
      const bits = (triple(original, dir) * 0o111) & whoMask;
      if (op === '+') return mode | bits;
      if (op === '-') return mode & ~bits;
      return (mode & ~whoMask) | bits;
    };
  });
  return (mode, original, dir) => {
    if ((only === 'd' && !dir) || (only === 'f' && dir)) return mode;
    for (const s of steps) mode = s(mode, original, dir);
    return mode;
  };
}

/** Parse `spec` (the value of `option`, named in the error). Throws a usage MountError when malformed. */
export function parsePerms(option: string, spec: string): PermChain {
  const parts = spec.split(/[,:]/).map((s) => s.trim());
  if (parts.length === 0 || parts.some((p) => p === '')) throw bad(option, spec, 'an empty item');
  const clauses = parts.map((p) => parseClause(option, p));
  return (mode) => {
    const dir = (mode & S_IFMT) === S_IFDIR;
    let out = mode;
    for (const c of clauses) out = c(out, mode, dir);
    return out;
  };
}
