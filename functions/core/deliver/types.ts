import type { Clock } from "../clock";
import type { DeliveryTimings, PortalWindow } from "../delivery-timings";
import type { DigestComposer } from "../digest";
import type { EventJob, QueueMessage } from "../job";
import type { Log } from "../log";
import type { Metrics } from "../metrics";
import type { OperatingBudget } from "../pacing";
import type { BitrixClient, OutcomeStore, PendingEvent, RateLimiter, SlotStore } from "../ports";

export interface DeliverDeps {
  /** The portal's settings; `openLineCode` is its default line (for jobs that name none). */
  bitrix: { openLineCode: string; weeklyLimit: boolean; timeoutMs: number };
  /** Identifies the Bitrix24 portal in slot keys and its rate limiter (its config id). */
  portal: string;
  timings: Pick<DeliveryTimings, "leaseMs" | "retryForMs" | "maxBackoffMs"> & PortalWindow;
  slots: SlotStore;
  limiter: RateLimiter;
  client: BitrixClient;
  outcomes: OutcomeStore;
  composeDigest: DigestComposer;
  clock: Clock;
  log: Log;
  metrics: Metrics;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  /**
   * Batch delivery (docs/ledger.md, "Batch delivery"): up to `maxMessages` event messages for
   * distinct users in one `batch` request while the portal has a backlog, gathered at most
   * `gatherMs`, each request booked in the bucket by its operating time. Absent, or
   * `maxMessages: 1`: one message per request.
   */
  batching?: {
    maxMessages: number;
    gatherMs: number;
    perSecond: number;
    budget: OperatingBudget;
  };
}

export interface DeliveryAttempt {
  message: QueueMessage;
  /** How many times the queue has handed out this message, this time included. */
  receiveCount: number;
  /** Epoch ms when the queue got the message: its retry window starts there. */
  queuedAt: number;
  /** Epoch ms by which this attempt must be finished (the Lambda's remaining time, less a margin). */
  deadline: number;
}

export type DeliveryResult =
  | { status: "done" }
  /** Put the message back on the queue for `delayMs`. */
  | { status: "retry"; delayMs: number; reason: string }
  /** The retry window is over and the outcome is recorded: move it to the dead-letter queue. */
  | { status: "dead-letter"; reason: string };

export type Deliver = (attempt: DeliveryAttempt) => Promise<DeliveryResult>;

/** Whose outcome a send settles: one event alone, or the events of a digest. */
export interface Targets {
  events: readonly PendingEvent[];
  digestId?: string;
  /** The event job whose queue message this is, when it is sent alone. */
  alone?: EventJob;
  /** Events on the slot's pending-digest marker that were final already (a digest's confirm). */
  stale?: readonly string[];
}

export const done: DeliveryResult = { status: "done" };
