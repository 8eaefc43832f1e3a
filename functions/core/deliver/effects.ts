import { Metric } from "../metrics";
import type { SlotAttempt } from "../ports";
import type { Decision, Effect } from "./decide";
import type { Runtime } from "./runtime";
import { type DeliveryAttempt, type DeliveryResult, done, type Targets } from "./types";

/** Where a decision's effects land: the send's targets, and its slot attempt or in-flight marker. */
export interface Scope {
  targets: Targets;
  ctx: DeliveryAttempt;
  /** The guarded path's slot attempt (weekly limit on). */
  attempt?: SlotAttempt;
  /** The partner path's in-flight marker (no weekly limit). */
  marker?: { jobId: string; token: string };
  /** Out of time: what the path records (with the attempt as the effects left it). */
  giveUp: (attempt: SlotAttempt | undefined, code?: string) => Promise<DeliveryResult>;
  /** The second channel for an event alone, when a decision says to notify (notify.ts). */
  notify?: (alsoInDigest: boolean) => Promise<DeliveryResult>;
}

/**
 * The one executor: applies a decision's effects in their order, then does what it says next.
 * Writes that settle a send are retried (`settleWrite`); the rest throw, and the queue redelivers.
 */
export async function apply(
  rt: Runtime,
  decision: Decision,
  scope: Scope,
): Promise<DeliveryResult> {
  let attempt = scope.attempt;
  for (const effect of decision.effects) {
    const applied = await applyOne(rt, effect, scope, attempt);
    if (applied === LEASE_LOST) {
      // Another copy took the slot back before the answer was noted: it settles the message now.
      const reason = "the lease ran out before the answer could be noted";
      const { leaseMs } = rt.timings;
      return rt.retry(leaseMs, reason, scope.ctx, rt.afterLease(leaseMs, reason));
    }
    attempt = applied ?? attempt;
  }
  const { next } = decision;
  switch (next.to) {
    case "done":
      return done;
    case "retry":
      return rt.retry(next.hintMs, next.reason, scope.ctx, () => scope.giveUp(attempt, next.code));
    case "after-lease":
      return rt.retry(
        next.afterMs,
        next.reason,
        scope.ctx,
        rt.afterLease(next.afterMs, next.reason),
      );
    case "notify": {
      const notify = scope.notify;
      if (!notify) throw new Error("deliver: a notification does not apply here");
      return notify(next.alsoInDigest);
    }
  }
}

async function applyOne(
  rt: Runtime,
  effect: Effect,
  scope: Scope,
  attempt: SlotAttempt | undefined,
): Promise<SlotAttempt | typeof LEASE_LOST | undefined> {
  const { targets } = scope;
  switch (effect.do) {
    case "count-error":
      rt.metrics.count(Metric.BitrixErrors, { Code: effect.code });
      if (effect.configFault) rt.metrics.count(Metric.BitrixConfigFaults);
      return;
    case "hold-portal":
      await rt.limiter.penalize(rt.clock.now(), effect.forMs);
      return;
    case "portal-recovered":
      await rt.limiter.recovered().catch(() => {});
      return;
    case "confirm-slot": {
      const held = need(attempt, effect);
      // A digest's confirm takes the events it carried (and any found final) off the marker.
      const carried = targets.digestId
        ? [...targets.events.map((event) => event.jobId), ...(targets.stale ?? [])]
        : [];
      await rt.settleWrite(() => rt.slots.confirm(held, effect.sentAt, carried));
      return;
    }
    case "block-slot": {
      const held = need(attempt, effect);
      await rt.settleWrite(() => rt.slots.block(held, effect.until, effect.tries));
      return;
    }
    case "note-answered": {
      const held = need(attempt, effect);
      const noted = await rt.settleWrite(() =>
        rt.slots.markAnswered(held, rt.clock.now(), rt.timings.leaseMs, effect.verdict),
      );
      return noted ? undefined : LEASE_LOST;
    }
    case "release-slot": {
      const held = need(attempt, effect);
      await rt.settleWrite(() => rt.slots.release(held, rt.clock.now()));
      return;
    }
    case "mark-ambiguous":
      return rt.slots.markAmbiguous(need(attempt, effect), effect.maybeSentAt);
    case "drop-marker": {
      const marker = need(scope.marker, effect);
      await rt.settleWrite(() => rt.outcomes.abandon(marker.jobId, marker.token));
      return;
    }
    case "note-landed":
      for (const event of targets.events) rt.landed.add(event.jobId);
      return;
    case "finish": {
      const { notifiedAt } = effect;
      const tag = targets.alone?.notify?.tag;
      // `notify-only`: the notification was the delivery; the outcome says when and with which tag.
      const events = notifiedAt
        ? targets.events.map((event) => ({
            ...event,
            notifiedAt,
            ...(tag !== undefined && { notifyTag: tag }),
          }))
        : targets.events;
      await rt.finishAll(
        { ...targets, events, ...(effect.digestId && { digestId: effect.digestId }) },
        effect.outcome,
        effect.reason,
        effect.code,
      );
      return;
    }
    case "record-notified": {
      const job = need(targets.alone, effect);
      await rt.recordNotified(job, effect.at, effect.reason);
      return;
    }
    case "notify-given-up": {
      const job = need(targets.alone, effect);
      // The event still reaches its user in the digest; only the quick way failed.
      rt.log.error("notification given up", {
        jobId: job.jobId,
        userId: job.userId,
        reason: effect.reason,
        bitrixCode: effect.code,
      });
      return;
    }
    case "defer": {
      const job = need(targets.alone, effect);
      await rt.defer(job, rt.slotKey(job), effect.dueAt, effect.reason);
      return;
    }
    case "reschedule":
      await rt.outcomes.reschedule(
        targets.events.map((event) => event.jobId),
        effect.until,
        effect.reason,
      );
      return;
  }
}

/** The slot was taken back before an effect that needed the lease: the rest is not applied. */
const LEASE_LOST = Symbol("lease lost");

/** An effect applied where its path has no use for it is a bug in `decide.ts`, not a fault. */
function need<T>(value: T | undefined, effect: Effect): T {
  if (value === undefined) throw new Error(`deliver: effect ${effect.do} does not apply here`);
  return value;
}
