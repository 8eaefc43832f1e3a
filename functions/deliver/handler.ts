import { awsWiring, WORKER_AWS_BUDGET } from "../adapters/aws";
import { tracedLambdaEntry } from "../adapters/lambda-entry";
import { withUndeliveredAge } from "../adapters/undelivered-age";
import { portalsDeliver } from "../adapters/wiring";
import { createDeliverHandler } from "./app";

/** Lambda entry: SQS event source with partial batch failures. */
export const handler = tracedLambdaEntry(({ log, metrics, logContext, tracing }) =>
  withUndeliveredAge(
    createDeliverHandler({
      log,
      logContext,
      deps: async () => {
        const { wiring, queue, deadLetters } = await awsWiring(
          log,
          metrics,
          WORKER_AWS_BUDGET,
          await tracing(),
        );
        return {
          // Each portal is built on its first message: its secrets are read then.
          deliver: portalsDeliver(wiring),
          retries: queue,
          deadLetters: deadLetters(),
          ...(wiring.tracing && { tracing: wiring.tracing }),
        };
      },
    }),
    metrics,
  ),
);
