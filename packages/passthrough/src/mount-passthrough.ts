// mountPassthrough(): check the source and mountpoint, then serve a PassthroughFs, with bindfs-style
// rules (a MirrorPolicy) and a program's policy hook wrapped around it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  FilePolicy,
  MirrorPolicy,
  MountError,
  MountFsOptions,
  MountHandle,
  NodeHandlers,
  TransportChoice,
  checkNoOverlap,
  mountFs,
  withMirrorPolicy,
  withPolicyHook,
} from '@layerfs/fuse-bridge';
import { chooseTransport } from '@layerfs/fuse-wire';
import { PassthroughFs, PassthroughOptions } from './passthrough-fs';

export interface MountPassthroughOptions extends PassthroughOptions, Omit<MountFsOptions, 'transport'> {
  mountpoint: string;
  /** Default `auto`: the wire transport where it can mount (root, /dev/fuse), else fuse-native. */
  transport?: TransportChoice;
  /** bindfs's policies (the CLI builds this from bindfs's options): owners, bits, what may change. */
  rules?: MirrorPolicy;
  /** A program's own policy: per request allow/deny/rewrite, per open kernel passthrough or daemon-served data. */
  policy?: FilePolicy;
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
  let served: NodeHandlers = pfs;
  if (opts.rules) served = withMirrorPolicy(served, opts.rules);
  if (opts.policy) served = withPolicyHook(served, opts.policy, (n) => pfs.pathOf(n));
  const perCaller = opts.rules?.mirror !== undefined;
  const handle = await mountFs(opts.mountpoint, served, {
    ...opts,
    // What a mirrored owner looks like depends on who asks: the kernel must not answer one caller
    // from attributes it cached for another.
    attrTimeout: opts.attrTimeout ?? (perCaller ? 0 : undefined),
    fsname: opts.fsname ?? source,
    subtype: 'layerfs-passthrough',
    transport: chooseTransport(opts.transport).transport,
  });
  return { ...handle, fs: pfs };
}
