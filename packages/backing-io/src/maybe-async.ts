// Values that may or may not be Promises: a handler answers synchronously where it can (no thread
// hop) and asynchronously where it must; the code between them must not force a hop of its own.

/** Apply `fn` to a value or a promise of one, staying synchronous when the input is. */
export function thenMaybe<T, U>(v: T | Promise<T>, fn: (t: T) => U | Promise<U>): U | Promise<U> {
  return v instanceof Promise ? v.then(fn) : fn(v);
}

/**
 * Run `call`, then `after` once it has settled, either way (a promise's finally), staying synchronous
 * when `call` is. `after` runs before a synchronous throw propagates.
 */
export function finallyMaybe<T>(call: () => T | Promise<T>, after: () => void): T | Promise<T> {
  let v: T | Promise<T>;
  try {
    v = call();
  } catch (err) {
    after();
    throw err;
  }
  if (v instanceof Promise) return v.finally(after);
  after();
  return v;
}
