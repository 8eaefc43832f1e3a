import { awsWiring, INGEST_AWS_BUDGET } from "../adapters/aws";
import {
  lambdaLogContext,
  makeEmfMetrics,
  makePowertoolsLog,
  withMetricsFlush,
} from "../adapters/telemetry";
import { ingestDeps } from "../adapters/wiring";
import { createIngestHandler } from "./app";

const log = makePowertoolsLog();
const metrics = makeEmfMetrics();

/** Lambda entry: POST /webhooks/{sourceId} and GET /health behind API Gateway HTTP API. */
export const handler = withMetricsFlush(
  createIngestHandler({
    log,
    logContext: lambdaLogContext(log),
    deps: async () => {
      const { wiring, queue } = await awsWiring(log, metrics, INGEST_AWS_BUDGET);
      return ingestDeps(wiring, queue);
    },
  }),
  metrics,
);
