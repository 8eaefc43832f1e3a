import { randomUUID } from "node:crypto";
import type { EventJob } from "../job";
import type { SendResult } from "../ports";
import { decidePartner } from "./decide";
import { apply } from "./effects";
import { pendingOf, type Runtime } from "./runtime";
import { type DeliveryAttempt, type DeliveryResult, done, type Targets } from "./types";

/**
 * No weekly limit (partner portals): an in-flight marker per attempt, written right before the
 * request goes on the wire, guards the send; it is this path's intent record.
 */
export async function deliverPartner(
  rt: Runtime,
  job: EventJob,
  ctx: DeliveryAttempt,
): Promise<DeliveryResult> {
  const { client, outcomes, clock, timings } = rt;
  const targets: Targets = { events: [pendingOf(job)], alone: job };
  const heldBack = rt.portalHeldBack(ctx);
  if (heldBack) return heldBack;
  if (await rt.settledEarlier(job)) return done;

  const giveUp = (_: unknown, code?: string) => giveUpPartner(rt, job, targets, code);
  await client.prepare?.();
  const turn = await rt.reserveTurn(clock.now().getTime() + timings.leaseMs, ctx);
  if ("retryAfterMs" in turn) {
    const reason = "rate limit: the portal's bucket is booked";
    return rt.retry(turn.retryAfterMs, reason, ctx, () => giveUp(undefined));
  }
  const token = randomUUID();
  const leaseUntil = clock.now().getTime() + timings.leaseMs;
  const state = await outcomes.begin(job, token, clock.now(), timings.leaseMs);
  if (state === "done") return done;
  if (state === "busy") {
    const reason = "another copy of this message is in flight";
    return rt.retry(timings.leaseMs, reason, ctx, rt.afterLease(timings.leaseMs, reason));
  }
  if (state === "interrupted") {
    await (rt.landed.has(job.jobId)
      ? rt.finishAll(targets, "sent", "sent (an earlier outcome write failed)")
      : rt.finishAll(
          targets,
          "unknown",
          "an earlier attempt was interrupted mid-send; not retried without the weekly limit",
        ));
    return done;
  }

  let result: SendResult;
  try {
    result = await client.sendNetworkMessage(
      rt.slotKey(job).openLineCode,
      job,
      rt.untilLeaseEnds(leaseUntil),
      rt.mayStartUntil(leaseUntil, ctx),
    );
  } catch (error) {
    // The client throws only before a request goes out: nothing landed, the marker goes.
    await rt.settleWrite(() => outcomes.abandon(job.jobId, token));
    throw error;
  }
  const decision = decidePartner(result, { failures: turn.failures, timings });
  return apply(rt, decision, { targets, ctx, marker: { jobId: job.jobId, token }, giveUp });
}

/**
 * Out of time on a partner portal: an earlier attempt's marker means its request went out (it is
 * written right before the wire), so the job ends `unknown` (or `sent`, if this process saw it
 * land); a live marker is another copy's, to be waited out; else `failed`.
 */
async function giveUpPartner(
  rt: Runtime,
  job: EventJob,
  targets: Targets,
  bitrixCode?: string,
): Promise<DeliveryResult> {
  const marker = await rt.outcomes.marker(job.jobId);
  if (!marker) return rt.giveUpAlone(job, undefined, bitrixCode);
  const leftMs = marker.until.getTime() - rt.clock.now().getTime();
  const reason = "another copy of this message is in flight";
  if (leftMs > 0) return rt.afterLease(leftMs, reason)();
  if (rt.landed.has(job.jobId)) {
    await rt.finishAll(targets, "sent", "sent (an earlier outcome write failed)");
    return done;
  }
  const [standing] = await rt.finishAll(
    targets,
    "unknown",
    "retry window over; an earlier attempt was interrupted mid-send",
    bitrixCode,
  );
  if (standing?.outcome !== "unknown") return done;
  return { status: "dead-letter", reason: `unknown: ${standing.reason}` };
}
