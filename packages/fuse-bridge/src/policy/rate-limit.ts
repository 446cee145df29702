// bindfs's --read-rate/--write-rate: one global budget of bytes per second shared by every reader
// (or writer), enforced by delaying each request until the bytes before it have had their time.
// As in bindfs, a request is never split, so a caller with bigger requests gets ahead.
export class RateLimiter {
  readonly #nsPerByte: number;
  #freeAt = 0; // ms (performance.now) when the budget is next free

  constructor(bytesPerSecond: number) {
    this.#nsPerByte = 1e9 / bytesPerSecond;
  }

  /** Resolves when `bytes` may move. */
  take(bytes: number): Promise<void> | undefined {
    const now = performance.now();
    const start = Math.max(now, this.#freeAt);
    this.#freeAt = start + (bytes * this.#nsPerByte) / 1e6;
    const wait = this.#freeAt - now;
    // The request is charged up front and waits for its own bytes' time: the rate holds from the first request.
    return wait >= 1 ? new Promise((r) => setTimeout(r, wait)) : undefined;
  }
}

/** `N[kMGT]` (1024-based, as bindfs) in bytes per second; throws on anything else. */
export function parseRate(value: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)([kKmMgGtT]?)$/.exec(value.trim());
  if (!m) return undefined;
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  const n = Number(m[1]) * mult;
  return n > 0 ? n : undefined;
}
