import { awsWiring, INGEST_AWS_BUDGET } from "../adapters/aws";
import { lambdaLogContext, makeLambdaLog } from "../adapters/lambda-log";
import { makeEmfMetrics, withMetricsFlush } from "../adapters/telemetry";
import { tracingFromEnvironment, withTraceFlush } from "../adapters/tracing";
import { makeIngestDeps } from "../adapters/wiring";
import { onceUntilFailure } from "../core/once";
import { createIngestHandler } from "./app";

const log = makeLambdaLog();
const metrics = makeEmfMetrics();
// Off unless HOOKLINE_TRACING=true: only then is the OpenTelemetry SDK loaded (docs/tracing.md).
const tracing = onceUntilFailure(() => tracingFromEnvironment(log));

/** Lambda entry: POST /webhooks/{sourceId} and GET /health behind API Gateway HTTP API. */
export const handler = withMetricsFlush(
  withTraceFlush(
    createIngestHandler({
      log,
      logContext: lambdaLogContext(log),
      tracing,
      deps: async () => {
        const { wiring, queue } = await awsWiring(log, metrics, INGEST_AWS_BUDGET, await tracing());
        return makeIngestDeps(wiring, queue);
      },
    }),
    tracing,
  ),
  metrics,
);
