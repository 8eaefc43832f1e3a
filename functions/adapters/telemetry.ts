import { Logger } from "@aws-lambda-powertools/logger";
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { MetricUnit, Metrics as PowertoolsMetrics } from "@aws-lambda-powertools/metrics";
import type { MiddlewareObj } from "@middy/core";
import { atLeast, LOG_LEVEL_VARIABLE, type Log } from "../core/log";
import { METRICS_NAMESPACE, METRICS_SERVICE, type Metrics } from "../core/metrics";

/**
 * Structured JSON logs through Powertools (service name and Lambda context on every line), without
 * the lines below `level` (`HOOKLINE_LOG_LEVEL` on Lambda). Powertools itself follows Lambda's
 * filter level (AWS_LAMBDA_LOG_LEVEL), which stays at INFO for the metric lines' sake.
 */
export function makePowertoolsLog(
  logger = new Logger({ serviceName: METRICS_SERVICE }),
  level = process.env[LOG_LEVEL_VARIABLE],
): Log & { logger: Logger } {
  const write =
    (name: "debug" | "info" | "warn" | "error") =>
    (message: string, attributes?: Record<string, unknown>) =>
      attributes ? logger[name](message, attributes) : logger[name](message);
  const log = atLeast(
    { debug: write("debug"), info: write("info"), warn: write("warn"), error: write("error") },
    level,
  );
  return { logger, ...log };
}

/**
 * Middy middleware that adds the Lambda context to every log line of an invocation: the request
 * id (`function_request_id`), `cold_start`, the function's name, ARN and memory. Handlers take it
 * as their outermost middleware (`logContext`), so the lines of every other middleware carry it.
 *
 * @example
 * const log = makePowertoolsLog();
 * export const handler = createDeliverHandler({ log, logContext: lambdaLogContext(log), runtime });
 */
export const lambdaLogContext = (log: { logger: Logger }): MiddlewareObj =>
  injectLambdaContext(log.logger, { resetKeys: true });

/**
 * Custom metrics in CloudWatch embedded metric format. Each data point is flushed on its own
 * (`singleMetric`) because hookline's metrics carry different dimensions.
 */
export function makePowertoolsMetrics(): Metrics {
  const metrics = new PowertoolsMetrics({
    namespace: METRICS_NAMESPACE,
    serviceName: METRICS_SERVICE,
  });
  const emit = (
    name: string,
    unit: (typeof MetricUnit)[keyof typeof MetricUnit],
    value: number,
    dimensions?: Record<string, string>,
  ) => {
    const single = metrics.singleMetric();
    if (dimensions) single.addDimensions(dimensions);
    single.addMetric(name, unit, value);
  };
  return {
    count: (name, dimensions, value = 1) => emit(name, MetricUnit.Count, value, dimensions),
    milliseconds: (name, value, dimensions) =>
      emit(name, MetricUnit.Milliseconds, value, dimensions),
  };
}
