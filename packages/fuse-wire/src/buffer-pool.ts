// Buffers of one size, reused. The request loop needs two kinds: a request buffer to replace the one
// an asynchronous WRITE takes with it (the handler owns a WRITE's body until it settles), and a reply
// buffer for each READ the daemon answers. Allocated fresh each time, a 1 MiB buffer is new memory:
// the kernel faults it in a page at a time as a read fills it (117 000 page faults for a 512 MiB cold
// read through a daemon-served overlay), and the garbage collector has to account for it and free it
// (a create-and-write of 3000 small files spent a quarter of its time there).
//
// Ownership: a buffer is its user's from take() until give(). A READ reply is given back right after
// the (synchronous) write to /dev/fuse, so nothing may keep a view of it past that point (the policy
// hook's onRead documents its bytes as valid during the call only); a WRITE's request buffer when
// its handler settles.

export class BufferPool {
  /**
   * The idle buffers, whole. Kept as Buffers, not ArrayBuffers: Buffer.from(arrayBuffer) is
   * JavaScript that a fresh daemon interprets on every READ it answers.
   */
  readonly #free: Buffer[] = [];
  /** Each pooled buffer by its memory, so that give() may be handed any view of it. */
  readonly #whole = new WeakMap<ArrayBufferLike, Buffer>();

  /** `size`: every pooled buffer's length; `keep`: how many idle ones to hold. */
  constructor(
    readonly size: number,
    readonly keep: number,
  ) {}

  /** A buffer of at least `bytes` (default: the pool's size): pooled when it fits, else a fresh one give() will not keep. */
  take(bytes = this.size): Buffer {
    if (bytes > this.size) return Buffer.allocUnsafe(bytes);
    const free = this.#free.pop();
    if (free) return free;
    const buf = Buffer.allocUnsafeSlow(this.size); // a memory of its own, not a slice of Node's shared pool
    this.#whole.set(buf.buffer, buf);
    return buf;
  }

  /** `buf` (or any view of it) is no longer used: it may serve the next take(). */
  give(buf: Uint8Array): void {
    const whole = this.#whole.get(buf.buffer);
    if (whole && this.#free.length < this.keep && !this.#free.includes(whole)) this.#free.push(whole);
  }
}
