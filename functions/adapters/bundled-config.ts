import type { Config } from "../core/config";

/**
 * The config a Lambda bundle carries: `cdk synth` validates the config file and compiles its
 * templates (`loadConfigFile`), and `bundleFunction` writes the checked result into the code as
 * this constant (esbuild `define`). The Lambda reads it as a plain object: no schema library and
 * no template check on its cold start. Undefined anywhere else (tests, the local run).
 */
declare const HOOKLINE_BUNDLED_CONFIG: Config | undefined;

/** The name `bundleFunction` defines. */
export const BUNDLED_CONFIG_NAME = "HOOKLINE_BUNDLED_CONFIG";

export const bundledConfig = (): Config | undefined =>
  typeof HOOKLINE_BUNDLED_CONFIG === "undefined" ? undefined : HOOKLINE_BUNDLED_CONFIG;
