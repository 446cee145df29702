// Where a byte array's bytes are, as a plain number, for the syscalls of the request paths that take
// a buffer (the device's read and write, NOWAIT reads, statx, getdents64, openat2's open_how,
// splice's offset, the getxattr and listxattr family and the *xattrat calls' struct).
//
// Why: koffi checks every object argument of a pointer parameter for its own type tag before it
// looks for a buffer (napi_check_object_type_tag, a private-symbol lookup), and builds an iovec
// passed as [{ base, len }] property by property. Measured on this project's VMs (warm, per call):
// write(2) of a Buffer 570 ns against 270 ns for the same call given the address; preadv2 with an
// iovec object 2 200 ns against 570-700 ns with the iovec written into a scratch buffer whose
// address is passed. A served READ makes up to six such calls, a metadata request two to four.
//
// Why it is safe:
// - V8 moves objects, never an ArrayBuffer's backing store. A small typed array may keep its bytes on
//   the JS heap, where they do move, but taking its `.buffer` moves them off the heap for good; this
//   takes `.buffer` before it asks for the address.
// - The WeakMap holds the address only while the ArrayBuffer lives, and nothing here transfers or
//   detaches one (a detached buffer's address would dangle).
// - An address goes only to a synchronous call made while the caller holds the array: a call queued
//   on the threadpool (koffi's .async) keeps taking the array itself, so the GC sees it in use.
import koffi from './koffi-native';

const addresses = new WeakMap<ArrayBufferLike, number>();

/** The address of `a[0]` (a's bytes are contiguous from there). */
export function addressOf(a: Uint8Array): number {
  const ab = a.buffer;
  let base = addresses.get(ab);
  if (base === undefined) {
    base = Number(koffi.address(ab));
    addresses.set(ab, base);
  }
  return base + a.byteOffset;
}
