import type { EventJob } from "../job";
import type { BatchSeat } from "./batch";
import { decideBlocked } from "./decide";
import { apply } from "./effects";
import { flush } from "./flush";
import { sendGuarded } from "./guarded";
import { sendNotification } from "./notify";
import { pendingOf, type Runtime } from "./runtime";
import { type DeliveryAttempt, type DeliveryResult, done } from "./types";

/**
 * One event on a portal with the weekly limit: it settles from a final outcome, takes its user's
 * weekly slot and goes out at once, or joins the user's digest (docs/ledger.md).
 */
export async function deliverEvent(
  rt: Runtime,
  job: EventJob,
  ctx: DeliveryAttempt,
  seat?: BatchSeat,
): Promise<DeliveryResult> {
  const { slots, outcomes, clock, timings } = rt;
  const key = rt.slotKey(job);
  const heldBack = rt.portalHeldBack(ctx);
  if (heldBack) return heldBack;
  if (await rt.settledEarlier(job)) return done;

  const claim = await slots.claim(key, { jobId: job.jobId }, clock.now(), timings.leaseMs);
  const targets = { events: [pendingOf(job)], alone: job };
  if (claim.status !== "claimed") {
    const giveUp = () => rt.giveUpAlone(job, undefined);
    const notify = (alsoInDigest: boolean) => sendNotification(rt, job, ctx, alsoInDigest);
    return apply(rt, decideBlocked(claim, job, clock.now()), { targets, ctx, giveUp, notify });
  }

  // A copy may have read no outcome just before another attempt settled it and let the slot go
  // (settles write the outcome first): read it again while the slot is ours.
  if (await rt.settledEarlier(job)) {
    await rt.settleWrite(() => slots.release(claim.attempt, clock.now()));
    return done;
  }
  // An attempt of ours had Bitrix24's final answer noted, then crashed before the outcome.
  const { answered } = claim.attempt;
  if (answered) {
    await rt.finishAll(targets, answered.outcome, answered.reason, answered.code);
    await rt.settleWrite(() => slots.release(claim.attempt, clock.now()));
    return done;
  }

  // Older events never wait behind newer ones: a pending digest goes out now, with this one.
  // The slot's marker (read with the claim) names them even when the digest index lags.
  // Only a clean attempt may join: one with an unanswered predecessor must settle alone.
  if (!claim.attempt.maybeSentAt) {
    const marked = claim.attempt.pendingJobs ?? [];
    if (marked.length > 0 || (await outcomes.pending(key)).length > 0) {
      await rt.settleWrite(() => slots.release(claim.attempt, clock.now()));
      await rt.defer(job, key, clock.now(), "joins the user's pending digest");
      return flush(rt, key, ctx, job, marked);
    }
  }
  return sendGuarded(rt, claim.attempt, job, targets, ctx, seat);
}
