import type { MiddlewareObj } from "@middy/core";
import type { Context } from "aws-lambda";
import { onceUntilFailure } from "../core/once";
import { lambdaLogContext, makeLambdaLog } from "./lambda-log";
import { makeEmfMetrics, pointsWritten, withMetricsFlush } from "./telemetry";
import { type Tracing, tracingFromEnvironment, withTraceFlush } from "./tracing";

type Handler<E, R> = (event: E, context: Context) => Promise<R>;

/** What a Lambda entry builds once per cold start and hands its handler. */
export interface LambdaTelemetry {
  log: ReturnType<typeof makeLambdaLog>;
  metrics: ReturnType<typeof makeEmfMetrics>;
  /** The outermost middleware: the Lambda context on every log line. */
  logContext: MiddlewareObj;
}

function makeLambdaTelemetry(): LambdaTelemetry {
  const log = makeLambdaLog();
  const metrics = makeEmfMetrics(undefined, undefined, pointsWritten());
  return { log, metrics, logContext: lambdaLogContext(log) };
}

/**
 * A Lambda entry with the house telemetry: JSON log lines (Powertools' shape) with the Lambda context, and the EMF
 * metrics an invocation counted written when it ends, whether it answered or threw.
 *
 * @example export const handler = lambdaEntry(({ log, metrics, logContext }) => createSweepHandler({ log, logContext, deps }));
 */
export function lambdaEntry<E, R>(build: (telemetry: LambdaTelemetry) => Handler<E, R>) {
  const telemetry = makeLambdaTelemetry();
  return withMetricsFlush(build(telemetry), telemetry.metrics);
}

/**
 * {@link lambdaEntry} with tracing: off unless HOOKLINE_TRACING=true, and only then is the
 * OpenTelemetry SDK loaded (docs/tracing.md); an invocation's spans are exported before it returns.
 */
export function tracedLambdaEntry<E, R>(
  build: (telemetry: LambdaTelemetry & { tracing: () => Promise<Tracing> }) => Handler<E, R>,
) {
  const telemetry = makeLambdaTelemetry();
  const tracing = onceUntilFailure(() => tracingFromEnvironment(telemetry.log));
  return withMetricsFlush(
    withTraceFlush(build({ ...telemetry, tracing }), tracing),
    telemetry.metrics,
  );
}
