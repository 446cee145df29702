// A comparable picture of a tree: path, mode, type, size, content, symlink target, user xattrs.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { syscalls } from '@layerfs/backing-io';

export function treeView(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const name of fs.readdirSync(path.join(root, rel)).sort()) {
      const r = path.join(rel, name);
      const p = path.join(root, r);
      const st = fs.lstatSync(p);
      const xattrs = syscalls
        .llistxattr(p)
        .filter((n) => n.startsWith('user.'))
        .sort()
        .map((n) => `${n}=${syscalls.lgetxattr(p, n).toString()}`)
        .join(',');
      let what = '';
      if (st.isFile()) what = `file ${st.size} ${fs.readFileSync(p, 'utf8')}`;
      else if (st.isSymbolicLink()) what = `link -> ${fs.readlinkSync(p)}`;
      else if (st.isDirectory()) what = 'dir';
      else what = `other ${st.mode >> 12}`;
      out.push(`${r} ${(st.mode & 0o7777).toString(8)} ${what} [${xattrs}]`);
      if (st.isDirectory()) walk(r);
    }
  };
  walk('');
  return out;
}
