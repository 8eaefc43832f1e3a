import { awsWiring, WORKER_AWS_BUDGET } from "../adapters/aws";
import { lambdaEntry } from "../adapters/lambda-entry";
import { makeSweepDeps } from "../adapters/wiring";
import { createSweepHandler } from "./app";

/** Lambda entry: a schedule every minute. */
export const handler = lambdaEntry(({ log, metrics, logContext }) =>
  createSweepHandler({
    log,
    logContext,
    deps: async () => {
      const { wiring, queue } = await awsWiring(log, metrics, WORKER_AWS_BUDGET);
      return makeSweepDeps(wiring, queue);
    },
  }),
);
