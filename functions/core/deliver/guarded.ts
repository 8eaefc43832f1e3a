import type { EventJob, RenderedMessage } from "../job";
import type { SendResult, SlotAttempt } from "../ports";
import type { BatchSeat } from "./batch";
import { decideGuarded } from "./decide";
import { apply } from "./effects";
import { sendNotification } from "./notify";
import { pendingOf, type Runtime } from "./runtime";
import type { DeliveryAttempt, DeliveryResult, Targets } from "./types";

/**
 * The guarded send (weekly limit on), for an event alone or a digest: the OAuth token, a turn in
 * the portal's bucket, the intent record, one Bitrix24 call, then the slot and the outcomes as
 * `decideGuarded` says. The caller holds `attempt`, the user's slot.
 */
export async function sendGuarded(
  rt: Runtime,
  attempt: SlotAttempt,
  message: RenderedMessage,
  targets: Targets,
  ctx: DeliveryAttempt,
  seat?: BatchSeat,
): Promise<DeliveryResult> {
  const { slots, client, clock, timings } = rt;
  const giveUp = (held: SlotAttempt | undefined, code?: string) =>
    rt.giveUpGuarded(held ?? attempt, targets, code);
  // The token first: its wait (another worker's refresh) comes before the latest-start check.
  await client.prepare?.().catch(async (error: unknown) => {
    await rt.settleWrite(() => slots.release(attempt, clock.now()));
    throw error;
  });
  const { alone } = targets;
  if (seat && alone) return sendInBatch(rt, attempt, targets, alone, ctx, seat);
  const turn = await rt.reserveTurn(attempt.leaseUntil.getTime(), ctx);
  if ("retryAfterMs" in turn) {
    await rt.settleWrite(() => slots.release(attempt, clock.now()));
    const reason = "rate limit: the portal's bucket is booked";
    return rt.retry(turn.retryAfterMs, reason, ctx, () => giveUp(attempt));
  }

  // The intent: from this write on the request may land, and only it counts as evidence.
  const sentAt = clock.now().getTime();
  if (!(await slots.markSending(attempt, new Date(sentAt)))) {
    const reason = "the lease ran out before the request could start";
    return rt.retry(timings.leaseMs, reason, ctx, rt.afterLease(timings.leaseMs, reason));
  }
  let result: SendResult;
  try {
    result = await client.sendNetworkMessage(
      attempt.key.openLineCode,
      message,
      rt.untilLeaseEnds(attempt.leaseUntil.getTime()),
      rt.mayStartUntil(attempt.leaseUntil.getTime(), ctx),
    );
  } catch (error) {
    // The client throws only before a request goes out (its token store, say): not landed.
    await rt.settleWrite(() => slots.release(attempt, clock.now()));
    throw error;
  }
  const decision = decideGuarded(
    {
      attempt,
      target: targets.alone
        ? { alone: true, whenLimited: targets.alone.whenLimited }
        : { alone: false },
      sentAt,
      failures: turn.failures,
      now: clock.now(),
      timings,
    },
    result,
  );
  return apply(rt, decision, {
    targets,
    ctx,
    attempt,
    giveUp,
    ...(alone && {
      notify: (alsoInDigest: boolean) => sendNotification(rt, alone, ctx, alsoInDigest),
    }),
  });
}

/**
 * An event alone, sent in its portal's next batch (docs/ledger.md, "Batch delivery"): the batch
 * takes the bucket turn and writes this message's intent with the others'; its own command's
 * answer comes back decided, and is applied here as a lone send's would be.
 */
async function sendInBatch(
  rt: Runtime,
  attempt: SlotAttempt,
  targets: Targets,
  job: EventJob,
  ctx: DeliveryAttempt,
  seat: BatchSeat,
): Promise<DeliveryResult> {
  const { slots, clock, timings } = rt;
  const giveUp = (held: SlotAttempt | undefined, code?: string) =>
    rt.giveUpGuarded(held ?? attempt, targets, code);
  const outcome = await seat.batcher.send(
    { attempt, message: pendingOf(job).message, ctx, whenLimited: job.whenLimited },
    seat.leave,
  );
  switch (outcome.kind) {
    case "not-sent":
      await rt.settleWrite(() => slots.release(attempt, clock.now()));
      return rt.retry(outcome.retryAfterMs, outcome.reason, ctx, () => giveUp(attempt));
    case "lease-lost": {
      const reason = "the lease ran out before the request could start";
      return rt.retry(timings.leaseMs, reason, ctx, rt.afterLease(timings.leaseMs, reason));
    }
    case "threw":
      // The client throws only before a request goes out: not landed.
      await rt.settleWrite(() => slots.release(attempt, clock.now()));
      throw outcome.error;
    case "decided":
      return apply(rt, outcome.decision, {
        targets,
        ctx,
        attempt,
        giveUp,
        notify: (alsoInDigest: boolean) => sendNotification(rt, job, ctx, alsoInDigest),
      });
  }
}
