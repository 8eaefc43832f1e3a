import { randomUUID } from "node:crypto";
import type { SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import type { RetryScheduler } from "../adapters/sqs-queue";
import type { DeliveryJob } from "../core/job";
import type { JobQueue } from "../core/ports";

interface QueuedMessage {
  messageId: string;
  body: string;
  receiveCount: number;
  visibleAt: number;
  receiptHandle?: string;
}

export interface MemoryQueueOptions {
  /** Receives before a message moves to the dead-letter list, as SQS's redrive policy. */
  maxReceives: number;
  /** How long a handed-out message stays invisible unless the consumer says otherwise. */
  visibilityTimeoutMs: number;
  batchSize: number;
  /** Batches processed at once, like the Lambda event source's maximum concurrency. */
  concurrency: number;
  pollIntervalMs?: number;
}

export type BatchHandler = (event: SQSEvent) => Promise<SQSBatchResponse | undefined>;

/**
 * An in-process stand-in for SQS with the same rules the deliver Lambda relies on: visibility
 * timeout, retries through partial batch failures, a delay set per message, and a dead-letter
 * list after `maxReceives` receives. Not durable: a local run's queue dies with the process.
 */
export class MemoryQueue implements JobQueue, RetryScheduler {
  readonly deadLetters: QueuedMessage[] = [];
  private readonly messages: QueuedMessage[] = [];
  private inFlightBatches = 0;
  private timer: NodeJS.Timeout | undefined;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly options: MemoryQueueOptions) {}

  async enqueue(jobs: readonly DeliveryJob[]): Promise<void> {
    const now = Date.now();
    for (const job of jobs) {
      this.messages.push({
        messageId: randomUUID(),
        body: JSON.stringify(job),
        receiveCount: 0,
        visibleAt: now,
      });
    }
    this.kick();
  }

  async retryLater(receiptHandle: string, delayMs: number): Promise<void> {
    const message = this.messages.find((candidate) => candidate.receiptHandle === receiptHandle);
    if (message) message.visibleAt = Date.now() + delayMs;
  }

  /** Starts feeding batches to the handler until `stop()`. */
  start(handler: BatchHandler): void {
    this.handler = handler;
    this.kick();
  }

  stop(): void {
    this.handler = undefined;
    clearTimeout(this.timer);
  }

  /** Resolves when every message was deleted or dead-lettered (tests and demos). */
  idle(): Promise<void> {
    if (this.messages.length === 0 && this.inFlightBatches === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private handler: BatchHandler | undefined;

  private kick(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.poll(), 0);
  }

  private poll(): void {
    const handler = this.handler;
    if (!handler) return;
    while (this.inFlightBatches < this.options.concurrency) {
      const batch = this.receive();
      if (batch.length === 0) break;
      this.inFlightBatches += 1;
      void this.run(handler, batch).finally(() => {
        this.inFlightBatches -= 1;
        this.settle();
        this.kick();
      });
    }
    this.settle();
    if (this.messages.length > 0) {
      const nextVisible = Math.min(...this.messages.map((message) => message.visibleAt));
      const wait = Math.max(nextVisible - Date.now(), this.options.pollIntervalMs ?? 20);
      this.timer = setTimeout(() => this.poll(), Math.min(wait, 1000));
    }
  }

  /** Hands out visible messages; one received more than `maxReceives` times goes to dead letters. */
  private receive(): QueuedMessage[] {
    const now = Date.now();
    const batch: QueuedMessage[] = [];
    for (const message of [...this.messages]) {
      if (batch.length >= this.options.batchSize) break;
      if (message.visibleAt > now) continue;
      if (message.receiveCount >= this.options.maxReceives) {
        this.remove(message);
        this.deadLetters.push(message);
        continue;
      }
      message.receiveCount += 1;
      message.receiptHandle = randomUUID();
      message.visibleAt = now + this.options.visibilityTimeoutMs;
      batch.push(message);
    }
    return batch;
  }

  private async run(handler: BatchHandler, batch: QueuedMessage[]): Promise<void> {
    let failed: Set<string>;
    try {
      const response = await handler({ Records: batch.map(toRecord) });
      failed = new Set(response?.batchItemFailures.map((failure) => failure.itemIdentifier) ?? []);
    } catch {
      // A thrown handler fails the whole batch, as on Lambda.
      failed = new Set(batch.map((message) => message.messageId));
    }
    for (const message of batch) {
      if (!failed.has(message.messageId)) this.remove(message);
    }
  }

  private remove(message: QueuedMessage): void {
    const index = this.messages.indexOf(message);
    if (index >= 0) this.messages.splice(index, 1);
  }

  private settle(): void {
    if (this.messages.length > 0 || this.inFlightBatches > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

function toRecord(message: QueuedMessage): SQSRecord {
  return {
    messageId: message.messageId,
    receiptHandle: message.receiptHandle ?? "",
    body: message.body,
    attributes: {
      ApproximateReceiveCount: String(message.receiveCount),
      SentTimestamp: "0",
      SenderId: "local",
      ApproximateFirstReceiveTimestamp: "0",
    },
    messageAttributes: {},
    md5OfBody: "",
    eventSource: "aws:sqs",
    eventSourceARN: "arn:aws:sqs:local:000000000000:hookline-local",
    awsRegion: "local",
  };
}
