import type { Context, SQSBatchResponse, SQSEvent } from "aws-lambda";
import { Metric, type Metrics, PORTAL_DIMENSION } from "../core/metrics";

type SqsBatchHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

/**
 * Wraps deliver's SQS handler: after each invocation, the age of the oldest record it hands back
 * undelivered (a partial batch failure: a retry with backoff, or an unexpected error) is counted
 * as `OldestUndelivered`, from the record's `SentTimestamp` (SQS keeps it across receives). During
 * a Bitrix24 outage this rises with every retry, where SQS's ApproximateAgeOfOldestMessage leaves
 * out messages received three times or more (docs/alarms.md, UndeliveredAgeHigh).
 *
 * @example export const handler = withUndeliveredAge(createDeliverHandler(options), metrics);
 */
export function withUndeliveredAge<H extends SqsBatchHandler>(
  handler: H,
  metrics: Metrics,
  now: () => number = Date.now,
): H {
  const wrapped: SqsBatchHandler = async (event, context) => {
    const response = await handler(event, context);
    const failed = new Set(response.batchItemFailures.map((failure) => failure.itemIdentifier));
    // The oldest per portal (the EMF adapter also counts it in the total); "" for a message
    // without one (a legacy job, or a body that is not a job).
    const oldest = new Map<string, number>();
    for (const record of event.Records) {
      const sentAt = Number(record.attributes.SentTimestamp);
      if (!failed.has(record.messageId) || !Number.isFinite(sentAt)) continue;
      const portal = portalOf(record.body);
      oldest.set(portal, Math.min(oldest.get(portal) ?? sentAt, sentAt));
    }
    for (const [portal, sentAt] of oldest) {
      metrics.milliseconds(
        Metric.OldestUndelivered,
        Math.max(0, now() - sentAt),
        portal ? { [PORTAL_DIMENSION]: portal } : undefined,
      );
    }
    return response;
  };
  return wrapped as H;
}

/** The portal a queue message names (jobs of version 3), without validating the rest. */
function portalOf(body: string): string {
  try {
    const portal = (JSON.parse(body) as { portal?: unknown }).portal;
    return typeof portal === "string" ? portal : "";
  } catch {
    return "";
  }
}
