// The overlay's mount options as both entry points take them: `layerfs overlay` (the CLI) and
// `layerfs-overlay` (fuse-overlayfs's argument shape, whose daemon starts without the CLI). Kept
// apart from cli.ts so the mount program's daemon does not load yargs.
import type { OptionMap, TransportChoice } from '@layerfs/fuse-bridge';
import { optionTaker, takeBridgeOptions } from '@layerfs/fuse-bridge';
import { MountOverlayOptions, parseLowerdir, takeOverlayFeatures } from '@layerfs/overlay';
import { UsageError } from './errors';

export function rejectLeftovers(opts: OptionMap, command: 'passthrough' | 'overlay'): void {
  if (opts.size > 0) {
    throw new UsageError(`unknown mount option${opts.size > 1 ? 's' : ''}: ${[...opts.keys()].join(', ')} (see layerfs ${command} --help)`);
  }
}

/** Everything `opts` says about an overlay mount (taken out of it); anything left over is an error. */
export function overlayMountOptions(
  opts: OptionMap,
  given: { mountpoint: string; lower?: string[]; upper?: string; work?: string; transport?: TransportChoice },
): MountOverlayOptions {
  const take = optionTaker(opts);
  const lowerOpt = take('lowerdir');
  // lowerdir+=DIR, once per layer, top first (the kernel's new mount API form; each path as it is,
  // no ':' splitting): never together with lowerdir=, as the kernel refuses the mix.
  const appended = take('lowerdir+');
  if (lowerOpt !== undefined && appended !== undefined)
    throw new UsageError('lowerdir= and lowerdir+= do not mix: give the layers one way (lowerdir=A:B, or lowerdir+=A,lowerdir+=B)');
  const fromOpts = lowerOpt !== undefined ? parseLowerdir(lowerOpt) : { lower: appended?.split('\0') ?? [], data: [] };
  const lower = [...fromOpts.lower, ...(given.lower ?? [])];
  // datadir+=DIR: a data-only layer in the new mount API's form (lowerdir=A::DIR in the old one).
  const data = [...fromOpts.data, ...(take('datadir+')?.split('\0') ?? [])];
  const upper = given.upper ?? take('upperdir');
  const work = given.work ?? take('workdir');
  // fuse-overlayfs's timeout=SECONDS: how long the kernel may keep names and attributes.
  const timeout = take('timeout');
  for (const k of ['attr_timeout', 'entry_timeout']) if (timeout !== undefined && !opts.has(k)) opts.set(k, timeout);
  const features = takeOverlayFeatures(take);
  const bridge = takeBridgeOptions(opts);
  rejectLeftovers(opts, 'overlay');
  return {
    lower,
    ...(data.length > 0 ? { data } : {}),
    upper,
    work,
    mountpoint: given.mountpoint,
    ...features,
    ...bridge,
    transport: given.transport,
  };
}

export function describeOverlay(o: MountOverlayOptions): string {
  const data = o.data?.length ? `::${o.data.join('::')}` : '';
  return `overlaying ${o.lower.join(':')}${data}${o.upper ? ` under ${o.upper}` : ' (read-only)'}`;
}
