import type { SQSClient } from "@aws-sdk/client-sqs";
import { type QueueMessage, queueMessageText } from "../core/job";
import type { DeadLetters, JobQueue, RetryScheduler } from "../core/ports";
import { noTracing, type TraceCarrier, type Tracing } from "./tracing";

const SQS_BATCH_SIZE = 10;
/** SQS refuses a batch whose bodies add up to more than 256 KiB, though each one fits. */
const SQS_BATCH_BYTES = 256 * 1024;
/** SQS caps a message's visibility timeout at 12 hours. */
const MAX_VISIBILITY_SECONDS = 12 * 60 * 60;

/**
 * The SQS client, built on first use. Deliver's first message needs no queue (only a retry or a
 * dead letter does), so its cold start never loads `@aws-sdk/client-sqs`.
 */
export type SqsClientSource = () => Promise<SQSClient>;

/** The SDK's SQS commands: a chunk of its own, loaded with the client. */
const sqsCommands = () => import("@aws-sdk/client-sqs");

/**
 * The delivery queue on SQS: batched sends that fail loudly if any entry failed. With tracing,
 * each message carries the active span's W3C trace context as message attributes
 * (`traceparent`, `tracestate`), which deliver continues (docs/tracing.md).
 */
export function makeSqsQueue(
  sqs: SqsClientSource,
  queueUrl: string,
  tracing: Tracing = noTracing,
): JobQueue & RetryScheduler {
  return {
    async enqueue(jobs: readonly QueueMessage[]) {
      const attributes = messageAttributes(tracing.carrier());
      const bodies = jobs.map(queueMessageText);
      const [client, { SendMessageBatchCommand }] = await Promise.all([sqs(), sqsCommands()]);
      for (const batch of batches(bodies, attributes.bytes)) {
        const answer = await client.send(
          new SendMessageBatchCommand({
            QueueUrl: queueUrl,
            Entries: batch.map((body, index) => ({
              Id: String(index),
              MessageBody: body,
              ...(attributes.bytes > 0 && { MessageAttributes: attributes.values }),
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
      const [client, { ChangeMessageVisibilityCommand }] = await Promise.all([
        sqs(),
        sqsCommands(),
      ]);
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
export function makeSqsDeadLetters(sqs: SqsClientSource, queueUrl: string): DeadLetters {
  return {
    async send(body, reason) {
      const [client, { SendMessageCommand }] = await Promise.all([sqs(), sqsCommands()]);
      await client.send(
        new SendMessageCommand({
          QueueUrl: queueUrl,
          MessageBody: body,
          MessageAttributes: {
            reason: {
              DataType: "String",
              StringValue: sqsText(reason.slice(0, 1000)) || "unknown",
            },
          },
        }),
      );
    },
  };
}

/** Text SQS refuses in a String attribute (see `queueMessageText`) replaced with U+FFFD. */
const sqsText = (text: string): string =>
  text.replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, "\uFFFD");

/**
 * A trace context as SQS message attributes, and the bytes they add to a message: SQS counts
 * each attribute's name, type and value in the message's size.
 */
export function messageAttributes(carrier: TraceCarrier) {
  const values: Record<string, { DataType: "String"; StringValue: string }> = {};
  let bytes = 0;
  for (const [name, value] of Object.entries(carrier)) {
    values[name] = { DataType: "String", StringValue: value };
    bytes += Buffer.byteLength(`${name}String${value}`, "utf8");
  }
  return { values, bytes };
}

/**
 * Splits bodies into batches SQS takes: at most 10 entries and 256 KiB each, counting each
 * entry's `attributeBytes` (its message attributes) with its body.
 */
export function batches(bodies: readonly string[], attributeBytes = 0): string[][] {
  const result: string[][] = [];
  let current: string[] = [];
  let bytes = 0;
  for (const body of bodies) {
    const size = Buffer.byteLength(body, "utf8") + attributeBytes;
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
