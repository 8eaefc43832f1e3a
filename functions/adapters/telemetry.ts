import { Logger } from "@aws-lambda-powertools/logger";
import { MetricUnit, Metrics as PowertoolsMetrics } from "@aws-lambda-powertools/metrics";
import type { Log } from "../core/log";
import { METRICS_NAMESPACE, METRICS_SERVICE, type Metrics } from "../core/metrics";

/** Structured JSON logs through Powertools (service name and Lambda context on every line). */
export function makePowertoolsLog(logger = new Logger({ serviceName: METRICS_SERVICE })): Log & {
  logger: Logger;
} {
  const write =
    (level: "debug" | "info" | "warn" | "error") =>
    (message: string, attributes?: Record<string, unknown>) =>
      attributes ? logger[level](message, attributes) : logger[level](message);
  return {
    logger,
    debug: write("debug"),
    info: write("info"),
    warn: write("warn"),
    error: write("error"),
  };
}

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
