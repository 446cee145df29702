// koffi, loaded the short way. Its package entry (index.js) bundles its installer's tools and loads
// Node's https, tls, crypto and zlib on the way: 13 ms of a mount program's start (measured; podman
// starts one per container mount), where the prebuilt addon alone loads in 2 ms. The entry hands out
// that addon plus deprecated aliases nobody here uses, so take the addon directly where the prebuilt
// for this platform loads, and the package entry everywhere else (its own detection knows musl,
// armhf and riscv), or when the addon is not the package's version. The addon is required by the
// path the entry itself uses, so a program that also loads koffi's entry shares the one instance
// (the module cache is keyed by that path).
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import type Koffi from 'koffi';

type KoffiModule = typeof Koffi;

const load = createRequire(__filename);

function prebuilt(): KoffiModule | undefined {
  if (process.platform !== 'linux' || (process.arch !== 'x64' && process.arch !== 'arm64')) return undefined;
  try {
    const pkgFile = load.resolve('koffi/package.json');
    const { version } = JSON.parse(fs.readFileSync(pkgFile, 'utf8')) as { version: string };
    const addon = createRequire(pkgFile)(`./build/koffi/linux_${process.arch}/koffi.node`) as KoffiModule & { version?: string };
    return addon.version === version ? addon : undefined;
  } catch {
    return undefined; // not this platform's prebuilt (a musl libc, a trimmed install)
  }
}

const koffi: KoffiModule = prebuilt() ?? (load('koffi') as KoffiModule);
export default koffi;
