// How soon V8 optimizes the daemon's code. A daemon answers the same few handlers thousands of
// times, but many mounts live briefly (a container build step, a CI job, one benchmark row), and with
// V8's default interrupt budget most of the request path still ran in the interpreter and baseline
// tiers after several thousand requests: a fresh daemon spent 10-15% more CPU on a cold `cat` of 3 000
// files than one that had served the same files once. A smaller budget sends hot functions to
// TurboFan sooner; functions that run rarely never exhaust it, so little is compiled in vain.
//
// Set once the mount is up, not at start-up: V8 checks a code cache against a hash of its flags, and
// the bundled mount program loads from one.
import * as v8 from 'node:v8';

/** Bytes of bytecode a function runs per profiler tick (Node 20's V8: 66 KiB; three ticks to TurboFan). */
const INTERRUPT_BUDGET = 8 * 1024;

let tuned = false;

export function tierUpSooner(): void {
  if (tuned) return;
  tuned = true;
  v8.setFlagsFromString(`--interrupt-budget=${INTERRUPT_BUDGET}`);
}
