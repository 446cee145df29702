// Tests of a kernel feature that this host's kernel may lack (found out in a beforeAll): they pass
// with one warning there instead of failing on what is not layerfs's to fix.

/** A `test` that runs `fn` only when `available()` holds at run time, else passes saying `why`. */
export function testWhen(available: () => boolean, why: string) {
  return (name: string, fn: () => Promise<void>) =>
    test(name, async () => {
      if (!available()) return console.warn(`skipped: ${why}`);
      await fn();
    });
}
