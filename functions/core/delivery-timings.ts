import type { Config, PortalConfig } from "./config";

/**
 * Every delivery time that follows from the config, in one place: the deliver use case, the
 * local queue and the CDK stack read them here, so the queue, the function and the ledger agree.
 */
export interface DeliveryTimings {
  /** How long one attempt holds the weekly slot (`delivery.leaseSeconds`). */
  leaseMs: number;
  /** A message is retried this long after it was queued, then recorded and dead-lettered. */
  retryForMs: number;
  /** Cap of the exponential backoff between two attempts. */
  maxBackoffMs: number;
  /** The deliver function's timeout: a batch's attempts run side by side, each within its lease. */
  deliverTimeoutSeconds: number;
  /** SQS guidance for Lambda event sources: six times the function timeout. */
  visibilityTimeoutSeconds: number;
  /**
   * Receives before SQS itself dead-letters a message. Deliver gives up by time long before
   * (and records the outcome first), so this is only a net for a handler that crashes every time.
   */
  maxReceiveCount: number;
  /**
   * The longest SQS allows (14 days): far longer than the retry window, so a message on which
   * deliver throws every time meets deliver's own give-up (an outcome, then the dead letters) or
   * SQS's receive limit, never a silent deletion at the end of the retention.
   */
  queueRetentionSeconds: number;
  /** The oldest queued message is older than this: Bitrix24 is down or deliver keeps failing. */
  queueAgeAlarmSeconds: number;
  /** Dead letters are kept the longest SQS allows, for a redrive after the cause is fixed. */
  deadLetterRetentionSeconds: number;
  /** How long ambiguity evidence must survive: the retry window plus the dead-letter retention. */
  evidenceMs: number;
}

const DAY_SECONDS = 86_400;
/** SQS's own limits. */
const SQS_MAX_RETENTION_SECONDS = 14 * DAY_SECONDS;
const SQS_MAX_RECEIVE_COUNT = 1000;
/** Lambda's longest timeout. */
const LAMBDA_MAX_TIMEOUT_SECONDS = 900;
/** Cold start, slot and outcome writes around the attempts of one batch. */
const DELIVER_OVERHEAD_SECONDS = 30;

export function deliveryTimings(config: Pick<Config, "delivery">): DeliveryTimings {
  const { leaseSeconds, retryFor, maxBackoffSeconds } = config.delivery;
  const deliverTimeoutSeconds = Math.min(
    LAMBDA_MAX_TIMEOUT_SECONDS,
    Math.max(60, leaseSeconds + DELIVER_OVERHEAD_SECONDS),
  );
  const visibilityTimeoutSeconds = 6 * deliverTimeoutSeconds;
  const queueRetentionSeconds = SQS_MAX_RETENTION_SECONDS;
  return {
    leaseMs: leaseSeconds * 1000,
    retryForMs: retryFor * 1000,
    maxBackoffMs: maxBackoffSeconds * 1000,
    deliverTimeoutSeconds,
    visibilityTimeoutSeconds,
    maxReceiveCount: SQS_MAX_RECEIVE_COUNT,
    queueRetentionSeconds,
    queueAgeAlarmSeconds: Math.min(Math.floor(retryFor / 2), Math.max(3600, 4 * maxBackoffSeconds)),
    deadLetterRetentionSeconds: SQS_MAX_RETENTION_SECONDS,
    evidenceMs: (retryFor + SQS_MAX_RETENTION_SECONDS) * 1000,
  };
}

/** One portal's clock facts: Bitrix24's week there, our margin on it, its request limit. */
export interface PortalWindow {
  weekMs: number;
  weekMarginMs: number;
  /** Bitrix24 finishes or drops a request within this time (`requestLimitSeconds`). */
  requestLandsWithinMs: number;
}

export const portalWindow = (portal: PortalConfig): PortalWindow => ({
  weekMs: portal.weekSeconds * 1000,
  weekMarginMs: portal.weekMarginSeconds * 1000,
  requestLandsWithinMs: portal.requestLimitSeconds * 1000,
});
