import { awsWiring, WORKER_AWS_BUDGET } from "../adapters/aws";
import { lambdaLogContext, makePowertoolsLog, makePowertoolsMetrics } from "../adapters/telemetry";
import { portalsDeliver } from "../adapters/wiring";
import { onceUntilFailure } from "../core/once";
import { createDeliverHandler } from "./app";

const log = makePowertoolsLog();
const metrics = makePowertoolsMetrics();

/** Lambda entry: SQS event source with partial batch failures. */
export const handler = createDeliverHandler({
  log,
  logContext: lambdaLogContext(log),
  runtime: onceUntilFailure(async () => {
    const { wiring, queue, deadLetters } = await awsWiring(log, metrics, WORKER_AWS_BUDGET);
    return {
      // Each portal is built on its first message: its secrets are read then.
      deliver: portalsDeliver(wiring),
      retries: queue,
      deadLetters: deadLetters(),
    };
  }),
});
