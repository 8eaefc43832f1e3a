// Ingest enqueues every webhook: the SQS client loads with the function, not behind the first
// receipt write (the wiring's `import()` of it then finds it loaded).
import "@aws-sdk/client-sqs";
import { awsWiring, INGEST_AWS_BUDGET } from "../adapters/aws";
import { tracedLambdaEntry } from "../adapters/lambda-entry";
import { makeIngestDeps } from "../adapters/wiring";
import { createIngestHandler } from "./app";

/** Lambda entry: POST /webhooks/{sourceId} and GET /health behind API Gateway HTTP API. */
export const handler = tracedLambdaEntry(({ log, metrics, logContext, tracing }) =>
  createIngestHandler({
    log,
    logContext,
    tracing,
    deps: async () => {
      const { wiring, queue } = await awsWiring(log, metrics, INGEST_AWS_BUDGET, await tracing());
      return makeIngestDeps(wiring, queue);
    },
  }),
);
