import { awsWiring, WORKER_AWS_BUDGET } from "../adapters/aws";
import { lambdaLogContext, makeLambdaLog } from "../adapters/lambda-log";
import { makeEmfMetrics, withMetricsFlush } from "../adapters/telemetry";
import { makeSweepDeps } from "../adapters/wiring";
import { createSweepHandler } from "./app";

const log = makeLambdaLog();
const metrics = makeEmfMetrics();

/** Lambda entry: a schedule every minute. */
export const handler = withMetricsFlush(
  createSweepHandler({
    log,
    logContext: lambdaLogContext(log),
    deps: async () => {
      const { wiring, queue } = await awsWiring(log, metrics, WORKER_AWS_BUDGET);
      return makeSweepDeps(wiring, queue);
    },
  }),
  metrics,
);
