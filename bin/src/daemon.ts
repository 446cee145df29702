// Daemon mode: `layerfs passthrough SRC MNT` returns once the mount is ready and leaves a daemon
// serving it. The parent re-runs itself with --foreground in a new session and waits on a pipe
// (fd 3) for one line from the child: "ok DETAIL" once mounted, or "error CODE MESSAGE".
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describeError, exitCodeFor } from './errors';

const READY_FD = 3;

export type ReadyResult = { ok: true; detail: string } | { ok: false; code: number; message: string };

/** What a mount that failed with `err` reports: its exit code and its one line. */
export function failed(err: unknown): ReadyResult {
  return { ok: false, code: exitCodeFor(err), message: describeError(err).replace(/^layerfs: /, '') };
}

/** The one line a waiting parent (or layerfs-overlay's script) reads: "ok DETAIL" or "error CODE MESSAGE". */
export function readyLine(result: ReadyResult): string {
  return result.ok ? `ok ${result.detail.replace(/\n/g, ' ')}\n` : `error ${result.code} ${result.message.replace(/\n/g, ' ')}\n`;
}

export function isDaemonChild(): boolean {
  return process.env.LAYERFS_READY_FD === String(READY_FD);
}

/** In the child: tell the waiting parent how the mount went. */
export function reportReady(result: ReadyResult): void {
  if (!isDaemonChild()) return;
  try {
    fs.writeSync(READY_FD, readyLine(result));
    fs.closeSync(READY_FD);
  } catch {
    // The parent is gone (killed while waiting): nobody is left to tell.
  }
  delete process.env.LAYERFS_READY_FD;
}

const LAYERFS = path.join(__dirname, '..', 'layerfs');

/**
 * The daemon's environment. Without NODE_EXTRA_CA_CERTS: Node parses that bundle at start-up, TLS
 * or not (40-50 ms of a mount where it is set), and the daemon opens no TLS connection.
 */
function daemonEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, LAYERFS_READY_FD: String(READY_FD) };
  delete env.NODE_EXTRA_CA_CERTS;
  return env;
}

/** In the parent: start the daemon and wait for its verdict. Resolves to the exit code to use. */
export function runDaemonized(
  argv: string[],
  logFile: string | undefined,
): Promise<{ code: number; message?: string; pid?: number; detail?: string }> {
  const errOut = logFile ? fs.openSync(logFile, 'a') : 'ignore';
  // The layerfs command itself, whatever entry point (layerfs-overlay) translated `argv` for it.
  const child = spawn(process.execPath, [LAYERFS, ...argv, '--foreground'], {
    detached: true,
    stdio: ['ignore', 'ignore', errOut, 'pipe'],
    env: daemonEnv(),
  });
  if (typeof errOut === 'number') fs.closeSync(errOut);
  return new Promise((resolve) => {
    let out = '';
    const pipe = child.stdio[READY_FD] as NodeJS.ReadableStream;
    pipe.setEncoding('utf8');
    pipe.on('data', (d: string) => {
      out += d;
    });
    let exited: number | null = null;
    child.on('exit', (code) => {
      exited = code ?? 1;
    });
    pipe.on('end', () => {
      const line = out.trim();
      const ok = /^ok(?: (.*))?$/s.exec(line);
      if (ok) {
        child.unref();
        resolve({ code: 0, pid: child.pid, detail: ok[1] });
        return;
      }
      const m = /^error (\d+) (.*)$/s.exec(line);
      if (m) {
        resolve({ code: Number(m[1]), message: m[2] });
        return;
      }
      const report = () =>
        resolve({
          code: 1,
          message: `the daemon exited (code ${exited}) before the mount was ready; run again with --foreground --debug to see why`,
        });
      if (exited !== null) report();
      else child.on('exit', () => report());
    });
  });
}
