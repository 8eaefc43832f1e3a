import middy, { type MiddlewareObj } from "@middy/core";
import type { ScheduledEvent } from "aws-lambda";
import type { Log } from "../core/log";
import type { makeSweep } from "../core/sweep";

export interface SweepHandlerOptions {
  log: Log;
  /** Built once per cold start. */
  sweep: () => Promise<ReturnType<typeof makeSweep>>;
  /** Outermost middleware: the Lambda context on every log line (`lambdaLogContext` on AWS). */
  logContext?: MiddlewareObj;
}

/**
 * The sweeper Lambda, run every minute by a schedule: queues a flush for every user whose
 * digest is due. A failure is thrown, so the invocation counts as an error and alarms; the next
 * run a minute later picks up whatever this one missed.
 */
export function createSweepHandler({ log, sweep, logContext }: SweepHandlerOptions) {
  const chain = middy<ScheduledEvent, { dueEvents: number; flushes: number }>();
  return chain.use(logContext ? [logContext] : []).handler(async () => {
    const result = await (await sweep())();
    log.debug("sweep done", result);
    return result;
  });
}
