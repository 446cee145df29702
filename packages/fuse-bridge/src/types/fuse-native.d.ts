// The slice of fuse-native 2.2.6 the bridge uses. fuse-native ships no types.
declare module 'fuse-native' {
  type Cb = (err: Error | null) => void;
  class Fuse {
    constructor(mnt: string, ops: Record<string, unknown>, opts?: Record<string, unknown>);
    readonly mnt: string;
    mount(cb: Cb): void;
    unmount(cb: Cb): void;
    protected _fuseOptions(): string;
    protected _makeHandlerArray(): Array<((...args: unknown[]) => unknown) | undefined>;
    protected _close(cb: Cb): void;
    protected _thread: Buffer | null;
  }
  export = Fuse;
}

declare module 'node-gyp-build' {
  function load(dir: string): unknown;
  export = load;
}
