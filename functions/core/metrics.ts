/**
 * Metric names and dimensions, shared by the code that emits them (embedded metric format) and
 * the CDK alarms and dashboard that read them. Powertools adds the `service` dimension to each.
 */
export const METRICS_NAMESPACE = "Hookline";
export const METRICS_SERVICE = "hookline";

export const Metric = {
  /** Count; dimension Source, and in total. Missing, wrong or stale signatures. */
  SignatureFailures: "SignatureFailures",
  /** Count; dimension Outcome (sent, deferred, suppressed, failed, unknown). */
  Messages: "Messages",
  /** Count; dimension Code (the Bitrix24 error code). */
  BitrixErrors: "BitrixErrors",
  /** Count; no dimension beyond service. CODE_ERROR, NOT_FOUND, auth errors: a person must act. */
  BitrixConfigFaults: "BitrixConfigFaults",
  /** Count; dimension Portal, and in total. A keep-alive refresh of an OAuth portal's tokens failed. */
  OAuthRefreshFailures: "OAuthRefreshFailures",
  /** Count; no dimension. Deferred events whose digest is due, seen by one sweep. */
  DigestBacklog: "DigestBacklog",
  /** Milliseconds from webhook receipt to the Bitrix24 answer of a sent message. */
  DeliveryLatency: "DeliveryLatency",
  /**
   * Milliseconds; no dimension. The age (since it was queued) of the oldest message a deliver
   * invocation hands back to the queue undelivered (a retry, or an error); emitted only then.
   * Unlike SQS's ApproximateAgeOfOldestMessage it counts messages received three times or more.
   */
  OldestUndelivered: "OldestUndelivered",
} as const;
export type MetricName = (typeof Metric)[keyof typeof Metric];

/** The seam the core counts through: Powertools metrics on Lambda, a recorder in tests. */
export interface Metrics {
  count(name: MetricName, dimensions?: Record<string, string>, value?: number): void;
  milliseconds(name: MetricName, value: number, dimensions?: Record<string, string>): void;
}

export const noMetrics: Metrics = { count() {}, milliseconds() {} };

/** `Messages` outcomes counted for messages in normal operation, read by no alarm. */
const DASHBOARD_ONLY_OUTCOMES: readonly string[] = ["sent", "deferred", "notified"];

/**
 * A point only the dashboard reads, counted for messages in normal operation: `Messages` sent,
 * deferred and notified, and `DeliveryLatency`. Each is a metric series with data every hour
 * ($0.30 a month, and as much again for each portal counted on its own), so a stack without the
 * dashboard does not write them (docs/alarms.md, "What the alarms and metrics cost"). No alarm
 * reads one (test/infra/monitoring.test.ts checks the synthesized alarms against this).
 */
export function isDashboardOnly(name: string, dimensions: Record<string, string> = {}): boolean {
  if (name === Metric.DeliveryLatency) return true;
  return name === Metric.Messages && DASHBOARD_ONLY_OUTCOMES.includes(dimensions.Outcome ?? "");
}

/**
 * The dimension of per-portal figures. A point counted with it is also counted without it (the
 * EMF adapter writes both dimension sets), so totals and their alarms see every portal.
 */
export const PORTAL_DIMENSION = "Portal";

/** The dimension of per-source figures; like `Portal`, a point with it is counted in total too. */
export const SOURCE_DIMENSION = "Source";

/**
 * Dimensions a point is also counted without: one alarm reads the total of all portals or all
 * sources ($0.10 a month per metric it reads), the dashboard the figures of each.
 */
export const TOTALLED_DIMENSIONS: readonly string[] = [PORTAL_DIMENSION, SOURCE_DIMENSION];

/** The metrics counted per portal as well (docs/alarms.md, "Per-portal health"). */
export const PER_PORTAL_METRICS: readonly MetricName[] = [
  Metric.Messages,
  Metric.BitrixErrors,
  Metric.OldestUndelivered,
];

/**
 * `metrics` with the portal's id on its per-portal metrics, for a config of more than one portal
 * (with one, the totals are the portal's figures and cost no more series).
 *
 * @example deps.metrics = portalMetrics(wiring.metrics, portal.id, config.portals.length);
 */
export function portalMetrics(metrics: Metrics, portal: string, portals: number): Metrics {
  if (portals < 2) return metrics;
  const tagged = (name: MetricName, dimensions?: Record<string, string>) =>
    PER_PORTAL_METRICS.includes(name) ? { ...dimensions, [PORTAL_DIMENSION]: portal } : dimensions;
  return {
    count: (name, dimensions, value) => metrics.count(name, tagged(name, dimensions), value),
    milliseconds: (name, value, dimensions) =>
      metrics.milliseconds(name, value, tagged(name, dimensions)),
  };
}
