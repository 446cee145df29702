// Mount option parsing: escapes, the bridge's own keys taken out, bad values refused with a reason.
import { defaultBridgeOptions, libfuseOptions, parseOptionString, takeBridgeOptions } from '@layerfs/fuse-bridge';

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

test("mount(8)'s generic options become mount flags; fstab-only ones are taken and do nothing", () => {
  const m = parseOptionString(
    'ro,rw,dev,suid,nosuid,noexec,noatime,sync,dirsync,nodiratime,defaults,user,_netdev,x-systemd.automount,comment=x,mine=1',
  );
  const o = takeBridgeOptions(m);
  expect(o.readOnly).toBe(false);
  expect(o.vfs).toEqual({ dev: true, suid: false, exec: false, atime: 'noatime', sync: true, dirsync: true, diratime: false });
  // What is left belongs to the filesystem (or is an unknown option).
  expect([...m.keys()]).toEqual(['mine']);
  expect(libfuseOptions({ ...o, vfs: { exec: false, atime: 'relatime' } })).toEqual(expect.arrayContaining(['noexec']));
  expect(libfuseOptions({ ...o, vfs: { atime: 'relatime' } }).some((x) => /atime/.test(x))).toBe(false);
});

test('key+=value keeps every value in order (the append form, overlay lowerdir+=); other keys keep the last', () => {
  const o = parseOptionString('lowerdir+=/a:b,x=1,lowerdir+=/c');
  parseOptionString('lowerdir+=/d,x=2', o);
  expect(o.get('lowerdir+')).toBe('/a:b\0/c\0/d');
  expect(o.get('x')).toBe('2');
});

test('a double-quoted value keeps its commas and quotes (an SELinux context with categories)', () => {
  const o = parseOptionString('lowerdir=/l,context="system_u:object_r:container_file_t:s0:c1,c2",ro');
  expect(o.get('context')).toBe('"system_u:object_r:container_file_t:s0:c1,c2"');
  expect(o.get('ro')).toBe(true);
  expect(o.get('lowerdir')).toBe('/l');
});
