import type { QueueMessage } from "../job";
import { makeBatcher } from "./batch";
import { deliverEvent } from "./event";
import { flush } from "./flush";
import { deliverPartner } from "./partner";
import { makeRuntime, pendingOf, type Runtime } from "./runtime";
import type { Deliver, DeliverDeps, DeliveryAttempt, DeliveryResult } from "./types";
import { done } from "./types";

export type { Decision, Effect, Next } from "./decide";
export { pendingOf } from "./runtime";
export type { Deliver, DeliverDeps, DeliveryAttempt, DeliveryResult } from "./types";

/**
 * The deliver use case: the weekly ledger of docs/ledger.md. An event takes its user's weekly slot and
 * goes out at once, or joins the user's digest; a flush sends a due digest through the same
 * guarded path. Every send holds a per-attempt lease, so no two requests for one user overlap,
 * and Bitrix24's USER_MESSAGE_LIMIT is read against our own evidence of earlier attempts.
 *
 * Its parts: `decide.ts` (what each answer means, as effects), `effects.ts` (the one executor),
 * `event.ts` and `guarded.ts` (the guarded path), `flush.ts` (digests), `partner.ts` (portals
 * without the weekly limit), `notify.ts` (the second channel, docs/notify.md), `runtime.ts` (what
 * they share).
 *
 * @example
 *   const deliver = makeDeliver(deps);
 *   const result = await deliver({ message: job, receiveCount: 1, queuedAt, deadline });
 */
export function makeDeliver(deps: DeliverDeps): Deliver {
  const rt = makeRuntime(deps);
  // Every event of a weekly-limit portal takes the quick way when its slot is free: in batches
  // when the client can send them, else one message per request.
  const batcher = deps.bitrix.weeklyLimit
    ? makeBatcher(
        rt,
        deps.batching && deps.batching.maxMessages > 1 && deps.client.sendBatch
          ? deps.batching
          : undefined,
      )
    : undefined;
  return async function deliver(attempt: DeliveryAttempt): Promise<DeliveryResult> {
    const { message } = attempt;
    // An event under way is the portal's backlog: a batch gathering now waits for it.
    const leave = message.kind === "event" ? batcher?.expect(message.jobId) : undefined;
    try {
      if (message.kind === "flush") return await flush(rt, rt.slotKey(message), attempt);
      return await (deps.bitrix.weeklyLimit
        ? deliverEvent(rt, message, attempt, batcher && leave && { batcher, leave })
        : deliverPartner(rt, message, attempt));
    } catch (error) {
      // Thrown again and again until the window is over: end it here, not in SQS's retention.
      if (rt.clock.now().getTime() <= attempt.queuedAt + rt.timings.retryForMs) throw error;
      return giveUpAfterErrors(rt, message, error);
    } finally {
      leave?.();
    }
  };
}

/**
 * Deliver threw on every receive for the whole retry window. The error may have come after a
 * request went out, so what was carried ends `unknown` (it alarms) and the message is a dead
 * letter. A flush ends its events whose own window is over.
 */
async function giveUpAfterErrors(
  rt: Runtime,
  message: QueueMessage,
  error: unknown,
): Promise<DeliveryResult> {
  const reason = `deliver failed on every try until the retry window was over (${errorText(error)})`;
  rt.log.error("giving up after repeated errors", { reason });
  const nowMs = rt.clock.now().getTime();
  const events =
    message.kind === "event"
      ? [pendingOf(message)]
      : (await rt.outcomes.pending(rt.slotKey(message))).filter(
          (event) => (event.dueAt?.getTime() ?? nowMs) + rt.timings.retryForMs < nowMs,
        );
  const standing = await rt.finishAll({ events }, "unknown", reason);
  if (message.kind === "event" && standing[0]?.outcome !== "unknown") return done;
  return { status: "dead-letter", reason: `unknown: ${reason}` };
}

const errorText = (error: unknown): string =>
  error instanceof Error ? `${error.name}: ${error.message}` : String(error);
