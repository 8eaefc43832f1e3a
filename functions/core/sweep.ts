import type { Clock } from "./clock";
import type { FlushJob } from "./job";
import type { Log } from "./log";
import { Metric, type Metrics } from "./metrics";
import type { JobQueue, OutcomeStore, SlotStore } from "./ports";

export interface SweepDeps {
  outcomes: Pick<OutcomeStore, "due">;
  slots: Pick<SlotStore, "markFlushQueued">;
  queue: JobQueue;
  clock: Clock;
  log: Log;
  metrics: Metrics;
  /** How long a queued flush keeps the sweeper from queueing another for the same user. */
  flushQueuedMs: number;
}

/** Due events read per sweep; the rest wait a minute for the next one. */
const MAX_DUE_PER_SWEEP = 2000;

/**
 * The sweeper, run every minute: finds the users whose digest is due (through the sparse `due`
 * index) and queues one flush job per user. The flush itself is idempotent, and a mark on the
 * user's slot keeps a flush from being queued again while one waits in the queue.
 *
 * @example const sweep = makeSweep(deps); const { flushes } = await sweep();
 */
export function makeSweep(deps: SweepDeps) {
  const { outcomes, slots, queue, clock, log, metrics } = deps;
  return async function sweep(): Promise<{ dueEvents: number; flushes: number }> {
    const now = clock.now();
    const due = await outcomes.due(now, MAX_DUE_PER_SWEEP);
    const dueEvents = due.reduce((sum, digest) => sum + digest.events, 0);
    metrics.count(Metric.DigestBacklog, {}, dueEvents);

    const jobs: FlushJob[] = [];
    for (const { key } of due) {
      const until = new Date(now.getTime() + deps.flushQueuedMs);
      if (await slots.markFlushQueued(key, now, until)) {
        jobs.push({ v: 2, kind: "flush", userId: key.userId });
      }
    }
    if (jobs.length > 0) await queue.enqueue(jobs);
    if (due.length > 0)
      log.info("digests due", { dueEvents, users: due.length, queued: jobs.length });
    return { dueEvents, flushes: jobs.length };
  };
}
