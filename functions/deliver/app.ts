import middy, { type MiddlewareObj } from "@middy/core";
import type { SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { carrierOf, noTracing, type SpanNotes, type Tracing } from "../adapters/tracing";
import type { Deliver, DeliveryResult } from "../core/deliver";
import { queueMessageReader } from "../core/job";
import type { Log } from "../core/log";
import { onceUntilFailure } from "../core/once";
import type { DeadLetters, RetryScheduler } from "../core/ports";
import { parseJsonOrUndefined } from "../core/values";

/** What the deliver handler runs: the use case, and where retries and dead letters go. */
export interface DeliverHandlerDeps {
  deliver: Deliver;
  retries: RetryScheduler;
  deadLetters: DeadLetters;
  /** A span per message, continuing the trace its ingest started (docs/tracing.md). */
  tracing?: Tracing;
}

/** The same shape for all three handlers: a log, the Lambda's log context, and `deps`. */
export interface DeliverHandlerOptions {
  log: Log;
  /** Built once per cold start, on the first batch (config, clients); again after a failure. */
  deps: () => Promise<DeliverHandlerDeps>;
  /** Outermost middleware: the Lambda context on every log line (`lambdaLogContext` on AWS). */
  logContext?: MiddlewareObj;
}

/** Time kept back from the Lambda's remaining time, to settle the slot and answer the batch. */
export const DEADLINE_MARGIN_MS = 3000;

/**
 * The deliver Lambda for SQS (partial batch failures). Each record is one queue message: an
 * event or a digest flush. A record to retry is put back with its backoff and reported failed,
 * so SQS hands it out again; one whose retry window is over has its outcome recorded and is
 * moved to the dead-letter queue here, not by SQS's receive count.
 */
export function createDeliverHandler({ log, deps, logContext }: DeliverHandlerOptions) {
  const ready = onceUntilFailure(deps);
  const chain = middy<SQSEvent, SQSBatchResponse>().use(logContext ? [logContext] : []);
  return chain.handler(async (event, context) => {
    const { deliver, retries, deadLetters, tracing = noTracing } = await ready();
    const deadline = Date.now() + context.getRemainingTimeInMillis() - DEADLINE_MARGIN_MS;

    const settled = await Promise.all(
      event.Records.map((record) =>
        tracing.span("deliver", consumerSpan(record), (span) => settle(record, span)),
      ),
    );
    return {
      batchItemFailures: settled
        .filter((id): id is string => id !== undefined)
        .map((itemIdentifier) => ({ itemIdentifier })),
    };

    /** Delivers one record and settles it with the queue; its id when SQS should retry it. */
    async function settle(record: SQSRecord, span: SpanNotes): Promise<string | undefined> {
      try {
        const result = await deliverRecord(record);
        span.set({ "hookline.delivery": result.status });
        if (result.status === "done") return undefined;
        if (result.status === "dead-letter") {
          await deadLetters.send(record.body, result.reason);
          log.error("moved to the dead-letter queue", {
            messageId: record.messageId,
            reason: result.reason,
          });
          return undefined;
        }
        await retries.retryLater(record.receiptHandle, result.delayMs).catch((error: unknown) => {
          // The queue's own visibility timeout still brings it back; only the backoff is lost.
          log.warn("could not set retry delay", {
            messageId: record.messageId,
            error: String(error),
          });
        });
      } catch (error) {
        log.error("delivery failed unexpectedly; the queue will retry", {
          messageId: record.messageId,
          errorName: (error as Error)?.name,
          errorMessage: (error as Error)?.message,
        });
        span.fail((error as Error)?.name ?? "error");
      }
      return record.messageId;
    }

    async function deliverRecord(record: SQSRecord): Promise<DeliveryResult> {
      const parsed = queueMessageReader.safeParse(parseJsonOrUndefined(record.body));
      if (!parsed.success) {
        // Not ours to fix by retrying: straight to the dead-letter queue and its alarm.
        return { status: "dead-letter", reason: "malformed queue message" };
      }
      return deliver({
        message: parsed.data,
        receiveCount: Number(record.attributes.ApproximateReceiveCount) || 1,
        queuedAt: Number(record.attributes.SentTimestamp) || Date.now(),
        deadline,
      });
    }
  });
}

/** Deliver's span for a record: a child of the context its message carries (a new trace without). */
const consumerSpan = (record: SQSRecord) => ({
  kind: "consumer" as const,
  parent: carrierOf(record.messageAttributes),
  attributes: {
    "messaging.system": "aws_sqs",
    "messaging.operation.type": "process",
    "messaging.message.id": record.messageId,
    "hookline.receive_count": Number(record.attributes.ApproximateReceiveCount) || 1,
  },
});
