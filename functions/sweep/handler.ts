import { awsWiring, WORKER_AWS_BUDGET } from "../adapters/aws";
import {
  lambdaLogContext,
  makeEmfMetrics,
  makePowertoolsLog,
  withMetricsFlush,
} from "../adapters/telemetry";
import { tracingFromEnvironment, withTraceFlush } from "../adapters/tracing";
import { sweepDeps } from "../adapters/wiring";
import { onceUntilFailure } from "../core/once";
import { makeSweep } from "../core/sweep";
import { createSweepHandler } from "./app";

const log = makePowertoolsLog();
const metrics = makeEmfMetrics();
// Off unless HOOKLINE_TRACING=true: only then is the OpenTelemetry SDK loaded (docs/tracing.md).
const tracing = onceUntilFailure(() => tracingFromEnvironment(log));

/** Lambda entry: a schedule every minute. */
export const handler = withMetricsFlush(
  withTraceFlush(
    createSweepHandler({
      log,
      logContext: lambdaLogContext(log),
      sweep: onceUntilFailure(async () => {
        const traced = await tracing();
        const { wiring, queue } = await awsWiring(log, metrics, WORKER_AWS_BUDGET, traced);
        const sweep = makeSweep(sweepDeps(wiring, queue));
        // A span per sweep: the digests it queues are delivered in its trace.
        return () => traced.span("sweep", { kind: "internal" }, () => sweep());
      }),
    }),
    tracing,
  ),
  metrics,
);
