import {
  ChangeMessageVisibilityCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import type { QueueMessage } from "../core/job";
import type { DeadLetters, JobQueue, RetryScheduler } from "../core/ports";

const SQS_BATCH_SIZE = 10;
/** SQS refuses a batch whose bodies add up to more than 256 KiB, though each one fits. */
const SQS_BATCH_BYTES = 256 * 1024;
/** SQS caps a message's visibility timeout at 12 hours. */
const MAX_VISIBILITY_SECONDS = 12 * 60 * 60;

/** The delivery queue on SQS: batched sends that fail loudly if any entry failed. */
export function makeSqsQueue(client: SQSClient, queueUrl: string): JobQueue & RetryScheduler {
  return {
    async enqueue(jobs: readonly QueueMessage[]) {
      for (const batch of batches(jobs.map((job) => JSON.stringify(job)))) {
        const answer = await client.send(
          new SendMessageBatchCommand({
            QueueUrl: queueUrl,
            Entries: batch.map((body, index) => ({ Id: String(index), MessageBody: body })),
          }),
        );
        if (answer.Failed && answer.Failed.length > 0) {
          const codes = answer.Failed.map((entry) => entry.Code).join(", ");
          throw new Error(
            `SQS refused ${answer.Failed.length} of ${batch.length} messages (${codes})`,
          );
        }
      }
    },
    async retryLater(receiptHandle, delayMs) {
      await client.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: queueUrl,
          ReceiptHandle: receiptHandle,
          VisibilityTimeout: Math.min(MAX_VISIBILITY_SECONDS, Math.ceil(delayMs / 1000)),
        }),
      );
    },
  };
}

/**
 * The dead-letter queue as deliver uses it: a message whose retry window is over goes there
 * after its outcome was recorded, with the reason as a message attribute.
 */
export function makeSqsDeadLetters(client: SQSClient, queueUrl: string): DeadLetters {
  return {
    async send(body, reason) {
      await client.send(
        new SendMessageCommand({
          QueueUrl: queueUrl,
          MessageBody: body,
          MessageAttributes: {
            reason: { DataType: "String", StringValue: reason.slice(0, 1000) || "unknown" },
          },
        }),
      );
    },
  };
}

/** Splits bodies into batches SQS takes: at most 10 entries and 256 KiB of bodies each. */
export function batches(bodies: readonly string[]): string[][] {
  const result: string[][] = [];
  let current: string[] = [];
  let bytes = 0;
  for (const body of bodies) {
    const size = Buffer.byteLength(body, "utf8");
    if (
      current.length > 0 &&
      (current.length >= SQS_BATCH_SIZE || bytes + size > SQS_BATCH_BYTES)
    ) {
      result.push(current);
      current = [];
      bytes = 0;
    }
    current.push(body);
    bytes += size;
  }
  if (current.length > 0) result.push(current);
  return result;
}
