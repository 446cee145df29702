// Run a program asynchronously: tests that serve a mount in their own process must never touch it
// with a synchronous call (the process would wait on itself).
import { execFile } from 'node:child_process';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: string[], opts: { timeoutMs?: number; cwd?: string } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: opts.timeoutMs ?? 30000, maxBuffer: 64 << 20, cwd: opts.cwd }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** python3 -c SCRIPT ARGS…; the script's stdout, or a thrown error with its stderr. */
export async function py(script: string, ...args: string[]): Promise<string> {
  const r = await run('python3', ['-c', script, ...args]);
  if (r.code !== 0) throw new Error(`python3 failed (${r.code}): ${r.stderr}`);
  return r.stdout.trim();
}
