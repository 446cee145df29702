// Per-inode async locks: the userspace stand-in for inode_lock(). A filesystem takes an inode's lock
// around anything that must not interleave with another update of the same inode's cached attributes
// (the endWrite copy-attr, a truncate, a copy-up).
//
// Lock order: when one operation needs several inodes (rename: two parents and a child), it takes
// them through lockMany(), which sorts keys ascending, so two operations can never wait on each other
// in opposite order. Never take a second lock while holding one outside lockMany().

export type Unlock = () => void;

interface LockState {
  held: boolean;
  waiters: Array<() => void>;
}

export class InodeLocks<K extends string | number | bigint> {
  private readonly locks = new Map<K, LockState>();

  /** Resolves once `key` is held; call the returned function exactly once to release it. */
  lock(key: K): Promise<Unlock> {
    let state = this.locks.get(key);
    if (state === undefined) {
      state = { held: false, waiters: [] };
      this.locks.set(key, state);
    }
    const s = state;
    const unlock = this.makeUnlock(key, s);
    if (!s.held) {
      s.held = true;
      return Promise.resolve(unlock);
    }
    return new Promise((resolve) => s.waiters.push(() => resolve(unlock)));
  }

  async lockMany(keys: readonly K[]): Promise<Unlock> {
    const sorted = [...new Set(keys)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const unlocks: Unlock[] = [];
    for (const k of sorted) unlocks.push(await this.lock(k));
    return () => {
      for (const u of unlocks.reverse()) u();
    };
  }

  async withLock<T>(key: K, fn: () => T | Promise<T>): Promise<T> {
    const unlock = await this.lock(key);
    try {
      return await fn();
    } finally {
      unlock();
    }
  }

  isLocked(key: K): boolean {
    return this.locks.get(key)?.held ?? false;
  }

  private makeUnlock(key: K, s: LockState): Unlock {
    let released = false;
    return () => {
      if (released) throw new Error('inode lock released twice');
      released = true;
      const next = s.waiters.shift();
      if (next) next();
      else {
        s.held = false;
        this.locks.delete(key);
      }
    };
  }
}
