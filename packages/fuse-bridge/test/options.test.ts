// Mount option parsing: escapes, the bridge's own keys taken out, bad values refused with a reason.
import { defaultBridgeOptions, parseOptionString, takeBridgeOptions } from '@layerfs/fuse-bridge';

test('items, values, escaped commas, empty items and later keys winning', () => {
  const m = parseOptionString('ro,lowerdir=a\\,b,,x=1, x=2 ,');
  expect([...m.entries()]).toEqual([
    ['ro', true],
    ['lowerdir', 'a,b'],
    ['x', '2'],
  ]);
});

test('the bridge takes its keys and leaves the rest', () => {
  const m = parseOptionString('attr_timeout=0.5,allow_other,passthrough=off,cache=none,upperdir=/u');
  const o = takeBridgeOptions(m);
  expect(o).toMatchObject({ attrTimeout: 0.5, allowOther: true, passthrough: 'off', cache: 'none' });
  expect([...m.keys()]).toEqual(['upperdir']);
  expect(defaultBridgeOptions().passthrough).toBe('auto');
});

test('bad values are refused with what is allowed', () => {
  expect(() => takeBridgeOptions(parseOptionString('cache=sometimes'))).toThrow(/auto, kernel or none/);
  expect(() => takeBridgeOptions(parseOptionString('passthrough=maybe'))).toThrow(/auto, off or require/);
  expect(() => takeBridgeOptions(parseOptionString('attr_timeout=-1'))).toThrow(/attr_timeout/);
});
