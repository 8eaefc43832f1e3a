import type { DeliveryJob, RenderedMessage } from "./job";
import type { OutcomeRecord } from "./outcome";

/**
 * The seams between the pure core and the outside world. Adapters in `functions/adapters/`
 * implement them over DynamoDB, SQS and HTTP; `functions/local/` supplies the in-process queue.
 * Adapters turn SDK exceptions into these answers; an unexpected failure is thrown as is.
 */

/** Event receipts: one conditional put per (source, event id); a second put is a duplicate. */
export interface ReceiptStore {
  /** Records the receipt, kept at least 30 days. `duplicate` when it exists already. */
  record(sourceId: string, eventId: string, receivedAt: Date): Promise<"recorded" | "duplicate">;
  /** Removes a receipt written by this request, so the sender's retry is not a duplicate. */
  remove(sourceId: string, eventId: string): Promise<void>;
}

/** The queue between ingest and deliver. */
export interface JobQueue {
  /** Enqueues every job or throws; a partial failure throws too (the caller rolls back). */
  enqueue(jobs: readonly DeliveryJob[]): Promise<void>;
}

/** Identifies one weekly slot: one message per (portal, open line, user) per 7 days. */
export interface SlotKey {
  portal: string;
  openLineCode: string;
  userId: number;
}

export type ClaimResult =
  /** The slot is ours. `ambiguous`: this same claim had a send of unknown fate before. */
  | { status: "claimed"; ambiguous: boolean }
  /** Another claim holds a pending lease that has not run out: try again after it. */
  | { status: "pending"; heldBy: string; leaseUntil: Date }
  /** The slot was used by a sent message within the week. `heldBy` may equal our claim id. */
  | { status: "sent"; heldBy: string; sentAt: Date };

export interface SlotStore {
  /**
   * Takes the slot with one conditional write: free, expired, a pending lease that ran out,
   * or our own earlier claim. Never read-then-write.
   */
  claim(key: SlotKey, claimId: string, now: Date, leaseMs: number): Promise<ClaimResult>;
  /** Marks the slot sent; it expires 7 days after `sentAt`. Conditional on our claim id. */
  confirm(key: SlotKey, claimId: string, sentAt: Date): Promise<void>;
  /** Gives the slot back after a send that surely did not land. Conditional delete on our claim id. */
  release(key: SlotKey, claimId: string): Promise<void>;
  /** Keeps our pending claim but notes a send of unknown fate, so a retry can interpret the answer. */
  markAmbiguous(key: SlotKey, claimId: string, now: Date, leaseMs: number): Promise<void>;
}

/**
 * A leaky bucket shared by every deliver worker (GCRA over one store item), so the whole fleet
 * never sends faster than the portal's bucket drains.
 */
export interface RateLimiter {
  /**
   * Reserves one request. `sendAt` is when the caller may send (now, or later within `maxWaitMs`);
   * `retryAfterMs` when the bucket is booked further ahead than that (nothing was reserved).
   */
  reserve(now: Date, maxWaitMs: number): Promise<{ sendAt: Date } | { retryAfterMs: number }>;
  /** Pushes the whole fleet back after Bitrix24 answered 503: nobody sends for `ms`. */
  penalize(now: Date, ms: number): Promise<void>;
}

/** Outcomes, one item per job, plus the in-flight marker used when the weekly limit is off. */
export interface OutcomeStore {
  record(outcome: OutcomeRecord): Promise<void>;
  /**
   * Marks a job in flight before an unguarded send (weekly limit off). `in-flight`: an earlier
   * attempt started and never finished (its fate is unknown); `done`: an outcome exists already.
   */
  begin(jobId: string, now: Date): Promise<"started" | "in-flight" | "done">;
  /** Clears the in-flight marker after a send that surely did not land, so a retry may send. */
  abandon(jobId: string): Promise<void>;
  get(jobId: string): Promise<OutcomeRecord | undefined>;
}

/** How a Bitrix24 call ended, already classified by the client (see reference/bitrix24.md). */
export type SendResult =
  | { kind: "sent" }
  /** USER_MESSAGE_LIMIT: the user had a message this week. Keep the slot, never retry. */
  | { kind: "limited"; code: string }
  /** CODE_ERROR, NOT_FOUND, auth errors: a person must fix the configuration. */
  | { kind: "config"; code: string; status: number }
  /** Rejected for good (validation, WRONG_REQUEST). */
  | { kind: "permanent"; code: string; status: number }
  /** Did not land (5xx, 503, 429, network error before sending): may retry after `retryAfterMs`. */
  | { kind: "retry"; code: string; status?: number; retryAfterMs: number; overloaded: boolean }
  /** The request went out but no answer came back: it may or may not have landed. */
  | { kind: "ambiguous"; code: string };

export interface BitrixClient {
  /** Calls imopenlines.network.message.add once. Never throws for an HTTP or network failure. */
  sendNetworkMessage(
    openLineCode: string,
    message: RenderedMessage,
    signal?: AbortSignal,
  ): Promise<SendResult>;
}
