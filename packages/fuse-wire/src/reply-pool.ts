// READ reply buffers, reused. A READ that the daemon serves is answered from a buffer of up to
// max_pages of data; allocated fresh for every READ, each one is new memory that the kernel faults in
// a page at a time as the read fills it (117 000 page faults for a 512 MiB cold read through a
// daemon-served overlay, a page fault per 4 KiB read), and that the garbage collector later has to
// account for and free.
//
// Ownership: a buffer is the reply's from take() until the reply is written to /dev/fuse; the
// session gives it back right after that write, which is synchronous. Nothing may keep a view of a
// reply past that point (the policy hook's onRead documents its bytes as valid during the call only).

export class ReplyPool {
  readonly #free: ArrayBuffer[] = [];

  /** `size`: every pooled buffer's length (the largest reply); `keep`: how many idle ones to hold. */
  constructor(
    readonly size: number,
    readonly keep: number,
  ) {}

  /** A buffer of at least `bytes`: pooled when it fits, else a fresh one that give() will not keep. */
  take(bytes: number): Buffer {
    if (bytes > this.size) return Buffer.allocUnsafe(bytes);
    const ab = this.#free.pop();
    return ab ? Buffer.from(ab) : Buffer.allocUnsafeSlow(this.size);
  }

  /** The reply (or any view of it) was written: its buffer may serve the next READ. */
  give(reply: Buffer): void {
    const ab = reply.buffer as ArrayBuffer;
    if (ab.byteLength === this.size && this.#free.length < this.keep && !this.#free.includes(ab)) this.#free.push(ab);
  }
}
