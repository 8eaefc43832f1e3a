import { randomUUID } from "node:crypto";
import type { EventJob } from "../job";
import { isPending } from "../outcome";
import { DIGEST_HOLDER, type PendingEvent, type SlotAttempt, type SlotKey } from "../ports";
import { sendGuarded } from "./guarded";
import { pendingOf, type Runtime } from "./runtime";
import { type DeliveryAttempt, type DeliveryResult, done } from "./types";

/**
 * Sends one user's pending events as a digest through the guarded send (`joining`: an event that
 * just joined it; `marked`: the slot's pending-digest marker as its claim read it).
 */
export async function flush(
  rt: Runtime,
  key: SlotKey,
  ctx: DeliveryAttempt,
  joining?: EventJob,
  marked: readonly string[] = [],
): Promise<DeliveryResult> {
  const { slots, outcomes, clock, timings } = rt;
  if (!joining) {
    const heldBack = rt.portalHeldBack(ctx);
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
  // Marked events already final leave the marker with this digest's confirm. One with no outcome
  // yet stays: its deferral (the marker is written first) may still land, and it must then still
  // be named (docs/ledger.md, "The pending-digest marker").
  const notWaiting = marked.filter((id) => !events.some((event) => event.jobId === id));
  const stale =
    notWaiting.length === 0
      ? []
      : [...(await outcomes.getMany(notWaiting)).values()]
          .filter((record) => !isPending(record.outcome))
          .map((record) => record.jobId);

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
      await rt.finishAll(
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

  // They were read before the claim: another flush may have settled some since (a rejection
  // writes its outcome, then lets the slot go). Read them again now that the slot is ours.
  const still = await outcomes.pendingByIds(events.map((event) => event.jobId));
  events = events.filter((event) => still.some((pending) => pending.jobId === event.jobId));
  if (events.length === 0) {
    await rt.settleWrite(() => slots.release(claim.attempt, clock.now()));
    return done;
  }

  // A crashed digest resumes with the events it carried, not with newer ones.
  const resumed = claim.attempt.holder.digest;
  if (resumed && resumed.id !== digest.id) {
    const carried = events.filter((event) => resumed.jobIds.includes(event.jobId));
    const { answered } = claim.attempt;
    if (carried.length > 0 && answered) {
      // It crashed after Bitrix24's final answer was noted, before its outcomes: settle them.
      await rt.finishAll({ events: carried }, answered.outcome, answered.reason, answered.code);
      await rt.settleWrite(() => slots.release(claim.attempt, clock.now()));
      return done;
    }
    if (carried.length > 0) return sendDigest(rt, claim.attempt, carried, resumed.id, ctx);
    // Its events are all settled, but it may have landed: that evidence holds the user's week,
    // and newer events must not inherit it (a USER_MESSAGE_LIMIT would read as their send).
    const evidence = claim.attempt.maybeSentAt?.getTime();
    const freeAt = evidence === undefined ? 0 : evidence + timings.weekMs + timings.weekMarginMs;
    if (freeAt > clock.now().getTime()) {
      await rt.settleWrite(() => slots.release(claim.attempt, clock.now()));
      await outcomes.reschedule(
        events.map((event) => event.jobId),
        new Date(freeAt),
        `weekly slot held by digest ${resumed.id}, which may have landed, until ${new Date(freeAt).toISOString()}`,
      );
      return done;
    }
    // That week is over: a new digest, on a slot that names it and none of the old evidence.
    const { maybeSentAt: _past, ...fresh } = claim.attempt;
    const attempt = { ...fresh, holder: { ...claim.attempt.holder, digest } };
    return sendDigest(rt, attempt, events, digest.id, ctx, stale);
  }
  return sendDigest(rt, claim.attempt, events, digest.id, ctx, stale);
}

/**
 * A digest's retry window starts when its oldest carried event became due, not when this flush
 * job was queued (the sweeper queues a new one every time): flushes are bounded like single sends.
 */
function sendDigest(
  rt: Runtime,
  attempt: SlotAttempt,
  events: readonly PendingEvent[],
  digestId: string,
  flushCtx: DeliveryAttempt,
  stale: readonly string[] = [],
): Promise<DeliveryResult> {
  const dueSince = Math.min(...events.map((event) => event.dueAt?.getTime() ?? Infinity));
  const ctx = { ...flushCtx, queuedAt: Math.min(flushCtx.queuedAt, dueSince) };
  const composed = rt.composeDigest(events);
  rt.log.info("sending digest", {
    digestId,
    userId: attempt.key.userId,
    events: events.length,
    shown: composed.shown,
    more: composed.more,
  });
  return sendGuarded(rt, attempt, composed.message, { events, digestId, stale }, ctx);
}

/** Digest order: oldest first (the order the outcome store reads them in). */
const oldestFirst = (a: PendingEvent, b: PendingEvent): number =>
  Date.parse(a.receivedAt) - Date.parse(b.receivedAt) ||
  (a.jobId < b.jobId ? -1 : a.jobId > b.jobId ? 1 : 0);
