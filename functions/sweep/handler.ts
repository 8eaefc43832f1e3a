import { awsWiring, WORKER_AWS_BUDGET } from "../adapters/aws";
import { lambdaLogContext, makePowertoolsLog, makePowertoolsMetrics } from "../adapters/telemetry";
import { sweepDeps } from "../adapters/wiring";
import { onceUntilFailure } from "../core/once";
import { makeSweep } from "../core/sweep";
import { createSweepHandler } from "./app";

const log = makePowertoolsLog();
const metrics = makePowertoolsMetrics();

/** Lambda entry: a schedule every minute. */
export const handler = createSweepHandler({
  log,
  logContext: lambdaLogContext(log),
  sweep: onceUntilFailure(async () => {
    const { wiring, queue } = await awsWiring(log, metrics, WORKER_AWS_BUDGET);
    return makeSweep(sweepDeps(wiring, queue));
  }),
});
