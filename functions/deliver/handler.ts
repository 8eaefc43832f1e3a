import { awsWiring, WORKER_AWS_BUDGET } from "../adapters/aws";
import {
  lambdaLogContext,
  makeEmfMetrics,
  makePowertoolsLog,
  withMetricsFlush,
} from "../adapters/telemetry";
import { withUndeliveredAge } from "../adapters/undelivered-age";
import { portalsDeliver } from "../adapters/wiring";
import { createDeliverHandler } from "./app";

const log = makePowertoolsLog();
const metrics = makeEmfMetrics();

/** Lambda entry: SQS event source with partial batch failures. */
export const handler = withMetricsFlush(
  withUndeliveredAge(
    createDeliverHandler({
      log,
      logContext: lambdaLogContext(log),
      deps: async () => {
        const { wiring, queue, deadLetters } = await awsWiring(log, metrics, WORKER_AWS_BUDGET);
        return {
          // Each portal is built on its first message: its secrets are read then.
          deliver: portalsDeliver(wiring),
          retries: queue,
          deadLetters: deadLetters(),
        };
      },
    }),
    metrics,
  ),
  metrics,
);
