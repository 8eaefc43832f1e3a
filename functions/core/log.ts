/**
 * The logging seam: JSON lines in Powertools Logger's shape on Lambda (`makeLambdaLog`), terminal
 * lines locally, a silent or recording logger in tests. Attributes must never carry secrets or
 * whole payloads.
 */
export interface Log {
  debug(message: string, attributes?: Record<string, unknown>): void;
  info(message: string, attributes?: Record<string, unknown>): void;
  warn(message: string, attributes?: Record<string, unknown>): void;
  error(message: string, attributes?: Record<string, unknown>): void;
}

export const silentLog: Log = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * The environment variable with hookline's own log level on Lambda (TRACE, DEBUG, INFO, WARN,
 * ERROR, FATAL). Lambda's own filter (AWS_LAMBDA_LOG_LEVEL) stays at INFO so the metric lines
 * pass it; hookline's logger drops its own lines below this level (lib/hookline-function.ts).
 */
export const LOG_LEVEL_VARIABLE = "HOOKLINE_LOG_LEVEL";

const LEVELS = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"] as const;

/**
 * `log` without the lines below `level` (a Lambda level name, any case); `log` itself when the
 * level is missing or unknown.
 */
export function atLeast(log: Log, level: string | undefined): Log {
  const threshold = LEVELS.indexOf(level?.toUpperCase() as (typeof LEVELS)[number]);
  if (threshold < 0) return log;
  const keep = (name: "debug" | "info" | "warn" | "error") =>
    LEVELS.indexOf(name.toUpperCase() as (typeof LEVELS)[number]) >= threshold
      ? log[name].bind(log)
      : () => {};
  return { debug: keep("debug"), info: keep("info"), warn: keep("warn"), error: keep("error") };
}
