import type { Clock } from "./clock";
import type { FlushJob } from "./job";
import type { Log } from "./log";
import { Metric, type Metrics } from "./metrics";
import type { TokenProvider } from "./oauth";
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
  /** OAuth portals whose refresh token is kept alive by refreshing at least every `maxAgeMs`. */
  keepAlive?: readonly { portal: string; maxAgeMs: number; tokens: () => Promise<TokenProvider> }[];
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
        jobs.push({
          v: 3,
          kind: "flush",
          userId: key.userId,
          portal: key.portal,
          openLineCode: key.openLineCode,
        });
      }
    }
    if (jobs.length > 0) await queue.enqueue(jobs);
    await keepTokensAlive();
    if (due.length > 0)
      log.info("digests due", { dueEvents, users: due.length, queued: jobs.length });
    return { dueEvents, flushes: jobs.length };
  };

  /**
   * Refresh tokens live 180 days and only a refresh renews them: each OAuth portal is refreshed
   * every few days even without traffic. A failure counts (and alarms) long before the end.
   */
  async function keepTokensAlive(): Promise<void> {
    for (const { portal, maxAgeMs, tokens } of deps.keepAlive ?? []) {
      try {
        if ((await (await tokens()).keepAlive(maxAgeMs)) === "refreshed") {
          log.info("OAuth tokens refreshed to keep them alive", { portal });
        }
      } catch (error) {
        metrics.count(Metric.OAuthRefreshFailures, { Portal: portal });
        log.error("could not refresh OAuth tokens", { portal, error: (error as Error).message });
      }
    }
  }
}
