import { retryDelayMs } from "../backoff";
import { sleep as defaultSleep } from "../clock";
import { ATTEMPT_OVERHEAD_MS } from "../config-defaults";
import type { EventJob } from "../job";
import { Metric } from "../metrics";
import { type FinalOutcome, type OutcomeRecord, outcomeRecord } from "../outcome";
import type { PendingEvent, SlotAttempt, SlotKey } from "../ports";
import {
  type DeliverDeps,
  type DeliveryAttempt,
  type DeliveryResult,
  done,
  type Targets,
} from "./types";

/** Writes after a send that landed are retried this often before the error is thrown. */
const SETTLE_WRITE_TRIES = 3;

/**
 * What every delivery path shares: the ports, and the few rules about time, retries and outcomes
 * that hold on each of them (docs/ledger.md). The paths themselves live in `event.ts`,
 * `guarded.ts`, `flush.ts` and `partner.ts`; their choices are data from `decide.ts`.
 */
export type Runtime = ReturnType<typeof makeRuntime>;

export function makeRuntime(deps: DeliverDeps) {
  const { bitrix, slots, limiter, outcomes, clock, log, metrics, timings } = deps;
  const sleep = deps.sleep ?? defaultSleep;
  const random = deps.random ?? Math.random;
  /** Jobs this process saw land, for a redelivery after a failed outcome write (no weekly limit). */
  const landed = new Set<string>();

  const slotKey = (message: { userId: number; openLineCode?: string | undefined }): SlotKey => ({
    portal: deps.portal,
    openLineCode: message.openLineCode ?? bitrix.openLineCode,
    userId: message.userId,
  });

  const jitter = (): number => Math.round(random() * 1000);

  /** A write after a send that landed must not be lost to one passing fault. */
  async function settleWrite<T>(write: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await write();
      } catch (error) {
        if (attempt >= SETTLE_WRITE_TRIES) throw error;
        await sleep(100 * 4 ** (attempt - 1));
      }
    }
  }

  /** Records a final outcome for every target; each one is written once. */
  async function finishAll(
    targets: Pick<Targets, "events" | "digestId">,
    outcome: FinalOutcome,
    reason: string,
    bitrixCode?: string,
    exhausted = false,
  ): Promise<OutcomeRecord[]> {
    const at = clock.now();
    return Promise.all(
      targets.events.map(async (event) => {
        const record = outcomeRecord(
          { ...event, userId: event.message.userId },
          {
            outcome,
            reason:
              targets.digestId && outcome === "sent"
                ? `sent in digest ${targets.digestId}`
                : reason,
            at,
            ...(bitrixCode && { bitrixCode }),
            ...(targets.digestId && { digestId: targets.digestId }),
            ...(exhausted && { exhausted }),
            // Both deliveries of one event stay on its outcome: the notification, then this one.
            ...(event.notifiedAt && { notifiedAt: event.notifiedAt }),
            ...(event.notifyTag !== undefined && { notifyTag: event.notifyTag }),
          },
        );
        const standing = await settleWrite(() => outcomes.finish(record));
        if (standing !== record) return standing; // an earlier final outcome stands
        metrics.count(Metric.Messages, { Outcome: outcome });
        if (outcome === "sent") {
          metrics.milliseconds(Metric.DeliveryLatency, at.getTime() - Date.parse(event.receivedAt));
        }
        const level = outcome === "failed" || outcome === "unknown" ? "error" : "info";
        log[level]("message outcome", {
          jobId: event.jobId,
          eventId: event.eventId,
          userId: event.message.userId,
          outcome,
          reason: record.reason,
          ...(bitrixCode && { bitrixCode }),
        });
        return standing;
      }),
    );
  }

  async function defer(job: EventJob, key: SlotKey, dueAt: Date, reason: string) {
    // The marker first: a newer event's claim finds this one even before the digest index does.
    await slots.notePending(key, job.jobId, dueAt);
    const standing = await outcomes.defer(job, key, dueAt, reason, clock.now());
    if (standing.outcome !== "deferred") return; // final already: a redelivery
    metrics.count(Metric.Messages, { Outcome: "deferred" });
    log.info("message outcome", {
      jobId: job.jobId,
      userId: job.userId,
      outcome: "deferred",
      dueAt: dueAt.toISOString(),
      reason,
    });
  }

  /**
   * The second channel reached the user: a deferred event becomes `notified` and stays in its
   * digest. A final outcome (its digest went out meanwhile) or an earlier `notified` stands.
   */
  async function recordNotified(job: EventJob, at: Date, reason: string): Promise<void> {
    const tag = job.notify?.tag ?? "";
    const standing = await settleWrite(() => outcomes.notified(job.jobId, tag, at, reason));
    if (standing?.outcome !== "notified" || standing.notifiedAt?.getTime() !== at.getTime()) {
      log.info("notification sent; the outcome already moved on", {
        jobId: job.jobId,
        outcome: standing?.outcome ?? "none",
      });
      return;
    }
    metrics.count(Metric.Messages, { Outcome: "notified" });
    log.info("message outcome", {
      jobId: job.jobId,
      userId: job.userId,
      outcome: "notified",
      notifyTag: tag,
      reason,
    });
  }

  /**
   * A copy or a redrive of a job whose outcome is final settles from it and sends nothing (one
   * consistent read). Only an exhausted `failed` may be tried again. A `notified` job is settled
   * too: the notification went out, and the digest carries the event from here on.
   */
  async function settledEarlier(job: EventJob): Promise<boolean> {
    return settles(await outcomes.get(job.jobId));
  }

  /** The same for several jobs at once (a batch), in one read: the ids of those settled. */
  async function settledAmong(jobs: readonly EventJob[]): Promise<Set<string>> {
    const standing = await outcomes.getMany(jobs.map((job) => job.jobId));
    return new Set(jobs.flatMap((job) => (settles(standing.get(job.jobId)) ? [job.jobId] : [])));
  }

  function settles(standing: OutcomeRecord | undefined): boolean {
    // `exhausted`: a failed window, or an `unknown` the operator chose to resend.
    if (!standing || standing.outcome === "deferred" || standing.exhausted) return false;
    log.info("already settled", { jobId: standing.jobId, outcome: standing.outcome });
    return true;
  }

  /**
   * Puts the message back with backoff, or, when the next try would fall outside the retry
   * window, records the outcome and gives up.
   */
  async function retry(
    hintMs: number,
    reason: string,
    ctx: DeliveryAttempt,
    giveUp: () => Promise<DeliveryResult>,
  ): Promise<DeliveryResult> {
    const delayMs = retryDelayMs(hintMs, ctx.receiveCount, timings.maxBackoffMs, random);
    if (clock.now().getTime() + delayMs > ctx.queuedAt + timings.retryForMs) {
      log.warn("retry window over", { receiveCount: ctx.receiveCount, reason });
      return giveUp();
    }
    log.info("delivery will be retried", { receiveCount: ctx.receiveCount, delayMs, reason });
    return { status: "retry", delayMs, reason };
  }

  /**
   * Out of time while another attempt holds the lease: come back once after it anyway, never
   * settle here without an outcome. The holder may be this very queue message, handed out twice
   * (SQS delivers at least once) and crashed; deleting the message would lose the event. The wait
   * is bounded by the lease; after it the slot is settled or ours to reclaim, and the retry window
   * decides as usual.
   */
  function afterLease(afterMs: number, reason: string): () => Promise<DeliveryResult> {
    return async () => ({ status: "retry", delayMs: Math.max(0, afterMs) + jitter(), reason });
  }

  /** The portal is held back (it failed recently): come back later without touching the slot. */
  function portalHeldBack(ctx: DeliveryAttempt): DeliveryResult | undefined {
    const now = clock.now().getTime();
    const waitMs = limiter.heldBackUntil() - now;
    // Near the end of the window the message makes its last attempt instead.
    if (waitMs <= bitrix.timeoutMs || now + waitMs >= ctx.queuedAt + timings.retryForMs) {
      return undefined;
    }
    return { status: "retry", delayMs: waitMs + jitter(), reason: "the portal is held back" };
  }

  /** How long a call may still run once it started: a request must be over before the lease. */
  function callEndsMs(): number {
    return Math.max(bitrix.timeoutMs, timings.requestLandsWithinMs) + ATTEMPT_OVERHEAD_MS.confirm;
  }

  /**
   * Waits for a turn in the portal's bucket, never past the Lambda's deadline and never so late
   * that the request could still be running on Bitrix24's side when the lease ends: so a run-out
   * lease means its request is over, and no two requests for one user ever overlap.
   */
  function reserveTurn(leaseUntil: number, ctx: DeliveryAttempt, cost = 1) {
    const now = clock.now();
    const callEnds = callEndsMs();
    const maxWaitMs = Math.min(ctx.deadline, leaseUntil) - now.getTime() - callEnds;
    // Not even the call itself fits any more (a slow store, the deadline near): not now.
    if (maxWaitMs < 0) return Promise.resolve({ retryAfterMs: 0 });
    return limiter.reserve(now, maxWaitMs, cost).then(async (turn) => {
      if (!("sendAt" in turn)) return turn;
      // Whether the bucket made this turn wait: a turn due at the very time it was asked for is
      // no wait, even when the clock has moved on by the time the answer is in.
      const waited = turn.sendAt.getTime() > now.getTime();
      await sleep(turn.sendAt.getTime() - clock.now().getTime());
      // The same bound again after the wait: a reservation the store answered late (its SDK
      // retries) can leave too little of the lease, and a request still running when the lease
      // ends could overlap the next attempt's. Not now, then; the reservation is lost.
      const latestStart = Math.min(ctx.deadline, leaseUntil) - callEnds;
      return clock.now().getTime() > latestStart ? { retryAfterMs: 0 } : { ...turn, waited };
    });
  }

  /**
   * Asked by the client right before each request (the first, and the repeat after an OAuth
   * refresh): no request starts after the latest safe start.
   */
  function mayStartUntil(leaseUntil: number, ctx: DeliveryAttempt): () => boolean {
    const latestStart = Math.min(ctx.deadline, leaseUntil) - callEndsMs();
    return () => clock.now().getTime() <= latestStart;
  }

  /**
   * No request may start once the lease is nearly over (an OAuth refresh can take a while, and a
   * repeated call must not outlive the lease): the client gives up cleanly before sending.
   */
  function untilLeaseEnds(leaseUntil: number): AbortSignal {
    const leftMs = leaseUntil - clock.now().getTime() - ATTEMPT_OVERHEAD_MS.confirm;
    return AbortSignal.timeout(Math.max(0, leftMs));
  }

  /** Out of time with the slot in hand: `unknown` if an attempt may have landed, else `failed`. */
  async function giveUpGuarded(
    attempt: SlotAttempt,
    targets: Targets,
    bitrixCode?: string,
  ): Promise<DeliveryResult> {
    if (targets.alone) return giveUpAlone(targets.alone, attempt, bitrixCode);
    // A digest: every carried event ends, `unknown` if an attempt may have landed. The slot keeps
    // the evidence (a later event waits its week out); the flush job is the dead letter.
    const reason = "retry window over";
    const standing = attempt.maybeSentAt
      ? await finishAll(targets, "unknown", `${reason}; an unanswered attempt may have landed`)
      : await finishAll(targets, "failed", reason, bitrixCode, true);
    if (!attempt.maybeSentAt) await settleWrite(() => slots.release(attempt, clock.now()));
    const ended = standing.filter((r) => r.outcome === "failed" || r.outcome === "unknown");
    if (ended.length === 0) return done;
    return { status: "dead-letter", reason: `digest ${targets.digestId}: ${reason}` };
  }

  async function giveUpAlone(
    job: EventJob,
    attempt: SlotAttempt | undefined,
    bitrixCode?: string,
  ): Promise<DeliveryResult> {
    const reason = "retry window over";
    const [standing] = attempt?.maybeSentAt
      ? await finishAll(
          { events: [pendingOf(job)] },
          "unknown",
          `${reason}; an unanswered attempt may have landed`,
          bitrixCode,
        )
      : await finishAll({ events: [pendingOf(job)] }, "failed", reason, bitrixCode, true);
    // Another copy may have settled it meanwhile: only a failure of ours is a dead letter.
    if (standing?.outcome !== "failed" && standing?.outcome !== "unknown") return done;
    return { status: "dead-letter", reason: `${standing.outcome}: ${standing.reason}` };
  }

  return {
    ...deps,
    sleep,
    landed,
    slotKey,
    jitter,
    settleWrite,
    finishAll,
    recordNotified,
    defer,
    settledEarlier,
    settledAmong,
    retry,
    afterLease,
    portalHeldBack,
    reserveTurn,
    mayStartUntil,
    untilLeaseEnds,
    giveUpGuarded,
    giveUpAlone,
  };
}

/** An event job as its digest sees it. */
export function pendingOf(job: EventJob): PendingEvent {
  return {
    jobId: job.jobId,
    sourceId: job.sourceId,
    eventId: job.eventId,
    eventName: job.eventName,
    receivedAt: job.receivedAt,
    message: {
      userId: job.userId,
      message: job.message,
      ...(job.attach !== undefined && { attach: job.attach }),
      ...(job.keyboard !== undefined && { keyboard: job.keyboard }),
      ...(job.urlPreview !== undefined && { urlPreview: job.urlPreview }),
    },
  };
}
