import middy from "@middy/core";
import type { SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import type { RetryScheduler } from "../adapters/sqs-queue";
import type { DeliveryResult, makeDeliver } from "../core/deliver";
import { deliveryJobSchema } from "../core/job";
import type { Log } from "../core/log";

export interface DeliverRuntime {
  deliver: ReturnType<typeof makeDeliver>;
  retries: RetryScheduler;
}

export interface DeliverHandlerOptions {
  log: Log;
  /** Built once per cold start (config, Bitrix24 secret, clients). */
  runtime: () => Promise<DeliverRuntime>;
}

/** Time kept back from the Lambda's remaining time, to settle the slot and answer the batch. */
const DEADLINE_MARGIN_MS = 3000;

/**
 * The deliver Lambda for SQS (partial batch failures). Each record is one message; a record
 * that must be retried is put back with a backoff and reported as failed, so SQS redelivers it
 * and, after `maxReceives`, moves it to the dead-letter queue.
 */
export function createDeliverHandler({ log, runtime }: DeliverHandlerOptions) {
  return middy<SQSEvent, SQSBatchResponse>().handler(async (event, context) => {
    const { deliver, retries } = await runtime();
    const deadline = Date.now() + context.getRemainingTimeInMillis() - DEADLINE_MARGIN_MS;

    const settled = await Promise.all(
      event.Records.map(async (record): Promise<string | undefined> => {
        try {
          const result = await deliverRecord(record);
          if (result.status === "done") return undefined;
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
        }
        return record.messageId;
      }),
    );
    return {
      batchItemFailures: settled
        .filter((id): id is string => id !== undefined)
        .map((itemIdentifier) => ({ itemIdentifier })),
    };

    async function deliverRecord(record: SQSRecord): Promise<DeliveryResult> {
      const parsed = deliveryJobSchema.safeParse(safeJson(record.body));
      if (!parsed.success) {
        // Not ours to fix by retrying; it ends in the dead-letter queue and its alarm.
        log.error("malformed queue message", { messageId: record.messageId });
        return { status: "retry", delayMs: 60_000, reason: "malformed queue message" };
      }
      return deliver({
        job: parsed.data,
        receiveCount: Number(record.attributes.ApproximateReceiveCount) || 1,
        deadline,
      });
    }
  });
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
