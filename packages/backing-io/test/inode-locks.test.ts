import { InodeLocks } from '@layerfs/backing-io';

test('one holder per key, FIFO hand-over, keys independent', async () => {
  const locks = new InodeLocks<number>();
  const order: string[] = [];
  const u1 = await locks.lock(1);
  const p2 = locks.lock(1).then((u) => {
    order.push('second');
    return u;
  });
  const p3 = locks.lock(1).then((u) => {
    order.push('third');
    return u;
  });
  const other = await locks.lock(2); // not blocked by key 1
  order.push('other');
  other();
  await new Promise((r) => setImmediate(r));
  expect(order).toEqual(['other']);
  u1();
  (await p2)();
  (await p3)();
  expect(order).toEqual(['other', 'second', 'third']);
  expect(locks.isLocked(1)).toBe(false);
  expect(() => u1()).toThrow(/twice/);
});

test('lockMany takes keys in ascending order, so opposite requests cannot deadlock', async () => {
  const locks = new InodeLocks<number>();
  const results = await Promise.all(
    Array.from({ length: 50 }, async (_, i) => {
      const unlock = await locks.lockMany(i % 2 ? [1, 2, 3] : [3, 2, 1]);
      await new Promise((r) => setImmediate(r));
      unlock();
      return i;
    }),
  );
  expect(results).toHaveLength(50);
  expect(locks.isLocked(1) || locks.isLocked(2) || locks.isLocked(3)).toBe(false);
});
