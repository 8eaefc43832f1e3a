import {
  ChangeMessageVisibilityCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import type { QueueMessage } from "../core/job";
import type { DeadLetters, JobQueue, RetryScheduler } from "../core/ports";

const SQS_BATCH_SIZE = 10;
/** SQS caps a message's visibility timeout at 12 hours. */
const MAX_VISIBILITY_SECONDS = 12 * 60 * 60;

/** The delivery queue on SQS: batched sends that fail loudly if any entry failed. */
export function makeSqsQueue(client: SQSClient, queueUrl: string): JobQueue & RetryScheduler {
  return {
    async enqueue(jobs: readonly QueueMessage[]) {
      for (let start = 0; start < jobs.length; start += SQS_BATCH_SIZE) {
        const batch = jobs.slice(start, start + SQS_BATCH_SIZE);
        const answer = await client.send(
          new SendMessageBatchCommand({
            QueueUrl: queueUrl,
            Entries: batch.map((job, index) => ({
              Id: String(index),
              MessageBody: JSON.stringify(job),
            })),
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
