import { readFileSync } from "node:fs";
import { type Config, configSchema, formatPath, missingKey } from "./config-schema";
import { ConfigError } from "./errors";
import { compileRoutes } from "./routes";
import { makeTemplateEngine } from "./template";

/**
 * Loading the configuration: its shape (`config-schema.ts`, re-exported here so callers import
 * one module), then every template, condition and lookup compiled once. The schema lives apart so
 * routes and templates can name its types without importing the loader that compiles them.
 */
export * from "./config-schema";

/**
 * Validates a parsed config object and compiles every template, condition and lookup in it (the
 * digest's included), so a typo stops `npm start` and `cdk synth` instead of the first webhook.
 * Throws a ConfigError naming every bad key, e.g. `hookline.config.json: routes[0].userId:
 * expected string`, or `config: routes[1].message: undefined filter: mony`.
 */
export function parseConfig(value: unknown, origin = "config"): Config {
  const result = configSchema.safeParse(value, { error: missingKey });
  if (!result.success) {
    const problems = result.error.issues.map(
      (issue) => `${formatPath(issue.path) || "(root)"}: ${issue.message}`,
    );
    throw new ConfigError(`${origin}: ${problems.join("; ")}`);
  }
  compileTemplates(result.data, origin);
  return result.data;
}

function compileTemplates(config: Config, origin: string): void {
  try {
    compileRoutes(config);
    makeTemplateEngine(config.lookups).compile(config.digest.message, "digest.message");
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    throw new ConfigError(`${origin}: ${error.message}`, { cause: error });
  }
}

/**
 * Reads and validates a config file. `named` says where the path came from, so an unreadable
 * file's message points at what the user set: "--config" (a flag), else HOOKLINE_CONFIG.
 */
export function loadConfigFile(
  path: string,
  named: "--config" | "HOOKLINE_CONFIG" = "HOOKLINE_CONFIG",
): Config {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === "ENOENT";
    const fix =
      named === "--config" ? "check the --config path" : "set HOOKLINE_CONFIG to its path";
    throw new ConfigError(
      `cannot read config file ${path} (${missing ? "no such file; " : ""}${fix})`,
      { cause: error },
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`${path}: not valid JSON (${(error as Error).message})`, {
      cause: error,
    });
  }
  return parseConfig(value, path);
}
