import { join } from "node:path";
import { type BundlingOptions, OutputFormat } from "aws-cdk-lib/aws-lambda-nodejs";
import { type BuildOptions, buildSync } from "esbuild";

/** Node.js major version of the Lambda runtime; esbuild targets the same. */
export const NODE_MAJOR = 22;

/**
 * ESM output still meets CommonJS dependencies that call `require`; this banner gives the bundle
 * one. The alias avoids clashing with a bundled module's own `createRequire` import.
 */
export const ESM_REQUIRE_BANNER =
  "import { createRequire as __hooklineCreateRequire } from 'node:module'; const require = __hooklineCreateRequire(import.meta.url);";

/**
 * The esbuild settings every hookline function is bundled with, in esbuild's own terms, so a
 * test can bundle the real handlers exactly as `cdk synth` does:
 *
 * @example
 * import { build } from "esbuild";
 * await build({ ...hooklineEsbuildOptions, entryPoints: ["functions/ingest/handler.ts"], outfile: "out/index.mjs" });
 *
 * Everything is bundled, the AWS SDK included: the code that runs is the code that was tested,
 * with the SDK versions from package-lock.json rather than whatever the runtime ships.
 */
export const hooklineEsbuildOptions = {
  bundle: true,
  platform: "node",
  target: `node${NODE_MAJOR}`,
  format: "esm",
  mainFields: ["module", "main"],
  banner: { js: ESM_REQUIRE_BANNER },
  minify: true,
  sourcemap: true,
  external: [],
} as const satisfies BuildOptions;

/** The same settings in the shape `NodejsFunction` takes (it runs the locally installed esbuild). */
export const hooklineBundlingOptions = {
  format: OutputFormat.ESM,
  target: hooklineEsbuildOptions.target,
  mainFields: [...hooklineEsbuildOptions.mainFields],
  banner: hooklineEsbuildOptions.banner.js,
  minify: hooklineEsbuildOptions.minify,
  sourceMap: hooklineEsbuildOptions.sourcemap,
  externalModules: [...hooklineEsbuildOptions.external],
  forceDockerBundling: false,
} satisfies BundlingOptions;

/**
 * Bundles one handler into `outdir` as the Lambda receives it (`index.mjs`, which exports
 * `handler`), with the house settings. The bench and the bundle tests use it too.
 *
 * @example bundleFunction("functions/ingest/handler.ts", "out/ingest");
 */
export function bundleFunction(entry: string, outdir: string): void {
  buildSync({
    ...hooklineEsbuildOptions,
    entryPoints: [entry],
    outfile: join(outdir, "index.mjs"),
    logLevel: "error",
  });
}
