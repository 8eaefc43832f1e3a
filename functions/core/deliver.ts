import { retryDelayMs } from "./backoff";
import type { Clock } from "./clock";
import { sleep as defaultSleep } from "./clock";
import type { BitrixConfig } from "./config";
import type { DeliveryJob } from "./job";
import type { Log } from "./log";
import { Metric, type Metrics } from "./metrics";
import type { Outcome, OutcomeRecord } from "./outcome";
import type {
  BitrixClient,
  OutcomeStore,
  RateLimiter,
  SendResult,
  SlotKey,
  SlotStore,
} from "./ports";

/** How soon to look again at a slot another attempt holds (it grows per receive, see backoff). */
const PENDING_RECHECK_MS = 5000;

export interface DeliverDeps {
  bitrix: Pick<BitrixConfig, "openLineCode" | "weeklyLimit" | "timeoutMs">;
  /** Identifies the Bitrix24 portal in slot keys (its host). */
  portal: string;
  leaseMs: number;
  maxReceives: number;
  slots: SlotStore;
  limiter: RateLimiter;
  client: BitrixClient;
  outcomes: OutcomeStore;
  clock: Clock;
  log: Log;
  metrics: Metrics;
  sleep?: (ms: number) => Promise<void>;
}

export interface DeliveryAttempt {
  job: DeliveryJob;
  /** How many times the queue has handed out this message, this time included. */
  receiveCount: number;
  /** Epoch ms by which this attempt must be finished (the Lambda's remaining time, less a margin). */
  deadline: number;
}

export type DeliveryResult =
  | { status: "done"; outcome: Outcome }
  /** Put the message back on the queue for `delayMs`; nothing was sent. */
  | { status: "retry"; delayMs: number; reason: string };

/**
 * The deliver use case: weekly slot, rate limit, one Bitrix24 call, outcome.
 * Never sends twice: the slot (weekly limit on) or the in-flight marker (off) guards every send.
 *
 * @example
 *   const deliver = makeDeliver(deps);
 *   const result = await deliver({ job, receiveCount: 1, deadline: Date.now() + 20_000 });
 */
export function makeDeliver(deps: DeliverDeps) {
  const { bitrix, slots, limiter, client, outcomes, clock, log, metrics } = deps;
  const sleep = deps.sleep ?? defaultSleep;

  return async function deliver({
    job,
    receiveCount,
    deadline,
  }: DeliveryAttempt): Promise<DeliveryResult> {
    const key: SlotKey = {
      portal: deps.portal,
      openLineCode: bitrix.openLineCode,
      userId: job.userId,
    };
    const finish = async (
      outcome: Outcome,
      reason: string,
      extra: Partial<OutcomeRecord> = {},
    ): Promise<DeliveryResult> => {
      await outcomes.record({
        jobId: job.jobId,
        sourceId: job.sourceId,
        eventId: job.eventId,
        eventName: job.eventName,
        userId: job.userId,
        outcome,
        reason,
        at: clock.now(),
        ...extra,
      });
      metrics.count(Metric.Messages, { Outcome: outcome });
      const level = outcome === "failed" || outcome === "unknown" ? "error" : "info";
      log[level]("message outcome", {
        jobId: job.jobId,
        eventId: job.eventId,
        userId: job.userId,
        outcome,
        reason,
        ...(extra.bitrixCode ? { bitrixCode: extra.bitrixCode } : {}),
      });
      return { status: "done", outcome };
    };
    const retry = async (hintMs: number, reason: string): Promise<DeliveryResult> => {
      if (receiveCount >= deps.maxReceives) {
        // Last receive: record why, then let the queue move the message to the dead-letter queue.
        await finish("failed", `gave up after ${receiveCount} attempts: ${reason}`);
      } else {
        log.warn("delivery will be retried", { jobId: job.jobId, receiveCount, reason });
      }
      return { status: "retry", delayMs: retryDelayMs(hintMs, receiveCount), reason };
    };

    // 1. The guard: a weekly slot, or (no weekly limit) an in-flight marker for this job.
    let ambiguousBefore = false;
    let giveBack: () => Promise<void>;
    if (bitrix.weeklyLimit) {
      const claim = await slots.claim(key, job.jobId, clock.now(), deps.leaseMs);
      if (claim.status === "sent") {
        return claim.heldBy === job.jobId
          ? finish("sent", "already sent by an earlier attempt")
          : finish(
              "suppressed",
              `weekly slot used by ${claim.heldBy} at ${claim.sentAt.toISOString()}`,
            );
      }
      if (claim.status === "pending") {
        // A live holder finishes within seconds; the lease only matters if it crashed.
        const leaseLeftMs = claim.leaseUntil.getTime() - clock.now().getTime();
        return retry(
          Math.min(leaseLeftMs, PENDING_RECHECK_MS),
          "weekly slot held by another attempt",
        );
      }
      ambiguousBefore = claim.ambiguous;
      giveBack = () => slots.release(key, job.jobId);
    } else {
      const state = await outcomes.begin(job.jobId, clock.now());
      if (state === "done")
        return { status: "done", outcome: (await outcomes.get(job.jobId))?.outcome ?? "sent" };
      if (state === "in-flight") {
        return finish(
          "unknown",
          "an earlier attempt was interrupted mid-send; not retried without the weekly limit",
        );
      }
      giveBack = () => outcomes.abandon(job.jobId);
    }

    // 2. The fleet-wide leaky bucket: wait for our turn, or come back later.
    const now = clock.now();
    const maxWaitMs = deadline - now.getTime() - bitrix.timeoutMs;
    const turn = await limiter.reserve(now, Math.max(0, maxWaitMs));
    if ("retryAfterMs" in turn) {
      await giveBack();
      return retry(
        turn.retryAfterMs,
        "rate limit: the bucket is booked beyond this attempt's time",
      );
    }
    await sleep(turn.sendAt.getTime() - clock.now().getTime());

    // 3. One call, then settle the guard by what Bitrix24 answered.
    const result = await client.sendNetworkMessage(bitrix.openLineCode, job);
    return settle(result);

    async function settle(result: SendResult): Promise<DeliveryResult> {
      switch (result.kind) {
        case "sent": {
          const sentAt = clock.now();
          if (bitrix.weeklyLimit) await slots.confirm(key, job.jobId, sentAt);
          metrics.milliseconds(
            Metric.DeliveryLatency,
            sentAt.getTime() - Date.parse(job.receivedAt),
          );
          return finish("sent", "sent");
        }
        case "limited":
          // Bitrix24's own count is authoritative: the slot stays taken for the week.
          if (bitrix.weeklyLimit) await slots.confirm(key, job.jobId, clock.now());
          return ambiguousBefore
            ? finish("sent", "an earlier unanswered attempt landed (USER_MESSAGE_LIMIT on retry)")
            : finish("limited", "user already had a message from this open line this week", {
                bitrixCode: result.code,
              });
        case "config":
        case "permanent":
          await giveBack();
          countBitrixError(result.code, result.kind === "config");
          return finish("failed", `Bitrix24 rejected the message: ${result.code}`, {
            bitrixCode: result.code,
          });
        case "retry":
          await giveBack();
          countBitrixError(result.code, false);
          if (result.overloaded) await limiter.penalize(clock.now(), result.retryAfterMs);
          return retry(result.retryAfterMs, `Bitrix24 answered ${result.code}`);
        case "ambiguous":
          countBitrixError(result.code, false);
          if (bitrix.weeklyLimit) {
            // Safe to retry: if the first request landed, Bitrix24 answers USER_MESSAGE_LIMIT.
            await slots.markAmbiguous(key, job.jobId, clock.now(), deps.leaseMs);
            return retry(bitrix.timeoutMs, `no answer from Bitrix24 (${result.code})`);
          }
          return finish(
            "unknown",
            `no answer from Bitrix24 (${result.code}); may or may not have been sent`,
            {
              bitrixCode: result.code,
            },
          );
      }
    }
  };

  function countBitrixError(code: string, configFault: boolean): void {
    metrics.count(Metric.BitrixErrors, { Code: code });
    if (configFault) metrics.count(Metric.BitrixConfigFaults);
  }
}
