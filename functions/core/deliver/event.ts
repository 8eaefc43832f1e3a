import type { EventJob } from "../job";
import { type ClaimResult, DIGEST_HOLDER, type SlotAttempt } from "../ports";
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
 * weekly slot and goes out at once, or joins the user's digest (docs/ledger.md). `seat`: its
 * portal's batcher, the quick way for a free slot.
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
  // The quick way (docs/ledger.md, "Writes per message"): a free slot with no digest waiting is
  // claimed with the intent in one write, after the bucket turn, alone or in a batch. Its reads
  // are one request (the outcome and the slot). Whether a digest waits is the slot's
  // pending-digest marker, which the claim checks again; the digest index is not queried
  // (docs/ledger.md, "The pending-digest marker"). A cold process's first message books its turn
  // beside the reads.
  const reads = Promise.all([
    rt.settledEarlier(job),
    seat ? slots.freeToSend(key, job.jobId, clock.now()) : false,
  ]);
  reads.catch(() => {}); // awaited below, once the first turn is asked for
  const firstTurn = seat && (await seat.batcher.bookFirstTurn(ctx));
  const [settled, free] = await reads;
  if (settled) return done;

  const targets = { events: [pendingOf(job)], alone: job };
  const notify = (alsoInDigest: boolean) => sendNotification(rt, job, ctx, alsoInDigest);
  if (seat && free) {
    await rt.client.prepare?.();
    const outcome = await seat.batcher.send({ key, job, ctx }, seat.leave, firstTurn?.turn);
    switch (outcome.kind) {
      case "not-sent":
        return rt.retry(outcome.retryAfterMs, outcome.reason, ctx, () =>
          rt.giveUpAlone(job, undefined),
        );
      case "settled":
        return done;
      case "threw":
        throw outcome.error;
      case "decided": {
        const { attempt } = outcome;
        const giveUp = (held: SlotAttempt | undefined, code?: string) =>
          rt.giveUpGuarded(held ?? attempt, targets, code);
        return apply(rt, outcome.decision, { targets, ctx, attempt, giveUp, notify });
      }
      case "claim-lost":
        break; // the careful way, below
    }
  }

  const claim = await landedAlready(
    rt,
    job,
    await slots.claim(key, { jobId: job.jobId }, clock.now(), timings.leaseMs),
  );
  if (claim.status !== "claimed") {
    const giveUp = () => rt.giveUpAlone(job, undefined);
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
  return sendGuarded(rt, claim.attempt, job, targets, ctx);
}

/**
 * A live lease of another event whose send already landed (its outcome says `sent`; a lone send
 * keeps its intent as the week's record, docs/ledger.md "Writes per message"): the week is used,
 * so the slot is taken until the intent's free time, not busy until the lease ends.
 */
async function landedAlready(rt: Runtime, job: EventJob, claim: ClaimResult): Promise<ClaimResult> {
  if (claim.status !== "busy" || !claim.usedUntil || claim.heldBy === job.jobId) return claim;
  if (claim.heldBy === DIGEST_HOLDER) return claim;
  const holder = await rt.outcomes.get(claim.heldBy);
  if (holder?.outcome !== "sent") return claim;
  return { status: "taken", heldBy: claim.heldBy, freeAt: claim.usedUntil, sentAt: holder.at };
}
