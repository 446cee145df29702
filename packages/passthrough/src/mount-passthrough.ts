// mountPassthrough(): check the source and mountpoint, then serve a PassthroughFs.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MountError, MountFsOptions, MountHandle, TransportChoice, checkNoOverlap, mountFs } from '@layerfs/fuse-bridge';
import { chooseTransport } from '@layerfs/fuse-wire';
import { PassthroughFs, PassthroughOptions } from './passthrough-fs';

export interface MountPassthroughOptions extends PassthroughOptions, Omit<MountFsOptions, 'transport'> {
  mountpoint: string;
  /** Default `auto`: the wire transport where it can mount (root, /dev/fuse), else fuse-native. */
  transport?: TransportChoice;
}

export interface PassthroughMount extends MountHandle {
  readonly fs: PassthroughFs;
}

export function checkSource(source: string): string {
  const abs = path.resolve(source);
  let st: fs.Stats;
  try {
    st = fs.statSync(abs);
  } catch {
    throw new MountError(`source ${abs} does not exist: pass an existing directory to mirror`);
  }
  if (!st.isDirectory()) throw new MountError(`source ${abs} is not a directory: pass the directory to mirror, not a file`);
  return fs.realpathSync(abs);
}

export async function mountPassthrough(opts: MountPassthroughOptions): Promise<PassthroughMount> {
  const source = checkSource(opts.source);
  checkNoOverlap(opts.mountpoint, [{ role: 'source', path: source }]);
  const pfs = new PassthroughFs({ ...opts, source });
  const handle = await mountFs(opts.mountpoint, pfs, {
    ...opts,
    fsname: opts.fsname ?? source,
    subtype: 'layerfs-passthrough',
    transport: chooseTransport(opts.transport).transport,
  });
  return { ...handle, fs: pfs };
}
