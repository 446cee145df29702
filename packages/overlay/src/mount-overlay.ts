// mountOverlay(): check the layers, then serve an OverlayFs.
import { MountFsOptions, MountHandle, TransportChoice, mountFs, prepareMountpoint, withIdPolicy } from '@layerfs/fuse-bridge';
import { privilege } from '@layerfs/backing-io';
import { chooseTransport } from '@layerfs/fuse-wire';
import { OverlayFs } from './overlay-fs';
import { OverlayFeatures, checkLayers, checkXino, metacopyFollows, redirectMode } from './params';

export interface MountOverlayOptions extends Omit<MountFsOptions, 'transport'>, OverlayFeatures {
  /** Default `auto`: the wire transport where it can mount (root, /dev/fuse), else fuse-native. */
  transport?: TransportChoice;
  /** Lower layers, top first. */
  lower: string[];
  /** Data-only layers, below the lower ones (params.ts OverlayLayers.data). */
  data?: string[];
  /** Upper layer; with `work`. Leave both out for a read-only overlay. */
  upper?: string;
  work?: string;
  mountpoint: string;
}

export interface OverlayMount extends MountHandle {
  readonly fs: OverlayFs;
}

/** Run every check mountOverlay() runs, without mounting (the CLI calls it before daemonizing). */
export function checkOverlay(opts: MountOverlayOptions) {
  // The mountpoint first: it may hold a stale mount (ENOTCONN) that must be cleaned before anything
  // else can look at the path.
  prepareMountpoint(opts.mountpoint, { nonempty: opts.nonempty });
  const layers = checkLayers(opts, opts.mountpoint);
  if (opts.xinoOn) checkXino(layers);
  redirectMode(opts.redirectDir, userxattrOf(opts));
  metacopyFollows(opts.metacopy, opts.redirectDir, userxattrOf(opts));
  return layers;
}

/**
 * Trusted xattrs need CAP_SYS_ADMIN in the initial user namespace: without it (a plain user, or root
 * in a user namespace as under rootless podman) the overlay's own names go in user.overlay.*, as the
 * kernel's overlay requires there (userxattr).
 */
function userxattrOf(opts: MountOverlayOptions): boolean {
  return opts.userxattr ?? privilege().kind !== 'root';
}

export async function mountOverlay(opts: MountOverlayOptions): Promise<OverlayMount> {
  const layers = checkOverlay(opts);
  // Every overlay feature the options carry, with the layers' real paths and the settled userxattr.
  const ofs = new OverlayFs({ ...opts, ...layers, userxattr: userxattrOf(opts) });
  const handle = await mountFs(opts.mountpoint, withIdPolicy(ofs, opts.ids ?? {}), {
    ...opts,
    fsname: opts.fsname ?? 'layerfs-overlay',
    subtype: 'layerfs-overlay',
    // Set-id programs run from the union, as on the kernel's overlay and fuse-overlayfs (a container's
    // su and ping, for rootful podman); device nodes do not open (nodev), as on fuse-overlayfs. A
    // user's mount is nosuid,nodev whatever is asked (fusermount3).
    vfs: { suid: true, ...opts.vfs },
    transport: chooseTransport(opts.transport).transport,
  });
  return { ...handle, fs: ofs };
}
