import { awsWiring, WORKER_AWS_BUDGET } from "../adapters/aws";
import { lambdaLogContext, makeLambdaLog } from "../adapters/lambda-log";
import { makeEmfMetrics, withMetricsFlush } from "../adapters/telemetry";
import { tracingFromEnvironment, withTraceFlush } from "../adapters/tracing";
import { withUndeliveredAge } from "../adapters/undelivered-age";
import { portalsDeliver } from "../adapters/wiring";
import { onceUntilFailure } from "../core/once";
import { createDeliverHandler } from "./app";

const log = makeLambdaLog();
const metrics = makeEmfMetrics();
// Off unless HOOKLINE_TRACING=true: only then is the OpenTelemetry SDK loaded (docs/tracing.md).
const tracing = onceUntilFailure(() => tracingFromEnvironment(log));

/** Lambda entry: SQS event source with partial batch failures. */
export const handler = withMetricsFlush(
  withTraceFlush(
    withUndeliveredAge(
      createDeliverHandler({
        log,
        logContext: lambdaLogContext(log),
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
    tracing,
  ),
  metrics,
);
