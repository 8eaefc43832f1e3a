import { randomUUID } from "node:crypto";
import type { SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import type { QueueMessage } from "../core/job";
import type { DeadLetters, JobQueue, RetryScheduler } from "../core/ports";

interface QueuedMessage {
  messageId: string;
  body: string;
  receiveCount: number;
  /** Epoch ms the message was sent (or moved back from the dead letters): SQS's SentTimestamp. */
  sentAt: number;
  visibleAt: number;
  receiptHandle?: string;
  /** Why it was dead-lettered, when it was. */
  reason?: string;
}

export interface MemoryQueueOptions {
  /** Receives before SQS's redrive policy moves a message to the dead letters (a safety net). */
  maxReceives: number;
  /** How long a handed-out message stays invisible unless the consumer says otherwise. */
  visibilityTimeoutMs: number;
  /**
   * SQS's `MessageRetentionPeriod`: a message older than this is deleted, whatever its receive
   * count, with no dead letter (the local run uses the stack's 14 days). Unset: kept forever.
   */
  retentionMs?: number;
  batchSize: number;
  /** Batches processed at once, like the Lambda event source's maximum concurrency. */
  concurrency: number;
  pollIntervalMs?: number;
}

export type BatchHandler = (event: SQSEvent) => Promise<SQSBatchResponse | undefined>;

/**
 * An in-process stand-in for SQS with the same rules the deliver Lambda relies on: visibility
 * timeout, retries through partial batch failures, a delay set per message, `SentTimestamp`, a
 * dead-letter list that deliver sends to (and SQS's own after `maxReceives` receives), and a
 * redrive. Not durable: a local run's queue dies with the process.
 */
export class MemoryQueue implements JobQueue, RetryScheduler, DeadLetters {
  readonly deadLetters: QueuedMessage[] = [];
  /** Messages the retention deleted, as SQS would (nothing else records them). */
  expired = 0;
  private readonly messages: QueuedMessage[] = [];
  private inFlightBatches = 0;
  private timer: NodeJS.Timeout | undefined;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly options: MemoryQueueOptions) {}

  async enqueue(jobs: readonly QueueMessage[]): Promise<void> {
    for (const job of jobs) this.push(JSON.stringify(job));
    this.kick();
  }

  /** Deliver moves a message here after recording its outcome (the retry window is over). */
  async send(body: string, reason: string): Promise<void> {
    this.deadLetters.push({
      messageId: randomUUID(),
      body,
      receiveCount: 0,
      sentAt: Date.now(),
      visibleAt: Date.now(),
      reason,
    });
  }

  /** Moves every dead letter back to the queue as a new message, as SQS's redrive does. */
  redriveDeadLetters(): number {
    const moved = this.deadLetters.splice(0);
    for (const message of moved) this.push(message.body);
    this.kick();
    return moved.length;
  }

  private push(body: string): void {
    const now = Date.now();
    this.messages.push({
      messageId: randomUUID(),
      body,
      receiveCount: 0,
      sentAt: now,
      visibleAt: now,
    });
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
      const { retentionMs } = this.options;
      if (retentionMs !== undefined && message.sentAt + retentionMs <= now) {
        this.remove(message);
        this.expired += 1;
        continue;
      }
      if (message.receiveCount >= this.options.maxReceives) {
        this.remove(message);
        this.deadLetters.push({ ...message, reason: "received too often" });
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
      SentTimestamp: String(message.sentAt),
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
