import { resolve } from "node:path";
import { ConfigError } from "../core/errors";

/** hookline's environment, read and checked once; `configPath` is where the config file is. */
export interface Environment {
  HOOKLINE_TABLE: string;
  HOOKLINE_CONFIG: string;
  HOOKLINE_QUEUE_URL?: string;
  HOOKLINE_DEAD_LETTER_QUEUE_URL?: string;
  /** On AWS: `env:NAME` is the Parameter Store SecureString `<this>NAME` (`/hookline/<stack>/`). */
  HOOKLINE_SECRET_PREFIX?: string;
  AWS_ENDPOINT_URL_DYNAMODB?: string;
  LAMBDA_TASK_ROOT?: string;
  configPath: string;
}

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Reads and checks hookline's environment once; a bad variable is a ConfigError naming it.
 * Plain checks, no schema library: this runs on every Lambda cold start.
 * The config path is relative to the Lambda task root on AWS, else to cwd.
 */
export function readEnvironment(env: Env = process.env): Environment {
  const problems: string[] = [];
  const text = (name: string, fallback: string): string => {
    const value = env[name];
    if (value === undefined) return fallback;
    if (value === "") problems.push(`${name}: must not be empty`);
    return value;
  };
  const url = (name: string): string | undefined => {
    const value = env[name];
    if (value !== undefined && !isUrl(value)) problems.push(`${name}: must be a URL`);
    return value;
  };
  const table = text("HOOKLINE_TABLE", "hookline");
  const configFile = text("HOOKLINE_CONFIG", "hookline.config.json");
  const optional = {
    HOOKLINE_QUEUE_URL: url("HOOKLINE_QUEUE_URL"),
    HOOKLINE_DEAD_LETTER_QUEUE_URL: url("HOOKLINE_DEAD_LETTER_QUEUE_URL"),
    AWS_ENDPOINT_URL_DYNAMODB: url("AWS_ENDPOINT_URL_DYNAMODB"),
    LAMBDA_TASK_ROOT: env.LAMBDA_TASK_ROOT,
  };
  const prefix = env.HOOKLINE_SECRET_PREFIX;
  if (prefix !== undefined && !/^\/[A-Za-z0-9_.\-/]*\/$/.test(prefix)) {
    problems.push("HOOKLINE_SECRET_PREFIX: must be a parameter path such as /hookline/stack/");
  }
  if (problems.length > 0) throw new ConfigError(`environment: ${problems.join("; ")}`);

  const environment: Environment = {
    HOOKLINE_TABLE: table,
    HOOKLINE_CONFIG: configFile,
    configPath: resolve(optional.LAMBDA_TASK_ROOT ?? process.cwd(), configFile),
  };
  for (const [key, value] of Object.entries(optional) as [keyof typeof optional, string][]) {
    if (value !== undefined) environment[key] = value;
  }
  if (prefix !== undefined) environment.HOOKLINE_SECRET_PREFIX = prefix;
  return environment;
}

function isUrl(text: string): boolean {
  try {
    new URL(text);
    return true;
  } catch {
    return false;
  }
}

/** Reads a variable the caller cannot run without. */
export function required<T>(value: T | undefined, name: string): T {
  if (value === undefined) throw new ConfigError(`environment: ${name} is not set`);
  return value;
}
