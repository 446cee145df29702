// The backoff of the work a request thread does itself (write-at-once.ts, fsync-at-once.ts): one
// call that took longer than `slowNs` waited for something (throttling, a busy disk, a journal
// commit), so every such call goes to the threadpool for a while, twice as long each time it keeps
// happening; a fast one starts the backoff over. A throttled machine costs the request thread one
// slow call per period, never a stream of them.
const BACKOFF_MIN_NS = 100_000_000n;
const BACKOFF_MAX_NS = 10_000_000_000n;

export class SlowBackoff {
  /** Until when (the clock's ns) every call is queued, and how long the next backoff lasts. */
  #queuedUntil = 0n;
  #backoff = BACKOFF_MIN_NS;

  constructor(readonly slowNs: bigint) {}

  /** Whether calls must be queued at `now`. */
  queued(now: bigint): boolean {
    return now < this.#queuedUntil;
  }

  /** A call done at once ran from `start` to `end`. */
  took(start: bigint, end: bigint): void {
    if (end - start > this.slowNs) {
      this.#queuedUntil = end + this.#backoff;
      if (this.#backoff < BACKOFF_MAX_NS) this.#backoff *= 2n;
    } else this.#backoff = BACKOFF_MIN_NS;
  }
}
