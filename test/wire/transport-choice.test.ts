// --transport: `auto` takes the wire transport as root with /dev/fuse, the mount line says which
// transport serves and what it negotiated, and an option only the wire transport can honour is
// refused on fuse-native with a message that says what to do.
import { isMounted, layerfs } from '../helpers/cli';
import { sourceAndMountpoint } from '../helpers/scratch';

test.each([
  [[], /wire transport: FUSE 7\.\d+, kernel passthrough of file data/],
  [['--transport', 'fuse-native'], /fuse-native transport: libfuse 2/],
  [
    ['--transport', 'wire', '-o', 'passthrough=off'],
    /wire transport: FUSE 7\.\d+, the daemon serves file data \(passthrough off: passthrough=off\)/,
  ],
] as const)('layerfs passthrough %j says which transport serves it', async (extra, said) => {
  const t = sourceAndMountpoint({ f: 'x' });
  try {
    const r = await layerfs(['passthrough', t.src, t.mnt, ...extra]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(said);
    expect((await layerfs(['umount', t.mnt])).code).toBe(0);
  } finally {
    if (isMounted(t.mnt)) await layerfs(['umount', '--lazy', t.mnt]);
    t.cleanup();
  }
});

test('passthrough=require on fuse-native is a usage error that says what to do', async () => {
  const t = sourceAndMountpoint();
  try {
    const r = await layerfs(['passthrough', t.src, t.mnt, '--transport', 'fuse-native', '-o', 'passthrough=require']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/passthrough=require needs the wire transport/);
    expect(isMounted(t.mnt)).toBe(false);
  } finally {
    t.cleanup();
  }
});
