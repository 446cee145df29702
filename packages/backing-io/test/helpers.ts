import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BackingIoOps, nodeIoOps } from '@layerfs/backing-io';

export function tempDir(prefix = 'layerfs-unit-', under = os.tmpdir()): { dir: string; cleanup(): void } {
  const dir = fs.mkdtempSync(path.join(under, prefix));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** `body` with a file `name` in a fresh temp dir, open read-write (created with `content`); all gone after. */
export function withFile(name: string, body: (fd: number, p: string) => void, content?: Uint8Array): void {
  const t = tempDir();
  try {
    const p = path.join(t.dir, name);
    if (content) fs.writeFileSync(p, content);
    const fd = fs.openSync(p, content ? 'r+' : 'w+');
    try {
      body(fd, p);
    } finally {
      fs.closeSync(fd);
    }
  } finally {
    t.cleanup();
  }
}

/**
 * Real I/O whose reads and writes are held in flight until `release()`: the fake for time that lets a
 * test release a file and recycle fds while requests are still outstanding. The held request runs
 * its syscall on whatever fd number it was given, exactly as a slow threadpool job would.
 */
export function gatedIo(base: BackingIoOps = nodeIoOps) {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  const closed: number[] = [];
  const ops: BackingIoOps = {
    ...base,
    // Every read and write waits at the gate: none may complete at once on the calling thread.
    readNowait: undefined,
    writeAtOnce: undefined,
    read: async (fd, buf, off, len, pos) => {
      await gate;
      return base.read(fd, buf, off, len, pos);
    },
    write: async (fd, buf, off, len, pos) => {
      await gate;
      return base.write(fd, buf, off, len, pos);
    },
    close: async (fd) => {
      closed.push(fd);
      return base.close(fd);
    },
  };
  return { ops, release: () => open(), closed };
}

/** Real I/O that records the order of syscalls (to prove a sync happened before completion). */
export function tracingIo(base: BackingIoOps = nodeIoOps) {
  const trace: string[] = [];
  const ops: BackingIoOps = {
    ...base,
    write: async (...a) => {
      const n = await base.write(...a);
      trace.push('write');
      return n;
    },
    writeAtOnce: (...a) => {
      const n = base.writeAtOnce?.(...a);
      if (n !== undefined) trace.push('write');
      return n;
    },
    fsync: async (fd) => {
      await base.fsync(fd);
      trace.push('fsync');
    },
    fdatasync: async (fd) => {
      await base.fdatasync(fd);
      trace.push('fdatasync');
    },
  };
  return { ops, trace };
}
