import type { EventJob, QueueMessage, RenderedMessage } from "./job";
import type { OutcomeRecord } from "./outcome";

/**
 * The seams between the pure core and the outside world. Adapters in `functions/adapters/`
 * implement them over DynamoDB, SQS and HTTP; `functions/local/` supplies the in-process queue.
 * Adapters turn SDK exceptions into these answers; an unexpected failure is thrown as is.
 */

/**
 * What makes two deliveries the same event, per source: its id, and for senders that do not sign
 * their ids (GitHub, generic HMAC) the SHA-256 of the signed bytes. `byId` says whether the id is
 * recorded too; without a hash it always is. See `receiptFor` in ingest.
 */
export interface Receipt {
  sourceId: string;
  eventId: string;
  /** Kept on the receipt: a replay relabelled as another event still gets the first one's jobs. */
  eventName: string;
  contentHash?: string;
  byId: boolean;
  /**
   * SHA-256 (hex) of the body alone, where the id is unsigned and each retry is signed anew: what
   * a legit retry under the same id repeats. A request that finds the id's receipt with another
   * body queues nothing (docs/ingest-receipts.md, "An id taken from another body").
   */
  bodyHash?: string;
}

/** The request that recorded a receipt: the event's jobs are made from these, whoever retries. */
export interface FirstReceipt {
  eventId: string;
  eventName: string;
  receivedAt: Date;
}

/**
 * What recording a receipt found (docs/ingest-receipts.md):
 * - `recorded`: the receipt is ours, written now; this request queues the event's jobs.
 * - `received`: an earlier request recorded it (`first`). Whether its jobs reached the queue is
 *   not on the receipt: deliver's outcome of each job proves it, and the caller queues the jobs
 *   without one again (a copy of a queued job is settled once, docs/ledger.md). `bodyHash`: the
 *   body hash on the receipt of `first.eventId`, where there is one: the caller queues nothing
 *   when its own body hash differs.
 * - `queued`: a receipt of the two-write scheme, marked queued: a duplicate, nothing to check.
 */
export type ReceiptState =
  | { state: "recorded" }
  | { state: "received"; first: FirstReceipt; bodyHash?: string }
  | { state: "queued" };

/**
 * Event receipts, kept at least 30 days: one conditional put per key (the content hash, then the
 * id), written once; the first key that exists already answers and nothing more is written. A
 * receipt with a `bodyHash` whose content hash is found answers with the body hash on the receipt
 * of the id the content receipt names (one read): a content receipt written under a forged id
 * header is then refused too.
 */
export interface ReceiptStore {
  record(receipt: Receipt, receivedAt: Date): Promise<ReceiptState>;
}

/** The queue between ingest and deliver. */
export interface JobQueue {
  /** Enqueues every job or throws; a partial failure throws too (the caller rolls back). */
  enqueue(jobs: readonly QueueMessage[]): Promise<void>;
}

/** Puts a received message back for later: what a retry with backoff means on SQS. */
export interface RetryScheduler {
  retryLater(receiptHandle: string, delayMs: number): Promise<void>;
}

/** Identifies one weekly slot: one message per (portal, open line, user) per week. */
export interface SlotKey {
  portal: string;
  openLineCode: string;
  userId: number;
}

/** Who holds a slot: an event job's id, or {@link DIGEST_HOLDER} for any digest of the user. */
export interface SlotHolder {
  jobId: string;
  /** A digest send names its id and the events it carries, so a crashed send is resent as it was. */
  digest?: DigestContents;
}

export interface DigestContents {
  id: string;
  jobIds: readonly string[];
}

/** Every digest send of one user holds the slot under this name: a flush resumes another's. */
export const DIGEST_HOLDER = "digest";

/** One attempt's hold on a slot: a lease under a token of its own. */
export interface SlotAttempt {
  key: SlotKey;
  holder: SlotHolder;
  token: string;
  leaseUntil: Date;
  /**
   * Latest time an earlier attempt of this same holder may have landed (a timeout, a reset, a
   * crash before confirm). Set, a USER_MESSAGE_LIMIT answer means that attempt landed.
   */
  maybeSentAt?: Date;
  /** What the slot recorded before we took it: our own last send frees at this time. */
  previousFreeAt?: Date;
  /** How often Bitrix24 has answered USER_MESSAGE_LIMIT to us since this user's last send. */
  limitedTries: number;
  /**
   * The slot's pending-digest marker as the claim found it: events deferred for this user that no
   * digest has carried yet. Read with the claim, so a newer event never goes out alone while an
   * older one waits (the digest index may lag).
   */
  pendingJobs?: readonly string[];
  /**
   * A crashed attempt of this same holder had Bitrix24's final answer noted on the slot before it
   * could record the outcome: the claim settles from it and sends nothing.
   */
  answered?: SlotVerdict;
}

/** A final answer noted on the slot before the outcome is recorded (`markAnswered`). */
export interface SlotVerdict {
  outcome: "failed" | "unknown";
  reason: string;
  code?: string;
}

export type ClaimResult =
  | { status: "claimed"; attempt: SlotAttempt }
  /** A live lease of another attempt (maybe another copy of this same job) blocks the send. */
  | {
      status: "busy";
      heldBy: string;
      leaseUntil: Date;
      /** Its intent is recorded: if its request landed, the slot is used until then. */
      usedUntil?: Date;
    }
  /**
   * Used this week, or possibly used by an attempt that never confirmed: free from `freeAt` on.
   * `digest` names the events of the digest that used it, when a digest did.
   */
  | {
      status: "taken";
      heldBy: string;
      freeAt: Date;
      sentAt?: Date;
      digest?: DigestContents;
    };

/**
 * Weekly slots. Each change is one conditional write keyed on the attempt's token, never
 * read-then-write; every expiry is compared with `now` inside the condition.
 */
export interface SlotStore {
  /**
   * Takes the slot: free, its week (plus margin) over, or our own holder's lease run out, which
   * counts as ambiguous (`maybeSentAt`). A live lease blocks everyone, another copy of us too.
   */
  claim(key: SlotKey, holder: SlotHolder, now: Date, leaseMs: number): Promise<ClaimResult>;
  /**
   * Whether a fresh claim would take the slot now and no digest waits on its marker (one
   * consistent read): then `claimSending` may go first. A hint; the claim's condition decides.
   */
  freeToSend(key: SlotKey, jobId: string, now: Date): Promise<boolean>;
  /**
   * A fresh claim and the intent in one conditional write (docs/ledger.md, "Writes per
   * message"), made right before the request, after the bucket turn and the token: the slot is
   * used from `now` until a week after the lease. Only where no digest waits on the marker and no
   * attempt carrying this job let the slot go (its outcome may be just written: the careful path
   * reads it). `undefined` when the slot is not free that way: take the careful path (`claim`).
   */
  claimSending(
    key: SlotKey,
    holder: SlotHolder,
    now: Date,
    leaseMs: number,
  ): Promise<SlotAttempt | undefined>;
  /**
   * The attempt's intent, written right before its request goes on the wire: from now on it may
   * land, and only this record makes an interrupted attempt count as evidence. `false` when the
   * lease is no longer ours (then nothing may be sent). The slot names what is sent: the
   * attempt's digest (`holder.digest`), and only the attempt's own evidence (`maybeSentAt`).
   */
  markSending(attempt: SlotAttempt, now: Date): Promise<boolean>;
  /**
   * The message landed at `sentAt`: the slot is used until `sentAt` + week + margin. A digest's
   * confirm takes `settled` (the events it carried, and any it found final) off the marker.
   */
  confirm(attempt: SlotAttempt, sentAt: Date, settled?: readonly string[]): Promise<void>;
  /** Puts a deferred event on the slot's pending-digest marker (before its deferral is written). */
  notePending(key: SlotKey, jobId: string, until: Date): Promise<void>;
  /**
   * Bitrix24 answered the attempt (it did not land): the lease is renewed for `leaseMs` from `now`
   * and an interruption from here on is no evidence, so the final outcome can be written before
   * the slot is released. The verdict is noted too: an attempt that takes the slot back later (the
   * outcome write never finished) settles from it instead of sending. `false` when the lease is
   * no longer ours.
   */
  markAnswered(
    attempt: SlotAttempt,
    now: Date,
    leaseMs: number,
    verdict: SlotVerdict,
  ): Promise<boolean>;
  /** Surely not landed: free the slot. Earlier ambiguity stays as evidence and keeps it held. */
  release(attempt: SlotAttempt, now: Date): Promise<void>;
  /** The request went out without an answer: keep the slot and note when it may have landed. */
  markAmbiguous(attempt: SlotAttempt, maybeSentAt: Date): Promise<SlotAttempt>;
  /**
   * USER_MESSAGE_LIMIT with nothing of ours in flight: the slot stays used until `until`;
   * `limitedTries` counts such answers since the user's last send.
   */
  block(attempt: SlotAttempt, until: Date, limitedTries: number): Promise<void>;
  /**
   * A flush that did not claim the slot (a send in flight, the week used) ends the sweeper's
   * queued-flush mark, so the next sweep may queue again (a digest's claim ends it too).
   */
  flushDone(key: SlotKey): Promise<void>;
  /** The sweeper marks a flush as queued; `false` when one is queued already. */
  markFlushQueued(key: SlotKey, now: Date, until: Date): Promise<boolean>;
}

/**
 * A leaky bucket shared by every deliver worker (GCRA over one store item), so the whole fleet
 * never sends faster than the portal's bucket drains. It doubles as the portal's circuit
 * breaker: after a 5xx, 503 or 429 nobody sends until the portal's backoff has passed.
 */
export interface RateLimiter {
  /**
   * Reserves one request. `sendAt` is when the caller may send (now, or later within `maxWaitMs`),
   * with the portal's count of failures in a row; `retryAfterMs` when the bucket is booked (or
   * the portal held back) further ahead than that: nothing was reserved.
   */
  reserve(
    now: Date,
    maxWaitMs: number,
    /** Bucket intervals this request books (at least 1): more for a batch's operating time. */
    cost?: number,
  ): Promise<{ sendAt: Date; failures: number } | { retryAfterMs: number }>;
  /** Holds the whole portal back for `ms` after a failed call and counts the failure. */
  penalize(now: Date, ms: number): Promise<void>;
  /** A call succeeded after failures: the portal's failure count starts again. */
  recovered(): Promise<void>;
  /** Epoch ms until which this process knows the portal is held back (a hint, no I/O). */
  heldBackUntil(): number;
}

/** A deferred event as its digest reads it: the rendered message and facts about the event. */
export interface PendingEvent {
  jobId: string;
  sourceId: string;
  eventId: string;
  eventName: string;
  receivedAt: string;
  message: RenderedMessage;
  /** When its digest became due: retryable failures of its flushes count from here. */
  dueAt?: Date;
  /** It reached the user already as a system notification (outcome `notified`). */
  notifiedAt?: Date;
  notifyTag?: string;
}

/**
 * Outcomes, one item per (event, route), written once per state: `deferred` (the event waits in
 * its user's digest) may become final; a final outcome is never replaced, except an exhausted
 * `failed` by a redrive. The same item carries the in-flight marker of unguarded sends.
 */
export interface OutcomeStore {
  /** Writes a final outcome; returns the one that stands (an earlier final one wins). */
  finish(record: OutcomeRecord): Promise<OutcomeRecord>;
  /** The event joins its user's digest, due at `dueAt`. Returns the standing record. */
  defer(
    job: EventJob,
    key: SlotKey,
    dueAt: Date,
    reason: string,
    now: Date,
  ): Promise<OutcomeRecord>;
  /**
   * A deferred event reached its user as a system notification: its outcome becomes `notified`
   * and it stays in the digest (index keys, message and due time kept). Returns the standing
   * record: a final one (its digest went out meanwhile) wins, and so does an earlier `notified`.
   */
  notified(
    jobId: string,
    tag: string,
    at: Date,
    reason: string,
  ): Promise<OutcomeRecord | undefined>;
  /** Moves deferred (and notified) events to a later (or earlier) due time. */
  reschedule(jobIds: readonly string[], dueAt: Date, reason: string): Promise<void>;
  /** A user's deferred (and notified) events, oldest first, each read consistently. */
  pending(key: SlotKey): Promise<PendingEvent[]>;
  /** These events, read consistently by id, the deferred (and notified) ones only, oldest first. */
  pendingByIds(jobIds: readonly string[]): Promise<PendingEvent[]>;
  /** Users whose digest is due, with how many of their events are due. */
  due(now: Date, limit: number): Promise<{ key: SlotKey; events: number }[]>;
  get(jobId: string): Promise<OutcomeRecord | undefined>;
  /** The outcomes of these jobs that exist, read consistently in one request per 100. */
  getMany(jobIds: readonly string[]): Promise<Map<string, OutcomeRecord>>;
  /**
   * The operator's explicit choice (`hookline replay --resend-unknown`): these jobs' `unknown`
   * outcomes may be replaced by a redrive, which sends them again. Returns the jobs marked.
   */
  allowResend(jobIds: readonly string[]): Promise<string[]>;
  /**
   * Marks an unguarded send (no weekly limit) in flight under this attempt's token. `busy`:
   * another attempt's marker is live; `interrupted`: one ran out unfinished (fate unknown);
   * `done`: a final outcome exists.
   */
  begin(
    job: EventJob,
    token: string,
    now: Date,
    leaseMs: number,
  ): Promise<"started" | "busy" | "interrupted" | "done">;
  /** The in-flight marker of an unguarded send, if one is on the item: until when it is live. */
  marker(jobId: string): Promise<{ until: Date } | undefined>;
  /** Clears this attempt's marker after a send that surely did not land. */
  abandon(jobId: string, token: string): Promise<void>;
}

/** Where a message goes when its retry window is over, after its outcome was recorded. */
export interface DeadLetters {
  send(body: string, reason: string): Promise<void>;
}

/** How a Bitrix24 call ended, already classified by the client (see docs/bitrix24.md). */
export type SendResult =
  | { kind: "sent" }
  /** USER_MESSAGE_LIMIT: the user had a message from this open line within Bitrix24's week. */
  | { kind: "limited"; code: string }
  /** CODE_ERROR, NOT_FOUND, auth errors: a person must fix the configuration. */
  | { kind: "config"; code: string; status: number }
  /** Rejected for good (validation, WRONG_REQUEST). */
  | { kind: "permanent"; code: string; status: number }
  /** Did not land (5xx, 503, 429, network error before sending): may retry after `retryAfterMs`. */
  | {
      kind: "retry";
      code: string;
      status?: number;
      retryAfterMs: number;
      overloaded: boolean;
      /**
       * A person must act (OAuth tokens refused), but the message stays queued: alarm, retry.
       */
      configFault?: boolean;
    }
  /** The request went out but no answer came back: it may or may not have landed. */
  | { kind: "ambiguous"; code: string };

/**
 * Bitrix24's operating window for a method as an answer's `time` block reported it: seconds of
 * execution spent in the window, and when its oldest basket drops out (docs/bitrix24.md).
 */
export interface OperatingReport {
  operatingSeconds: number;
  /** Epoch ms. */
  resetAtMs: number;
  /** Epoch ms when the answer came. */
  at: number;
  /** What one command took to run, as the answer shows it (ms). */
  commandMs?: number;
}

/** A system notification as `im.notify.system.add` takes it (docs/notify.md). */
export interface SystemNotification {
  userId: number;
  message: string;
  attach?: unknown;
  tag: string;
}

export interface BitrixClient {
  /**
   * Gets what a call needs before it may go on the wire (an OAuth access token, which may mean
   * waiting for another worker's refresh), so that wait comes before the latest-safe-start check.
   */
  prepare?(): Promise<void>;
  /**
   * Calls imopenlines.network.message.add once (an OAuth client: once more after a 401 and a
   * refresh). Never throws for an HTTP or network failure. `mayStart` is asked right before each
   * request goes out; `false` answers a clean retry (`ABORTED`) without sending.
   */
  sendNetworkMessage(
    openLineCode: string,
    message: RenderedMessage,
    signal?: AbortSignal,
    mayStart?: () => boolean,
  ): Promise<SendResult>;
  /**
   * Sends these messages (1 to 50, for distinct users) in one `batch` request, which takes one
   * token of the portal's bucket. One result per message, in order: a command's own answer, or,
   * when the request as a whole got none (a timeout, a 5xx without Bitrix24's envelope), that
   * answer for every message, so an unanswered batch is ambiguous for each. Never throws for an
   * HTTP or network failure; `mayStart` as for {@link sendNetworkMessage}.
   */
  sendBatch?(
    openLineCode: string,
    messages: readonly RenderedMessage[],
    signal?: AbortSignal,
    mayStart?: () => boolean,
  ): Promise<SendResult[]>;
  /** What the latest answer said of the method's operating window (a hint, no I/O). */
  operating?(): OperatingReport | undefined;
  /**
   * Calls im.notify.system.add once (scope `im`), like {@link sendNetworkMessage}: never throws
   * for an HTTP or network failure. No idempotency key exists; the TAG makes a repeat replace
   * the earlier notification instead of adding one, so a retry after no answer is safe.
   */
  sendSystemNotification(
    notification: SystemNotification,
    signal?: AbortSignal,
    mayStart?: () => boolean,
  ): Promise<SendResult>;
}

/** One portal's OAuth tokens as stored: the rotated refresh token and the access token together. */
export interface StoredTokens {
  accessToken: string;
  /** Epoch ms when the access token runs out. */
  accessExpiresAt: number;
  refreshToken: string;
  /** Grows by one with every refresh: what a worker waits to see change. */
  version: number;
  /** Epoch ms of the last successful refresh (or of the seed). */
  refreshedAt: number;
  /** A refresh in progress: its holder and until when it may hold it. */
  refreshing?: { holder: string; until: number };
  /** Why the last refresh failed, while it keeps failing (e.g. `invalid_grant`). */
  lastError?: string;
  /** Epoch ms since refreshing has been failing. */
  failingSince?: number;
}

/**
 * OAuth tokens per portal, one item each. A refresh is taken by one worker at a time with a
 * conditional write on the version; the new access token and the rotated refresh token are
 * stored in one write conditioned on that version (the fence), never on the lease.
 */
export interface TokenStore {
  read(portal: string): Promise<StoredTokens | undefined>;
  /** Writes the first refresh token (from the config's secret) unless tokens exist already. */
  seed(portal: string, refreshToken: string, now: Date): Promise<void>;
  /** Takes the right to refresh `version`; `false` when another worker holds it or it moved on. */
  takeRefresh(
    portal: string,
    version: number,
    holder: string,
    now: Date,
    leaseMs: number,
  ): Promise<boolean>;
  /**
   * Stores both new tokens, bumps the version, ends the refresh, if the version is still
   * `version` (the one whose refresh token was spent), whoever holds the lease now: the fence.
   * `false` when it moved on.
   */
  commitRefresh(
    portal: string,
    version: number,
    tokens: { accessToken: string; refreshToken: string; accessExpiresAt: number },
    now: Date,
  ): Promise<boolean>;
  /** Ends a failed refresh, noting why, so the next worker may try again (or alarm). */
  failRefresh(portal: string, holder: string, error: string, now: Date): Promise<void>;
  /** Replaces the tokens outright: the operator's recovery (`hookline oauth`). */
  replace(
    portal: string,
    tokens: { accessToken?: string; refreshToken: string; accessExpiresAt?: number },
    now: Date,
  ): Promise<void>;
}
