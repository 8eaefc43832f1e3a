import middy, { type MiddlewareObj } from "@middy/core";
import type { ScheduledEvent } from "aws-lambda";
import type { Log } from "../core/log";
import { onceUntilFailure } from "../core/once";
import { makeSweep, type SweepDeps } from "../core/sweep";

/** The same shape for all three handlers: a log, the Lambda's log context, and `deps`. */
export interface SweepHandlerOptions {
  log: Log;
  /** Built once per cold start, on the first run; again after a failure. */
  deps: () => Promise<SweepDeps>;
  /** Outermost middleware: the Lambda context on every log line (`lambdaLogContext` on AWS). */
  logContext?: MiddlewareObj;
}

/**
 * The sweeper Lambda, run every minute by a schedule: queues a flush for every user whose
 * digest is due. A failure is thrown, so the invocation counts as an error and alarms; the next
 * run a minute later picks up whatever this one missed.
 */
export function createSweepHandler({ log, deps, logContext }: SweepHandlerOptions) {
  const sweep = onceUntilFailure(async () => makeSweep(await deps()));
  const chain = middy<ScheduledEvent, { dueEvents: number; flushes: number }>();
  return chain.use(logContext ? [logContext] : []).handler(async () => {
    const result = await (await sweep())();
    log.debug("sweep done", result);
    return result;
  });
}
