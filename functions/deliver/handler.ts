import { awsWiring } from "../adapters/aws";
import { makePowertoolsLog, makePowertoolsMetrics } from "../adapters/telemetry";
import { deliverDeps } from "../adapters/wiring";
import { makeDeliver } from "../core/deliver";
import { createDeliverHandler, type DeliverRuntime } from "./app";

const log = makePowertoolsLog();
const metrics = makePowertoolsMetrics();

let runtime: Promise<DeliverRuntime> | undefined;

/** Lambda entry: SQS event source with partial batch failures. */
export const handler = createDeliverHandler({
  log,
  runtime: () => {
    runtime ??= (async () => {
      const { wiring, queue } = awsWiring(log, metrics);
      return { deliver: makeDeliver(await deliverDeps(wiring)), retries: queue };
    })();
    // A failed cold start (e.g. a secret not set yet) must not be cached for the container's life.
    runtime.catch(() => {
      runtime = undefined;
    });
    return runtime;
  },
});
