import type { RenderedMessage } from "../job";
import type { SendResult, SlotAttempt } from "../ports";
import { decideGuarded } from "./decide";
import { apply } from "./effects";
import { sendNotification } from "./notify";
import type { Runtime } from "./runtime";
import type { DeliveryAttempt, DeliveryResult, Targets } from "./types";

/**
 * The careful guarded send (weekly limit on), for a digest or an event that took its slot the
 * careful way (`deliverEvent`): the OAuth token, a turn in the portal's bucket, the intent record,
 * one Bitrix24 call, then the slot and the outcomes as `decideGuarded` says. The caller holds
 * `attempt`, the user's slot.
 */
export async function sendGuarded(
  rt: Runtime,
  attempt: SlotAttempt,
  message: RenderedMessage,
  targets: Targets,
  ctx: DeliveryAttempt,
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
