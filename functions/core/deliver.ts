import { randomUUID } from "node:crypto";
import { portalBackoffMs, retryDelayMs } from "./backoff";
import { CONFIG_FAULT_RETRY_MS } from "./bitrix-errors";
import type { Clock } from "./clock";
import { sleep as defaultSleep } from "./clock";
import { ATTEMPT_OVERHEAD_MS } from "./config-defaults";
import type { DeliveryTimings, PortalWindow } from "./delivery-timings";
import type { DigestComposer } from "./digest";
import type { EventJob, QueueMessage, RenderedMessage } from "./job";
import { type AnswerAction, onAnswer, whenBlocked } from "./ledger";
import type { Log } from "./log";
import { Metric, type Metrics } from "./metrics";
import type { FinalOutcome, OutcomeRecord } from "./outcome";
import {
  type BitrixClient,
  DIGEST_HOLDER,
  type OutcomeStore,
  type PendingEvent,
  type RateLimiter,
  type SendResult,
  type SlotAttempt,
  type SlotKey,
  type SlotStore,
} from "./ports";

export interface DeliverDeps {
  /** The portal's settings; `openLineCode` is its default line (for jobs that name none). */
  bitrix: { openLineCode: string; weeklyLimit: boolean; timeoutMs: number };
  /** Identifies the Bitrix24 portal in slot keys and its rate limiter (its config id). */
  portal: string;
  timings: Pick<DeliveryTimings, "leaseMs" | "retryForMs" | "maxBackoffMs"> & PortalWindow;
  slots: SlotStore;
  limiter: RateLimiter;
  client: BitrixClient;
  outcomes: OutcomeStore;
  composeDigest: DigestComposer;
  clock: Clock;
  log: Log;
  metrics: Metrics;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

export interface DeliveryAttempt {
  message: QueueMessage;
  /** How many times the queue has handed out this message, this time included. */
  receiveCount: number;
  /** Epoch ms when the queue got the message: its retry window starts there. */
  queuedAt: number;
  /** Epoch ms by which this attempt must be finished (the Lambda's remaining time, less a margin). */
  deadline: number;
}

export type DeliveryResult =
  | { status: "done" }
  /** Put the message back on the queue for `delayMs`. */
  | { status: "retry"; delayMs: number; reason: string }
  /** The retry window is over and the outcome is recorded: move it to the dead-letter queue. */
  | { status: "dead-letter"; reason: string };

/** Whose outcome a send settles: one event alone, or the events of a digest. */
interface Targets {
  events: readonly PendingEvent[];
  digestId?: string;
  /** The event job whose queue message this is, when it is sent alone. */
  alone?: EventJob;
  /** Events on the slot's pending-digest marker that were final already (a digest's confirm). */
  stale?: readonly string[];
}

/** Writes after a send that landed are retried this often before the error is thrown. */
const SETTLE_WRITE_TRIES = 3;

/**
 * The deliver use case: the weekly ledger of docs/ledger.md. An event takes its user's weekly slot and
 * goes out at once, or joins the user's digest; a flush sends a due digest through the same
 * guarded path. Every send holds a per-attempt lease, so no two requests for one user overlap,
 * and Bitrix24's USER_MESSAGE_LIMIT is read against our own evidence of earlier attempts.
 *
 * @example
 *   const deliver = makeDeliver(deps);
 *   const result = await deliver({ message: job, receiveCount: 1, queuedAt, deadline });
 */
export function makeDeliver(deps: DeliverDeps) {
  const { bitrix, slots, limiter, client, outcomes, clock, log, metrics, timings } = deps;
  const sleep = deps.sleep ?? defaultSleep;
  const random = deps.random ?? Math.random;
  /** Jobs this process saw land, for a redelivery after a failed outcome write (no weekly limit). */
  const landed = new Set<string>();
  const slotKey = (message: { userId: number; openLineCode?: string | undefined }): SlotKey => ({
    portal: deps.portal,
    openLineCode: message.openLineCode ?? bitrix.openLineCode,
    userId: message.userId,
  });

  return async function deliver(attempt: DeliveryAttempt): Promise<DeliveryResult> {
    const { message } = attempt;
    try {
      if (message.kind === "flush") return await flush(slotKey(message), attempt);
      return await (bitrix.weeklyLimit
        ? deliverEvent(message, attempt)
        : deliverUnguarded(message, attempt));
    } catch (error) {
      // Thrown again and again until the window is over: end it here, not in SQS's retention.
      if (clock.now().getTime() <= attempt.queuedAt + timings.retryForMs) throw error;
      return giveUpAfterErrors(message, error);
    }
  };

  /**
   * Deliver threw on every receive for the whole retry window. The error may have come after a
   * request went out, so what was carried ends `unknown` (it alarms) and the message is a dead
   * letter. A flush ends its events whose own window is over.
   */
  async function giveUpAfterErrors(message: QueueMessage, error: unknown) {
    const reason = `deliver failed on every try until the retry window was over (${errorText(error)})`;
    log.error("giving up after repeated errors", { reason });
    const nowMs = clock.now().getTime();
    const events =
      message.kind === "event"
        ? [pendingOf(message)]
        : (await outcomes.pending(slotKey(message))).filter(
            (event) => (event.dueAt?.getTime() ?? nowMs) + timings.retryForMs < nowMs,
          );
    const standing = await finishAll({ events }, "unknown", reason);
    if (message.kind === "event" && standing[0]?.outcome !== "unknown") return done;
    return { status: "dead-letter" as const, reason: `unknown: ${reason}` };
  }

  async function deliverEvent(job: EventJob, ctx: DeliveryAttempt): Promise<DeliveryResult> {
    const key = slotKey(job);
    const heldBack = portalHeldBack(ctx);
    if (heldBack) return heldBack;
    if (await settledEarlier(job)) return done;

    const claim = await slots.claim(key, { jobId: job.jobId }, clock.now(), timings.leaseMs);
    if (claim.status !== "claimed") {
      const action = whenBlocked(claim, job, clock.now());
      switch (action.do) {
        case "retry":
          return retry(
            action.afterMs,
            action.reason,
            ctx,
            afterLease(action.afterMs, action.reason),
          );
        case "sent":
          await finishAll(
            { events: [pendingOf(job)], ...digestIdOf(action) },
            "sent",
            action.reason,
          );
          return done;
        case "wait":
          return done;
        case "suppress":
          await finishAll({ events: [pendingOf(job)] }, "suppressed", action.reason);
          return done;
        case "defer":
          await defer(job, key, action.dueAt, action.reason);
          return done;
      }
    }

    // A copy may have read no outcome just before another attempt settled it and let the slot go
    // (settles write the outcome first): read it again while the slot is ours.
    if (await settledEarlier(job)) {
      await settleWrite(() => slots.release(claim.attempt, clock.now()));
      return done;
    }

    // Older events never wait behind newer ones: a pending digest goes out now, with this one.
    // The slot's marker (read with the claim) names them even when the digest index lags.
    // Only a clean attempt may join: one with an unanswered predecessor must settle alone.
    if (!claim.attempt.maybeSentAt) {
      const marked = claim.attempt.pendingJobs ?? [];
      if (marked.length > 0 || (await outcomes.pending(key)).length > 0) {
        await settleWrite(() => slots.release(claim.attempt, clock.now()));
        await defer(job, key, clock.now(), "joins the user's pending digest");
        return flush(key, ctx, job, marked);
      }
    }
    return sendGuarded(claim.attempt, job, { events: [pendingOf(job)], alone: job }, ctx);
  }

  /**
   * Sends one user's pending events as a digest (`joining`: an event that just joined it;
   * `marked`: the slot's pending-digest marker as its claim read it).
   */
  async function flush(
    key: SlotKey,
    ctx: DeliveryAttempt,
    joining?: EventJob,
    marked: readonly string[] = [],
  ): Promise<DeliveryResult> {
    if (!joining) {
      const heldBack = portalHeldBack(ctx);
      if (heldBack) return heldBack;
    }
    let events = await outcomes.pending(key);
    // The index behind `pending` is eventually consistent: the marker's events and the one that
    // joined count anyway.
    const missing = marked.filter((id) => !events.some((event) => event.jobId === id));
    if (missing.length > 0) events = [...events, ...(await outcomes.pendingByIds(missing))];
    if (joining && !events.some((event) => event.jobId === joining.jobId)) {
      events = [...events, pendingOf(joining)];
    }
    events.sort(oldestFirst);
    if (events.length === 0) return done;
    // Marked events already final leave the marker with this digest's confirm.
    const stale = marked.filter((id) => !events.some((event) => event.jobId === id));

    const digest = { id: `digest-${randomUUID()}`, jobIds: events.map((event) => event.jobId) };
    const claim = await slots.claim(
      key,
      { jobId: DIGEST_HOLDER, digest },
      clock.now(),
      timings.leaseMs,
    );
    if (claim.status !== "claimed") await slots.flushDone(key);
    if (claim.status === "busy") return done; // a send in flight; the sweeper comes back
    if (claim.status === "taken") {
      // A digest that used the slot carried some of these: they went out with it.
      const carried = claim.sentAt && claim.digest;
      const sentWith = carried ? events.filter((e) => carried.jobIds.includes(e.jobId)) : [];
      if (carried && sentWith.length > 0) {
        await finishAll(
          { events: sentWith, digestId: carried.id },
          "sent",
          `sent in digest ${carried.id}`,
        );
      }
      const waiting = events.filter((event) => !sentWith.includes(event));
      await outcomes.reschedule(
        waiting.map((event) => event.jobId),
        claim.freeAt,
        `weekly slot taken (${claim.heldBy}) until ${claim.freeAt.toISOString()}`,
      );
      return done;
    }

    // A crashed digest resumes with the events it carried, not with newer ones.
    const resumed = claim.attempt.holder.digest;
    if (resumed && resumed.id !== digest.id) {
      const carried = events.filter((event) => resumed.jobIds.includes(event.jobId));
      if (carried.length > 0) {
        return sendDigest(claim.attempt, carried, resumed.id, ctx);
      }
    }
    return sendDigest(claim.attempt, events, digest.id, ctx, stale);
  }

  /**
   * A digest's retry window starts when its oldest carried event became due, not when this flush
   * job was queued (the sweeper queues a new one every time): flushes are bounded like single sends.
   */
  function sendDigest(
    attempt: SlotAttempt,
    events: readonly PendingEvent[],
    digestId: string,
    flushCtx: DeliveryAttempt,
    stale: readonly string[] = [],
  ): Promise<DeliveryResult> {
    const dueSince = Math.min(...events.map((event) => event.dueAt?.getTime() ?? Infinity));
    const ctx = { ...flushCtx, queuedAt: Math.min(flushCtx.queuedAt, dueSince) };
    const composed = deps.composeDigest(events);
    log.info("sending digest", {
      digestId,
      userId: attempt.key.userId,
      events: events.length,
      shown: composed.shown,
      more: composed.more,
    });
    return sendGuarded(attempt, composed.message, { events, digestId, stale }, ctx);
  }

  /** The rate limit, one Bitrix24 call, then the slot and the outcomes by what it answered. */
  async function sendGuarded(
    attempt: SlotAttempt,
    message: RenderedMessage,
    targets: Targets,
    ctx: DeliveryAttempt,
  ): Promise<DeliveryResult> {
    const giveUp = (code?: string) => () => giveUpGuarded(attempt, targets, code);
    // The token first: its wait (another worker's refresh) comes before the latest-start check.
    await client.prepare?.().catch(async (error: unknown) => {
      await settleWrite(() => slots.release(attempt, clock.now()));
      throw error;
    });
    const turn = await reserveTurn(attempt.leaseUntil.getTime(), ctx);
    if ("retryAfterMs" in turn) {
      await settleWrite(() => slots.release(attempt, clock.now()));
      return retry(turn.retryAfterMs, "rate limit: the portal's bucket is booked", ctx, giveUp());
    }

    // The intent: from this write on the request may land, and only it counts as evidence.
    const sentAt = clock.now().getTime();
    if (!(await slots.markSending(attempt, new Date(sentAt)))) {
      const reason = "the lease ran out before the request could start";
      return retry(timings.leaseMs, reason, ctx, afterLease(timings.leaseMs, reason));
    }
    let result: SendResult;
    try {
      result = await client.sendNetworkMessage(
        attempt.key.openLineCode,
        message,
        untilLeaseEnds(attempt.leaseUntil.getTime()),
        mayStartUntil(attempt.leaseUntil.getTime(), ctx),
      );
    } catch (error) {
      // The client throws only before a request goes out (its token store, say): not landed.
      await settleWrite(() => slots.release(attempt, clock.now()));
      throw error;
    }
    const now = clock.now();
    const action: AnswerAction = onAnswer(result, attempt, now, timings);
    switch (action.do) {
      case "confirm":
        await settleWrite(() =>
          slots.confirm(
            attempt,
            action.sentAt,
            targets.digestId
              ? [...targets.events.map((event) => event.jobId), ...(targets.stale ?? [])]
              : [],
          ),
        );
        await finishAll(targets, "sent", action.reason);
        await afterSuccess(turn.failures);
        return done;
      case "limited":
        countBitrixError(action.code, false);
        await settleWrite(() =>
          slots.block(attempt, action.until, action.giveUp ? 0 : action.tries),
        );
        if (action.unknown) {
          await finishAll(targets, "unknown", action.reason, action.code);
        } else if (action.giveUp) {
          await finishAll(targets, "failed", action.reason, action.code);
        } else if (targets.alone?.whenLimited === "drop") {
          await finishAll(targets, "suppressed", action.reason, action.code);
        } else if (targets.alone) {
          await defer(targets.alone, attempt.key, action.until, action.reason);
        } else {
          await outcomes.reschedule(
            targets.events.map((event) => event.jobId),
            action.until,
            action.reason,
          );
        }
        return done;
      case "fail":
        countBitrixError(action.code, action.configFault);
        // The final outcome before the release, so a copy that claims the slot next reads it; the
        // answer is noted first, so a crash in between leaves no false evidence of a send.
        await settleWrite(() => slots.markAnswered(attempt));
        await finishAll(targets, action.outcome, action.reason, action.code);
        await settleWrite(() => slots.release(attempt, now));
        return done;
      case "retry":
        countBitrixError(action.code, action.configFault);
        if (action.holdPortal) {
          await limiter.penalize(
            now,
            portalBackoffMs(action.hintMs, turn.failures, timings.maxBackoffMs),
          );
        }
        await settleWrite(() => slots.release(attempt, now));
        return retry(action.hintMs, action.reason, ctx, giveUp(action.code));
      case "ambiguous": {
        countBitrixError(action.code, false);
        // Safe to retry: if it landed, Bitrix24 answers USER_MESSAGE_LIMIT and the slot knows why.
        // The request may still land until Bitrix24 gives up on it; the lease covers that time.
        const marked = await slots.markAmbiguous(
          attempt,
          new Date(Math.min(attempt.leaseUntil.getTime(), sentAt + timings.requestLandsWithinMs)),
        );
        const hintMs = marked.leaseUntil.getTime() - now.getTime();
        return retry(hintMs, action.reason, ctx, () => giveUpGuarded(marked, targets, action.code));
      }
    }
  }

  /**
   * No weekly limit (partner portals): an in-flight marker per attempt, written right before the
   * request goes on the wire, guards the send; it is this path's intent record.
   */
  async function deliverUnguarded(job: EventJob, ctx: DeliveryAttempt): Promise<DeliveryResult> {
    const targets: Targets = { events: [pendingOf(job)], alone: job };
    const heldBack = portalHeldBack(ctx);
    if (heldBack) return heldBack;
    if (await settledEarlier(job)) return done;

    const giveUp = (code?: string) => () => giveUpUnguarded(job, targets, code);
    await client.prepare?.();
    const turn = await reserveTurn(clock.now().getTime() + timings.leaseMs, ctx);
    if ("retryAfterMs" in turn) {
      return retry(turn.retryAfterMs, "rate limit: the portal's bucket is booked", ctx, giveUp());
    }
    const token = randomUUID();
    const leaseUntil = clock.now().getTime() + timings.leaseMs;
    const state = await outcomes.begin(job, token, clock.now(), timings.leaseMs);
    if (state === "done") return done;
    if (state === "busy") {
      const reason = "another copy of this message is in flight";
      return retry(timings.leaseMs, reason, ctx, afterLease(timings.leaseMs, reason));
    }
    if (state === "interrupted") {
      return landed.has(job.jobId)
        ? finishAll(targets, "sent", "sent (an earlier outcome write failed)").then(() => done)
        : finishAll(
            targets,
            "unknown",
            "an earlier attempt was interrupted mid-send; not retried without the weekly limit",
          ).then(() => done);
    }

    let result: SendResult;
    try {
      result = await client.sendNetworkMessage(
        slotKey(job).openLineCode,
        job,
        untilLeaseEnds(leaseUntil),
        mayStartUntil(leaseUntil, ctx),
      );
    } catch (error) {
      // The client throws only before a request goes out: nothing landed, the marker goes.
      await settleWrite(() => outcomes.abandon(job.jobId, token));
      throw error;
    }
    const now = clock.now();
    switch (result.kind) {
      case "sent":
        landed.add(job.jobId);
        await finishAll(targets, "sent", "sent");
        await afterSuccess(turn.failures);
        return done;
      case "config":
      case "retry": {
        const configFault = result.kind === "config" || result.configFault === true;
        countBitrixError(result.code, configFault);
        const hintMs = result.kind === "config" ? CONFIG_FAULT_RETRY_MS : result.retryAfterMs;
        if (result.kind === "retry") {
          await limiter.penalize(now, portalBackoffMs(hintMs, turn.failures, timings.maxBackoffMs));
        }
        await settleWrite(() => outcomes.abandon(job.jobId, token));
        return retry(hintMs, `Bitrix24 answered ${result.code}`, ctx, giveUp(result.code));
      }
      case "ambiguous":
        countBitrixError(result.code, false);
        await finishAll(
          targets,
          "unknown",
          `no answer from Bitrix24 (${result.code}); may or may not have been sent`,
          result.code,
        );
        return done;
      default:
        countBitrixError(result.code, false);
        await finishAll(
          targets,
          "failed",
          `Bitrix24 rejected the message: ${result.code}`,
          result.code,
        );
        return done;
    }
  }

  /**
   * Out of time on a partner portal: an earlier attempt's marker means its request went out (it is
   * written right before the wire), so the job ends `unknown` (or `sent`, if this process saw it
   * land); a live marker is another copy's, to be waited out; else `failed`.
   */
  async function giveUpUnguarded(job: EventJob, targets: Targets, bitrixCode?: string) {
    const marker = await outcomes.marker(job.jobId);
    if (!marker) return giveUpAlone(job, undefined, bitrixCode);
    const leftMs = marker.until.getTime() - clock.now().getTime();
    const reason = "another copy of this message is in flight";
    if (leftMs > 0) return afterLease(leftMs, reason)();
    if (landed.has(job.jobId)) {
      await finishAll(targets, "sent", "sent (an earlier outcome write failed)");
      return done;
    }
    const [standing] = await finishAll(
      targets,
      "unknown",
      "retry window over; an earlier attempt was interrupted mid-send",
      bitrixCode,
    );
    if (standing?.outcome !== "unknown") return done;
    return { status: "dead-letter" as const, reason: `unknown: ${standing.reason}` };
  }

  /**
   * A copy or a redrive of a job whose outcome is final settles from it and sends nothing (one
   * consistent read, before any claim). Only an exhausted `failed` may be tried again.
   */
  async function settledEarlier(job: EventJob): Promise<boolean> {
    const standing = await outcomes.get(job.jobId);
    // `exhausted`: a failed window, or an `unknown` the operator chose to resend.
    if (!standing || standing.outcome === "deferred" || standing.exhausted) return false;
    log.info("already settled", { jobId: job.jobId, outcome: standing.outcome });
    return true;
  }

  /**
   * Waits for a turn in the portal's bucket, never past the Lambda's deadline and never so late
   * that the request could still be running on Bitrix24's side when the lease ends: so a run-out
   * lease means its request is over, and no two requests for one user ever overlap.
   */
  function reserveTurn(leaseUntil: number, ctx: DeliveryAttempt) {
    const now = clock.now();
    const callEnds = callEndsMs();
    const maxWaitMs = Math.min(ctx.deadline, leaseUntil) - now.getTime() - callEnds;
    // Not even the call itself fits any more (a slow store, the deadline near): not now.
    if (maxWaitMs < 0) return Promise.resolve({ retryAfterMs: 0 });
    return limiter.reserve(now, maxWaitMs).then(async (turn) => {
      if (!("sendAt" in turn)) return turn;
      await sleep(turn.sendAt.getTime() - clock.now().getTime());
      // The same bound again after the wait: a reservation the store answered late (its SDK
      // retries) can leave too little of the lease, and a request still running when the lease
      // ends could overlap the next attempt's. Not now, then; the reservation is lost.
      const latestStart = Math.min(ctx.deadline, leaseUntil) - callEnds;
      return clock.now().getTime() > latestStart ? { retryAfterMs: 0 } : turn;
    });
  }

  /** How long a call may still run once it started: a request must be over before the lease. */
  function callEndsMs(): number {
    return Math.max(bitrix.timeoutMs, timings.requestLandsWithinMs) + ATTEMPT_OVERHEAD_MS.confirm;
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

  async function afterSuccess(failuresBefore: number): Promise<void> {
    if (failuresBefore > 0) await limiter.recovered().catch(() => {});
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

  async function giveUpAlone(job: EventJob, attempt: SlotAttempt | undefined, bitrixCode?: string) {
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
    return { status: "dead-letter" as const, reason: `${standing.outcome}: ${standing.reason}` };
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

  /** Records a final outcome for every target; each one is written once. */
  async function finishAll(
    targets: Targets,
    outcome: FinalOutcome,
    reason: string,
    bitrixCode?: string,
    exhausted = false,
  ): Promise<OutcomeRecord[]> {
    const at = clock.now();
    return Promise.all(
      targets.events.map(async (event) => {
        const record: OutcomeRecord = {
          jobId: event.jobId,
          sourceId: event.sourceId,
          eventId: event.eventId,
          eventName: event.eventName,
          userId: event.message.userId,
          outcome,
          reason:
            targets.digestId && outcome === "sent" ? `sent in digest ${targets.digestId}` : reason,
          at,
          ...(bitrixCode && { bitrixCode }),
          ...(targets.digestId && { digestId: targets.digestId }),
          ...(exhausted && { exhausted }),
        };
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

  function countBitrixError(code: string, configFault: boolean): void {
    metrics.count(Metric.BitrixErrors, { Code: code });
    if (configFault) metrics.count(Metric.BitrixConfigFaults);
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

  function jitter(): number {
    return Math.round(random() * 1000);
  }
}

const done: DeliveryResult = { status: "done" };

/** Digest order: oldest first (the order the outcome store reads them in). */
const oldestFirst = (a: PendingEvent, b: PendingEvent): number =>
  Date.parse(a.receivedAt) - Date.parse(b.receivedAt) ||
  (a.jobId < b.jobId ? -1 : a.jobId > b.jobId ? 1 : 0);

const errorText = (error: unknown): string =>
  error instanceof Error ? `${error.name}: ${error.message}` : String(error);

const digestIdOf = (action: { digestId?: string }) =>
  action.digestId ? { digestId: action.digestId } : {};

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
