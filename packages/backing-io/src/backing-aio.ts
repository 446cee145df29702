// Models fs/backing-file.c: struct backing_aio, backing_aio_put(), backing_aio_cleanup().
//
// One in-flight request on a backing file. It starts with two references — the submitter's and the
// completion's — and whoever drops the last one runs the cleanup: copy the backing position back to
// the user's request, run the completion hook, put the request's BackingFile reference. When the I/O
// finished without queueing (a zero-length request, an error before submission, a read the page
// cache held, a write done at once), the completion runs inline and so does the cleanup; nothing
// waits on a callback that will never come, and the submitter can answer with the byte count at
// once (`doneNow`) instead of a promise that settles only after the caller's turn of the event loop.
import { BackingFile } from './backing-file';
import { Kiocb } from './kiocb';

export type AioResult = { ok: true; bytes: number } | { ok: false; error: unknown };

export class BackingAio {
  readonly file: BackingFile;
  readonly iocb: Kiocb;
  readonly backingIocb: Kiocb;
  #refs = 2;
  #result: AioResult | undefined;
  readonly #cleanup: (aio: BackingAio, result: AioResult) => Promise<void> | void;
  readonly #done: Promise<number>;
  #doneNow: number | undefined;
  #resolve!: (bytes: number) => void;
  #reject!: (err: unknown) => void;

  /** Takes a reference on `file` for as long as the request lives. */
  constructor(file: BackingFile, iocb: Kiocb, backingIocb: Kiocb, cleanup: (aio: BackingAio, result: AioResult) => Promise<void> | void) {
    this.file = file.get();
    this.iocb = iocb;
    this.backingIocb = backingIocb;
    this.#cleanup = cleanup;
    this.#done = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  /** The request's final outcome: bytes transferred, or the error. Settles after cleanup. */
  get done(): Promise<number> {
    return this.#done;
  }

  /**
   * The bytes transferred where the request succeeded and its cleanup already ran (inline, with a
   * hook that returned no promise): `done` then holds nothing more. Undefined otherwise.
   */
  get doneNow(): number | undefined {
    return this.#doneNow;
  }

  /** The completion: record the result and drop the completion's reference. Exactly once. */
  complete(result: AioResult): void {
    if (this.#result !== undefined) throw new Error(`backing aio on ${this.file.userPath} completed twice`);
    this.#result = result;
    this.put();
  }

  /** The submitter's put, once the request has been handed to the I/O layer. */
  put(): void {
    if (this.#refs <= 0) throw new Error(`backing aio on ${this.file.userPath}: reference put more than taken`);
    if (--this.#refs > 0) return;
    const result = this.#result;
    if (result === undefined) throw new Error('backing aio freed before completion');
    if (result.ok) this.iocb.pos = this.backingIocb.pos;
    let hook: Promise<void> | void;
    try {
      hook = this.#cleanup(this, result);
    } catch (err) {
      hook = Promise.reject(err);
    }
    // The file reference is put only after the hook is done with the fd (endWrite fstats it).
    if (!(hook instanceof Promise)) {
      this.finish(result, undefined);
      return;
    }
    hook.then(
      () => this.finish(result, undefined),
      (hookErr: unknown) => this.finish(result, hookErr),
    );
  }

  private finish(result: AioResult, hookErr: unknown): void {
    // A failing close(2) after the last I/O has nothing left to report to: every write's own
    // result (and fsync, for SYNC requests) already carried the data errors.
    void this.file.put()?.catch(() => undefined);
    if (!result.ok) this.#reject(result.error);
    else if (hookErr !== undefined) this.#reject(hookErr);
    else {
      this.#doneNow = result.bytes;
      this.#resolve(result.bytes);
    }
  }
}
