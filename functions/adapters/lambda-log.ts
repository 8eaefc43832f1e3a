import type { MiddlewareObj } from "@middy/core";
import type { Context } from "aws-lambda";
import { atLeast, LOG_LEVEL_VARIABLE, type Log } from "../core/log";
import { METRICS_SERVICE } from "../core/metrics";

/**
 * The Lambda context on every line of an invocation, under the names Powertools Logger gives them
 * (Logs Insights queries and the docs use these).
 */
interface ContextFields {
  cold_start: boolean;
  function_arn: string;
  /** As the runtime gives it (a string on Lambda's Node.js runtime), as Powertools writes it. */
  function_memory_size: string | number;
  function_name: string;
  function_request_id: string;
}

type Level = "DEBUG" | "INFO" | "WARN" | "ERROR";

/** Keys a line's attributes may not override. */
const RESERVED = new Set(["level", "message", "timestamp", "service", "sampling_rate"]);

/** An Error as Powertools writes one: name, where it was thrown, message, stack. */
function errorFields(error: Error): Record<string, unknown> {
  return {
    name: error.name,
    location: codeLocation(error.stack),
    message: error.message,
    stack: error.stack,
    ...(error.cause !== undefined && {
      cause: error.cause instanceof Error ? errorFields(error.cause) : error.cause,
    }),
  };
}

/** Where an error was thrown, as Powertools finds it: the first `(file:line:column)` frame. */
function codeLocation(stack: string | undefined): string {
  for (const frame of (stack ?? "").split("\n")) {
    const match = /\(([^()]*?):(\d+?):(\d+?)\)\\?$/.exec(frame);
    if (match) return `${match[1]}:${Number(match[2])}`;
  }
  return "";
}

/** The line as JSON; a circular or BigInt attribute never makes a log call throw. */
function lineText(line: Record<string, unknown>): string {
  try {
    return JSON.stringify(line);
  } catch {
    const seen = new WeakSet<object>();
    return JSON.stringify(line, (_key, value: unknown) => {
      if (typeof value === "bigint") return value.toString();
      if (typeof value !== "object" || value === null) return value;
      if (seen.has(value)) return "[Circular]";
      seen.add(value);
      return value;
    });
  }
}

const LAMBDA_LEVELS: readonly string[] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];

/**
 * Structured JSON log lines on Lambda, one per call, in the shape Powertools Logger writes them
 * (`level`, `message`, `timestamp`, `service`, the Lambda context as `cold_start`,
 * `function_request_id`…, `sampling_rate`, `xray_trace_id`, then the attributes; an `Error`
 * attribute as its name, location, message and stack), DEBUG and INFO to stdout, WARN and ERROR to
 * stderr. Lines below `level` (`HOOKLINE_LOG_LEVEL`) or below Lambda's own filter
 * (`AWS_LAMBDA_LOG_LEVEL`) are dropped before they are built.
 *
 * Powertools Logger itself cost every cold start about 5 % of a reference function's CPU (its
 * modules and their set-up: bench/README.md, P2); this writes the same lines with nothing to load.
 *
 * @example
 * const log = makeLambdaLog(); // service "hookline", level HOOKLINE_LOG_LEVEL
 * export const handler = createDeliverHandler({ log, logContext: lambdaLogContext(log), deps });
 */
export function makeLambdaLog(
  options: {
    service?: string;
    level?: string | undefined;
    env?: Readonly<Record<string, string | undefined>>;
  } = {},
): Log & { setContext(context: Context): void } {
  const env = options.env ?? process.env;
  const service = options.service ?? METRICS_SERVICE;
  const threshold = "level" in options ? options.level : env[LOG_LEVEL_VARIABLE];
  let fields: ContextFields | undefined;
  // Lambda's first on-demand invocation is the cold start; a provisioned instance has none.
  let cold = env.AWS_LAMBDA_INITIALIZATION_TYPE !== "provisioned-concurrency";

  const write = (level: Level) => (message: string, attributes?: Record<string, unknown>) => {
    const traceId = /Root=([^;]+)/.exec(env._X_AMZN_TRACE_ID ?? "")?.[1];
    const line: Record<string, unknown> = {
      level,
      message,
      timestamp: new Date().toISOString(),
      service,
      ...fields,
      sampling_rate: 0,
      ...(traceId && { xray_trace_id: traceId }),
    };
    for (const [key, value] of Object.entries(attributes ?? {})) {
      if (RESERVED.has(key)) continue;
      line[key] = value instanceof Error ? errorFields(value) : value;
    }
    const stream = level === "WARN" || level === "ERROR" ? process.stderr : process.stdout;
    stream.write(`${lineText(line)}\n`);
  };
  const all = {
    debug: write("DEBUG"),
    info: write("INFO"),
    warn: write("WARN"),
    error: write("ERROR"),
  };
  // The stricter of hookline's level and Lambda's filter.
  const levels = [threshold, env.AWS_LAMBDA_LOG_LEVEL].map((name) =>
    LAMBDA_LEVELS.indexOf(name?.toUpperCase() ?? ""),
  );
  const strictest = LAMBDA_LEVELS[Math.max(...levels)];
  return {
    ...atLeast(all, strictest),
    setContext(context) {
      fields = {
        cold_start: cold,
        function_arn: context.invokedFunctionArn,
        function_memory_size: context.memoryLimitInMB,
        function_name: context.functionName,
        function_request_id: context.awsRequestId,
      };
      cold = false;
    },
  };
}

/**
 * Middy middleware that puts the Lambda context on every log line of an invocation: the request
 * id (`function_request_id`), `cold_start`, the function's name, ARN and memory. Handlers take it
 * as their outermost middleware (`logContext`), so the lines of every other middleware carry it.
 *
 * @example
 * const log = makeLambdaLog();
 * export const handler = createDeliverHandler({ log, logContext: lambdaLogContext(log), deps });
 */
export const lambdaLogContext = (log: { setContext(context: Context): void }): MiddlewareObj => ({
  before: (request) => log.setContext(request.context),
});
