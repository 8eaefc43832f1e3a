import { randomUUID } from "node:crypto";
import type { SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import type { TraceCarrier } from "../adapters/tracing";
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
  /** The trace context it carries as message attributes, as SQS would (docs/tracing.md). */
  traceContext?: TraceCarrier;
  /** Grows each time `visibleAt` changes: older timetable entries for it are stale. */
  version: number;
  /** Deleted (done) or dead-lettered: entries still pointing at it are skipped. */
  gone?: boolean;
}

/** A message's place in the timetable: when it becomes visible, as of which version. */
interface TimetableEntry {
  at: number;
  version: number;
  message: QueuedMessage;
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
  /**
   * Messages it holds at most (waiting, delayed and in flight); `enqueue` beyond is refused with
   * {@link QueueFullError}, which ingest answers 503 so the sender retries. Default 100,000.
   */
  maxMessages?: number;
  /**
   * The trace context to carry with the messages enqueued now (`Tracing.carrier`): handed to the
   * consumer in each record's message attributes, as the SQS adapter does.
   */
  traceContext?: () => TraceCarrier;
  /**
   * Deliver's lower priority: while this answers true (the local run is taking webhooks in), at
   * most one batch of one message runs at a time, and a new one starts at most every
   * {@link yieldingBatchEveryMs} (the first one that long after the yielding began), so accepting
   * webhooks comes first and delivering catches up after the burst; the messages wait in the
   * queue meanwhile, visible, their visibility timeouts not running.
   */
  yieldWhile?: () => boolean;
  /**
   * How often a batch may start while yielding (default 5 s): deliver never stops entirely, and
   * costs a burst little (one batch a second took about 15 % of the local run's CPU, measured).
   */
  yieldingBatchEveryMs?: number;
}

/** The queue holds its `maxMessages`: nothing of the refused call was queued. */
export class QueueFullError extends Error {
  constructor(held: number) {
    super(`the local queue holds ${held} messages, its limit: try again when deliver caught up`);
    this.name = "QueueFullError";
  }
}

export type BatchHandler = (event: SQSEvent) => Promise<SQSBatchResponse | undefined>;

const DEFAULT_MAX_MESSAGES = 100_000;
/**
 * How long a newly queued message waits before deliver looks: long enough for the first webhooks
 * of a burst (from 200 a second) to be recognised as one, so deliver does not start a full batch
 * just as the burst begins; a single webhook is delivered as good as at once.
 */
const NEW_MESSAGE_WAIT_MS = 50;

/**
 * An in-process stand-in for SQS with the same rules the deliver Lambda relies on: visibility
 * timeout, retries through partial batch failures, a delay set per message, `SentTimestamp`, a
 * dead-letter list that deliver sends to (and SQS's own after `maxReceives` receives), and a
 * redrive. Not durable: a local run's queue dies with the process.
 *
 * Sized for a large backlog: visible messages wait in a FIFO (a new one as its body alone),
 * invisible ones in a timetable (a binary heap by the time they become visible), in-flight ones by
 * receipt handle; each operation costs O(log n) at most, and it holds at most `maxMessages`.
 */
export class MemoryQueue implements JobQueue, RetryScheduler, DeadLetters {
  readonly deadLetters: QueuedMessage[] = [];
  private readonly ready = new ReadyLine();
  private readonly timetable = new MinHeap<TimetableEntry>((a, b) => a.at - b.at);
  private readonly inFlight = new Map<string, QueuedMessage>();
  /** Messages held: ready, delayed or in flight. */
  private held = 0;
  /** Messages the retention deleted, as SQS would (nothing else records them). */
  expired = 0;
  private inFlightBatches = 0;
  private timer: NodeJS.Timeout | undefined;
  private idleWaiters: (() => void)[] = [];
  private readonly maxMessages: number;
  /** When the last batch started while yielding, or the yielding began (epoch ms). */
  private lastYieldingBatch = 0;
  /** Whether the last poll yielded. */
  private wasYielding = false;

  constructor(private readonly options: MemoryQueueOptions) {
    this.maxMessages = options.maxMessages ?? DEFAULT_MAX_MESSAGES;
  }

  /** Messages held now (waiting, delayed, in flight). */
  get size(): number {
    return this.held;
  }

  async enqueue(jobs: readonly QueueMessage[]): Promise<void> {
    if (this.held + jobs.length > this.maxMessages) throw new QueueFullError(this.held);
    const traceContext = this.options.traceContext?.();
    for (const job of jobs) this.push(JSON.stringify(job), traceContext);
    this.kick(NEW_MESSAGE_WAIT_MS);
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
      version: 0,
    });
  }

  /** Moves every dead letter back to the queue as a new message, as SQS's redrive does. */
  redriveDeadLetters(): number {
    const moved = this.deadLetters.splice(0);
    for (const message of moved) this.push(message.body, message.traceContext);
    this.kick();
    return moved.length;
  }

  private push(body: string, traceContext: TraceCarrier | undefined): void {
    const now = Date.now();
    if (traceContext && Object.keys(traceContext).length > 0) {
      this.ready.push(newMessage(body, now, traceContext));
    } else {
      this.ready.pushNew(body, now);
    }
    this.held += 1;
  }

  async retryLater(receiptHandle: string, delayMs: number): Promise<void> {
    const message = this.inFlight.get(receiptHandle);
    if (message) this.schedule(message, Date.now() + delayMs);
  }

  /** Starts feeding batches to the handler until `stop()`. */
  start(handler: BatchHandler): void {
    this.handler = handler;
    this.kick();
  }

  stop(): void {
    this.handler = undefined;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.kicked = false;
  }

  /** Resolves when every message was deleted or dead-lettered (tests and demos). */
  idle(): Promise<void> {
    if (this.held === 0 && this.inFlightBatches === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private handler: BatchHandler | undefined;

  /**
   * Polls as soon as possible, once however many calls: a burst enqueues on every webhook, and a
   * timer each time cost the request path (measured in the local-run bench). While deliver
   * yields, the poll already planned takes the new messages at its own pace.
   */
  private kick(waitMs = 0): void {
    if (this.kicked) return;
    if (this.timer !== undefined && this.options.yieldWhile?.() === true) return;
    clearTimeout(this.timer);
    this.kicked = true;
    this.timer = setTimeout(() => this.poll(), waitMs);
  }

  /** A poll is planned for as soon as possible. */
  private kicked = false;

  private poll(): void {
    this.timer = undefined;
    this.kicked = false;
    const handler = this.handler;
    if (!handler) return;
    const yielding = this.options.yieldWhile?.() === true;
    const yieldEveryMs = this.options.yieldingBatchEveryMs ?? 5000;
    const limit = yielding ? Math.min(1, this.options.concurrency) : this.options.concurrency;
    // A burst just began: deliver's first batch of it waits a whole interval too, so a burst
    // shorter than that pays for none (a cold first message costs 0.3 s of CPU, measured).
    if (yielding && !this.wasYielding) this.lastYieldingBatch = Date.now();
    this.wasYielding = yielding;
    while (this.inFlightBatches < limit) {
      if (yielding) {
        const now = Date.now();
        if (now - this.lastYieldingBatch < yieldEveryMs) break;
        this.lastYieldingBatch = now;
      }
      // While yielding, a batch of one: deliver goes on, at a fifth of the cost to the burst.
      const batch = this.receive(yielding ? 1 : this.options.batchSize);
      if (batch.length === 0) break;
      this.inFlightBatches += 1;
      void this.run(handler, batch).finally(() => {
        this.inFlightBatches -= 1;
        this.settle();
        this.kick();
      });
    }
    this.settle();
    const nextVisible = this.ready.length > 0 ? Date.now() : this.nextVisibleAt();
    if (nextVisible !== undefined) {
      // While yielding, look again when the next batch may start (or the burst may be over).
      const pollMs = this.options.pollIntervalMs ?? 20;
      const floor = yielding ? Math.max(pollMs, Math.min(yieldEveryMs, 100)) : pollMs;
      const wait = Math.max(nextVisible - Date.now(), floor);
      this.timer = setTimeout(() => this.poll(), Math.min(wait, 1000));
    }
  }

  /** When the earliest invisible message becomes visible; stale entries are dropped on the way. */
  private nextVisibleAt(): number | undefined {
    for (let top = this.timetable.peek(); top; top = this.timetable.peek()) {
      if (!stale(top)) return top.at;
      this.timetable.pop();
    }
    return undefined;
  }

  /** Hands out visible messages; one received more than `maxReceives` times goes to dead letters. */
  private receive(size: number): QueuedMessage[] {
    const now = Date.now();
    for (let top = this.timetable.peek(); top && top.at <= now; top = this.timetable.peek()) {
      this.timetable.pop();
      if (stale(top)) continue;
      this.inFlight.delete(top.message.receiptHandle ?? "");
      this.ready.push(top.message);
    }
    const batch: QueuedMessage[] = [];
    while (batch.length < size) {
      const message = this.ready.shift();
      if (!message) break;
      if (message.gone) continue;
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
      this.inFlight.set(message.receiptHandle, message);
      this.schedule(message, now + this.options.visibilityTimeoutMs);
      batch.push(message);
    }
    return batch;
  }

  /** Invisible until `at`: a new timetable entry, and any older one goes stale. */
  private schedule(message: QueuedMessage, at: number): void {
    message.visibleAt = at;
    message.version += 1;
    this.timetable.push({ at, version: message.version, message });
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
    if (message.gone) return;
    message.gone = true;
    if (message.receiptHandle) this.inFlight.delete(message.receiptHandle);
    this.held -= 1;
  }

  private settle(): void {
    if (this.held > 0 || this.inFlightBatches > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

const stale = (entry: TimetableEntry): boolean =>
  entry.message.gone === true || entry.version !== entry.message.version;

function newMessage(body: string, sentAt: number, traceContext?: TraceCarrier): QueuedMessage {
  return {
    messageId: randomUUID(),
    body,
    receiveCount: 0,
    sentAt,
    visibleAt: sentAt,
    version: 0,
    ...(traceContext && { traceContext }),
  };
}

/**
 * The visible messages, first in first out. A message never received waits as its body and its
 * send time only, and becomes a {@link QueuedMessage} when it is handed out: a backlog of
 * thousands is one string each, not five heap objects (the collector's work under a burst grew
 * with every object the queue held, measured in the local-run bench).
 */
class ReadyLine {
  private items: (QueuedMessage | string | undefined)[] = [];
  /** Each new message's send time (epoch ms), at its index; unused for the others. */
  private sentAts: number[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(message: QueuedMessage): void {
    this.items.push(message);
    this.sentAts.push(0);
  }

  pushNew(body: string, sentAt: number): void {
    this.items.push(body);
    this.sentAts.push(sentAt);
  }

  shift(): QueuedMessage | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    const sentAt = this.sentAts[this.head] ?? 0;
    this.items[this.head] = undefined;
    this.head += 1;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.sentAts = this.sentAts.slice(this.head);
      this.head = 0;
    }
    return typeof item === "string" ? newMessage(item, sentAt) : item;
  }
}

/** A binary min-heap by `compare`. */
class MinHeap<T> {
  private readonly items: T[] = [];

  constructor(private readonly compare: (a: T, b: T) => number) {}

  peek(): T | undefined {
    return this.items[0];
  }

  push(item: T): void {
    const items = this.items;
    items.push(item);
    let index = items.length - 1;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (this.compare(items[index] as T, items[parent] as T) >= 0) break;
      [items[index], items[parent]] = [items[parent] as T, items[index] as T];
      index = parent;
    }
  }

  pop(): T | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length === 0 || last === undefined) return top;
    items[0] = last;
    let index = 0;
    for (;;) {
      const left = index * 2 + 1;
      const right = left + 1;
      let smallest = index;
      if (left < items.length && this.compare(items[left] as T, items[smallest] as T) < 0)
        smallest = left;
      if (right < items.length && this.compare(items[right] as T, items[smallest] as T) < 0)
        smallest = right;
      if (smallest === index) break;
      [items[index], items[smallest]] = [items[smallest] as T, items[index] as T];
      index = smallest;
    }
    return top;
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
    messageAttributes: Object.fromEntries(
      Object.entries(message.traceContext ?? {}).map(([name, value]) => [
        name,
        { dataType: "String", stringValue: value, stringListValues: [], binaryListValues: [] },
      ]),
    ),
    md5OfBody: "",
    eventSource: "aws:sqs",
    eventSourceARN: "arn:aws:sqs:local:000000000000:hookline-local",
    awsRegion: "local",
  };
}
