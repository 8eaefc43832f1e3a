import { resolve } from "node:path";
import { makeSecretResolver } from "../functions/adapters/secrets";
import type { Config, SourceConfig } from "../functions/core/config";
import { ConfigError } from "../functions/core/errors";
import { referencesIn } from "./secret-check";

/**
 * Development values for the example config's secret references, used by `npm start` only when
 * the variable is unset, so the quickstart needs no setup. Never used on AWS.
 */
export const DEVELOPMENT_SECRETS: Readonly<Record<string, string>> = {
  GITHUB_WEBHOOK_SECRET: "dev-github-secret",
  STRIPE_WEBHOOK_SECRET: "whsec_dev_stripe",
  // Standard Webhooks secrets are base64 after the prefix: this is "dev-secret-1".
  APP_WEBHOOK_SECRET: "whsec_ZGV2LXNlY3JldC0x",
  SHOP_WEBHOOK_SECRET: "dev-shop-secret",
};

/** The `env:NAME` references a config uses, in order of appearance. */
export function envReferences(value: unknown): string[] {
  const names = referencesIn(value, "")
    .filter(({ ref }) => ref.startsWith("env:"))
    .map(({ ref }) => ref.slice(4));
  return [...new Set(names)];
}

/** The example config shipped at the repository root, for which development values are used. */
export const EXAMPLE_CONFIG_PATH = resolve(import.meta.dirname, "../hookline.config.json");

/**
 * Whether a local run may fall back to development values: only for the shipped example config,
 * or when asked explicitly (`npm start -- --dev`). Any other config must have its variables set.
 */
export const usesDevelopmentSecrets = (configPath: string, dev = false): boolean =>
  dev || resolve(configPath) === EXAMPLE_CONFIG_PATH;

/**
 * The environment a local process (`npm start`, the `hookline` CLI) resolves `env:` secret
 * references from: the given one, with development values for the example config's variables
 * that are unset when `development` is on (see `usesDevelopmentSecrets`). `defaulted` names the
 * variables that fell back, so the caller can say so; `missing` the ones still unset.
 * The server and the CLI share this, so the CLI signs with the very secret the server checks.
 */
export function localSecretEnvironment(
  config: { portals: unknown; sources: unknown },
  env: Readonly<Record<string, string | undefined>>,
  development = true,
): { env: Record<string, string | undefined>; defaulted: string[]; missing: string[] } {
  const local: Record<string, string | undefined> = { ...env };
  const defaulted: string[] = [];
  const missing: string[] = [];
  for (const name of envReferences({ portals: config.portals, sources: config.sources })) {
    const fallback = development ? DEVELOPMENT_SECRETS[name] : undefined;
    if (local[name] === undefined && fallback === undefined) missing.push(name);
    if (local[name] === undefined && fallback !== undefined) {
      local[name] = fallback;
      defaulted.push(name);
    }
  }
  return { env: local, defaulted, missing };
}

/**
 * The secret a sender of `source` signs with: its first secret reference, resolved the way the
 * local server resolves it (environment variables, with the example config's development
 * values when unset), so a signed sample passes the server's check.
 */
export async function signingSecret(
  config: Config,
  source: SourceConfig,
  env: Readonly<Record<string, string | undefined>>,
): Promise<string> {
  const [reference] = source.secret;
  if (reference === undefined) throw new ConfigError(`sources.${source.id}: no secret`);
  const resolve = makeSecretResolver({ env: localSecretEnvironment(config, env).env });
  return resolve(reference);
}
