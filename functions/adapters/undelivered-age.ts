import type { Context, SQSBatchResponse, SQSEvent } from "aws-lambda";
import { Metric, type Metrics } from "../core/metrics";

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
    const sentAt = event.Records.filter((record) => failed.has(record.messageId))
      .map((record) => Number(record.attributes.SentTimestamp))
      .filter(Number.isFinite);
    if (sentAt.length > 0) {
      metrics.milliseconds(Metric.OldestUndelivered, Math.max(0, now() - Math.min(...sentAt)));
    }
    return response;
  };
  return wrapped as H;
}
