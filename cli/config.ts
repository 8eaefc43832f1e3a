import { resolve } from "node:path";
import { readEnvironment } from "../functions/adapters/environment";
import { makeSecretResolver } from "../functions/adapters/secrets";
import { type Config, loadConfigFile, type SourceConfig } from "../functions/core/config";
import { ConfigError } from "../functions/core/errors";
import { closest } from "../functions/core/event-names";
import { localSecretEnvironment } from "../functions/local/dev-secrets";

/**
 * The config as `npm start` and `cdk synth` read it: `--config`, else HOOKLINE_CONFIG, else
 * `hookline.config.json`, relative to the working directory; validated and compiled by the same
 * `loadConfigFile`, so a config the CLI accepts is one the server starts with.
 */
export function loadCliConfig(
  env: Readonly<Record<string, string | undefined>>,
  cwd: string,
  configFlag?: string,
): { config: Config; path: string } {
  const environment = readEnvironment({
    ...env,
    LAMBDA_TASK_ROOT: undefined,
    ...(configFlag === undefined ? {} : { HOOKLINE_CONFIG: configFlag }),
  });
  const path = resolve(cwd, environment.HOOKLINE_CONFIG);
  return {
    config: loadConfigFile(path, configFlag === undefined ? "HOOKLINE_CONFIG" : "--config"),
    path,
  };
}

/** A source by id, or a ConfigError that lists the ids there are (see `unknownSource`). */
export function sourceById(config: Config, sourceId: string): SourceConfig {
  const source = config.sources.find((candidate) => candidate.id === sourceId);
  if (!source) throw new ConfigError(unknownSource(config, sourceId));
  return source;
}

/** Says that `sourceId` is none of the config's sources, listing them, with a "did you mean". */
export function unknownSource(config: Config, sourceId: string): string {
  const ids = config.sources.map((candidate) => candidate.id);
  const nearest = closest(sourceId, ids);
  return `no source "${sourceId}" in the config (sources: ${ids.join(", ")})${nearest ? `; did you mean "${nearest}"?` : ""}`;
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
