import { fileURLToPath } from "node:url";
import { type BuildOptions, buildSync } from "esbuild";
import { BUNDLED_CONFIG_NAME } from "../functions/adapters/bundled-config";
import type { Config } from "../functions/core/config";

/** Node.js major version of the Lambda runtime; esbuild targets the same. */
export const NODE_MAJOR = 22;

/**
 * ESM output still meets CommonJS dependencies that call `require`; this banner gives the bundle
 * one. The alias avoids clashing with a bundled module's own `createRequire` import.
 */
export const ESM_REQUIRE_BANNER =
  "import { createRequire as __hooklineCreateRequire } from 'node:module'; const require = __hooklineCreateRequire(import.meta.url);";

/**
 * One minified ESM file for node on the Lambda runtime, in esbuild's own terms: what every bundle
 * here starts from, hookline's own (`hooklineEsbuildOptions`) and the bench's plain reference.
 */
export const esmBundleOptions = {
  bundle: true,
  platform: "node",
  target: `node${NODE_MAJOR}`,
  format: "esm",
  mainFields: ["module", "main"],
  banner: { js: ESM_REQUIRE_BANNER },
  minify: true,
} as const satisfies BuildOptions;

/**
 * The esbuild settings every hookline function is bundled with, in esbuild's own terms, so a
 * test can bundle the real handlers exactly as `cdk synth` does (`bundleFunction`).
 *
 * Everything is bundled, the AWS SDK included: the code that runs is the code that was tested,
 * with the SDK versions from package-lock.json rather than whatever the runtime ships.
 *
 * What keeps a cold start short:
 * - code splitting: every `import()` becomes a chunk of its own that node reads only when it is
 *   first called (the SDK's other credential providers, the Secrets Manager client, a portal's
 *   OAuth client), so a function compiles only what its first event runs;
 * - source maps without the sources (`sourcesContent: false`): a stack needs only the mappings
 *   (the sources are in the repository), and they are read only when an error's stack is logged
 *   (`sourceMappedStack`), not by node at every start (`--enable-source-maps` is not set).
 */
export const hooklineEsbuildOptions = {
  ...esmBundleOptions,
  sourcemap: true,
  sourcesContent: false,
  splitting: true,
  chunkNames: "chunks/[name]-[hash]",
  outExtension: { ".js": ".mjs" },
  external: [],
} as const satisfies BuildOptions;

/**
 * Where a bundle with a checked config finds `liquidjs`: a module that loads the library when a
 * template first needs it (functions/adapters/liquid-on-demand.ts). A checked config compiles its
 * templates on first use, so nothing needs LiquidJS while the function starts.
 */
export const LIQUID_ON_DEMAND = fileURLToPath(
  new URL("../functions/adapters/liquid-on-demand.ts", import.meta.url),
);

/**
 * Bundles one handler into `outdir` as the Lambda receives it: `index.mjs` (which exports
 * `handler`), its chunks and their source maps. With `config` (a config `loadConfigFile`
 * validated), the bundle carries it as a plain object (`bundledConfig()`) and loads LiquidJS on
 * demand (`LIQUID_ON_DEMAND`). The construct, the bench and the bundle tests all bundle through
 * here.
 *
 * @example bundleFunction("functions/ingest/handler.ts", "out/ingest", { config: loadConfigFile(path) });
 */
export function bundleFunction(
  entry: string,
  outdir: string,
  options: { config?: Config } = {},
): void {
  buildSync({
    ...hooklineEsbuildOptions,
    entryPoints: { index: entry },
    outdir,
    ...(options.config && {
      define: { [BUNDLED_CONFIG_NAME]: JSON.stringify(options.config) },
      alias: { liquidjs: LIQUID_ON_DEMAND },
    }),
    logLevel: "error",
  });
}
