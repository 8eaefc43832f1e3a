import type { EventJob } from "../job";
import type { SendResult } from "../ports";
import { decideNotify } from "./decide";
import { apply } from "./effects";
import { pendingOf, type Runtime } from "./runtime";
import { type DeliveryAttempt, type DeliveryResult, done, type Targets } from "./types";

/**
 * The second channel (docs/notify.md): the user's open-line week is taken, so the event goes out
 * now as a system notification, `im.notify.system.add`. It is a send like any other: the OAuth
 * token, a turn in the portal's bucket (the same bucket as open-line messages), one call, and
 * the answer as `decideNotify` says. There is no slot (the method has no weekly limit) and no
 * idempotency key: the TAG makes a repeat replace the earlier notification, so an unanswered
 * request is simply tried again.
 *
 * `alsoInDigest` (`whenLimited: "notify"`): the event was deferred first, so its digest carries
 * it whatever happens here. Otherwise (`notify-only`) the notification is its delivery.
 */
export async function sendNotification(
  rt: Runtime,
  job: EventJob,
  ctx: DeliveryAttempt,
  alsoInDigest: boolean,
): Promise<DeliveryResult> {
  const { client, clock, timings } = rt;
  const targets: Targets = { events: [pendingOf(job)], alone: job };
  const giveUp = (_: unknown, code?: string) =>
    giveUpNotification(rt, job, targets, alsoInDigest, code);
  const notification = job.notify;
  // A job queued without a rendered notification (made by hand, or by another build): the digest
  // carries a `notify` event; a `notify-only` one has nothing to send.
  if (!notification) {
    if (!alsoInDigest) {
      await rt.finishAll(targets, "failed", "notify-only, but the job carries no notification");
    }
    return done;
  }

  await client.prepare?.();
  const leaseUntil = clock.now().getTime() + timings.leaseMs;
  const turn = await rt.reserveTurn(leaseUntil, ctx);
  if ("retryAfterMs" in turn) {
    const reason = "rate limit: the portal's bucket is booked";
    return rt.retry(turn.retryAfterMs, reason, ctx, () => giveUp(undefined));
  }
  const result: SendResult = await client.sendSystemNotification(
    {
      userId: job.userId,
      message: notification.message,
      ...(notification.attach !== undefined && { attach: notification.attach }),
      tag: notification.tag,
    },
    rt.untilLeaseEnds(leaseUntil),
    rt.mayStartUntil(leaseUntil, ctx),
  );
  const decision = decideNotify(
    { alsoInDigest, failures: turn.failures, now: clock.now(), timings },
    result,
  );
  return apply(rt, decision, {
    targets,
    ctx,
    giveUp: (_, code) => giveUpNotification(rt, job, targets, alsoInDigest, code, result),
  });
}

/**
 * Out of time on the second channel. A `notify` event waits in its digest still, so nothing is
 * lost: the notification is given up, logged, and the queue message is done. A `notify-only`
 * event ends `failed` (exhausted: a redrive may try again), or `unknown` when the last request
 * went out without an answer.
 */
async function giveUpNotification(
  rt: Runtime,
  job: EventJob,
  targets: Targets,
  alsoInDigest: boolean,
  code?: string,
  last?: SendResult,
): Promise<DeliveryResult> {
  const reason = "retry window over on the second channel (im.notify.system.add)";
  if (alsoInDigest) {
    rt.log.error("notification given up", {
      jobId: job.jobId,
      userId: job.userId,
      reason,
      ...(code && { bitrixCode: code }),
    });
    return done;
  }
  const [standing] =
    last?.kind === "ambiguous"
      ? await rt.finishAll(
          targets,
          "unknown",
          `${reason}; an unanswered notification may have landed`,
          code,
        )
      : await rt.finishAll(targets, "failed", reason, code, true);
  if (standing?.outcome !== "failed" && standing?.outcome !== "unknown") return done;
  return { status: "dead-letter", reason: `${standing.outcome}: ${standing.reason}` };
}
