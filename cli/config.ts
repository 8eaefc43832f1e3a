import { resolve } from "node:path";
import { readEnvironment } from "../functions/adapters/environment";
import { type Config, loadConfigFile, type SourceConfig } from "../functions/core/config";
import { ConfigError } from "../functions/core/errors";
import { closest } from "../functions/core/event-names";

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
