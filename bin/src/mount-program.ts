// The mount program's Node entry (`bin/layerfs-overlay` starts it): podman and buildah start one
// process per container mount and wait for it, so its start-up is on every container's critical
// path. Loading overlay-main and the packages module by module cost ~65 ms per mount: ~60 files
// resolved, read and compiled. The build (scripts/bundle.js) joins them into one file and stores
// V8's code cache for it; this loader compiles that file with the cache (~25 ms in all).
//
// The cache is only an accelerator: V8 rejects it when the bundle, Node or V8's flags changed, and
// the bundle then compiles as any script would. It is written at build time only, never by a
// mount: the daemon may run as any user, and the install directory is not theirs to write.
import * as fs from 'node:fs';
import Module from 'node:module';
import * as path from 'node:path';
import * as vm from 'node:vm';

export const BUNDLE = path.join(__dirname, 'overlay-main.bundle.js');
export const CACHE = `${BUNDLE}.cache`;

type OverlayMain = typeof import('./overlay-main');

interface Loaded {
  exports: OverlayMain;
  script: vm.Script;
  usedCache: boolean;
}

function load(useCache: boolean): Loaded {
  const source = fs.readFileSync(BUNDLE, 'utf8');
  let cachedData: Buffer | undefined;
  if (useCache) {
    try {
      cachedData = fs.readFileSync(CACHE);
    } catch {
      // No cache (a build without one): compile without it.
    }
  }
  const script = new vm.Script(Module.wrap(source), { filename: BUNDLE, cachedData });
  const wrapper = script.runInThisContext() as (...a: unknown[]) => void;
  // The bundle's require() of its externals (koffi, fuse-native, ./cli) resolves from bin/dist, as
  // the unbundled files' would.
  const mod = new Module(BUNDLE, module);
  mod.filename = BUNDLE;
  const req = Module.createRequire(BUNDLE);
  wrapper.call(mod.exports, mod.exports, req, mod, BUNDLE, __dirname);
  return { exports: mod.exports as OverlayMain, script, usedCache: cachedData !== undefined && !script.cachedDataRejected };
}

/**
 * Build time: compile and run the bundle's top level (the module bodies a mount runs), then store
 * the code V8 compiled by then — the functions start-up runs, not only the outermost one.
 */
export function writeCodeCache(): number {
  const { script } = load(false);
  const data = script.createCachedData();
  fs.writeFileSync(CACHE, data);
  return data.length;
}

/**
 * The bundle is made by `npm run build` (and setup), not by a bare `tsc -b`: after one, it would
 * still hold the code of before. It is used only while no file it was made of is newer (~60 stat
 * calls, well under a millisecond); otherwise the daemon runs from the files themselves.
 */
export function bundleIsCurrent(outputs: string[] = [BUNDLE]): boolean {
  try {
    // The build (scripts/bundle.js) asks the same about the bundle and its cache together.
    const built = Math.min(...outputs.map((f) => fs.statSync(f).mtimeMs));
    const root = path.join(__dirname, '..', '..');
    const inputs = JSON.parse(fs.readFileSync(`${BUNDLE}.inputs.json`, 'utf8')) as string[];
    return inputs.every((f) => fs.statSync(path.resolve(root, f)).mtimeMs <= built);
  } catch {
    return false;
  }
}

if (require.main === module) {
  if (process.argv[2] === '--write-code-cache') {
    writeCodeCache();
  } else {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the unbundled daemon, only when the bundle is stale
    const overlayMain = bundleIsCurrent() ? load(true).exports : (require('./overlay-main') as OverlayMain);
    overlayMain.main(process.argv.slice(2));
  }
}
