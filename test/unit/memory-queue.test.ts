import type { SQSEvent } from "aws-lambda";
import { describe, expect, it } from "vitest";
import type { QueueMessage } from "../../functions/core/job";
import { MemoryQueue, QueueFullError } from "../../functions/local/memory-queue";

/** The local run's stand-in for SQS, under a large backlog and at its bound. */

const job = (index: number) => ({ kind: "event", jobId: `j-${index}` }) as unknown as QueueMessage;

const options = {
  maxReceives: 5,
  visibilityTimeoutMs: 30_000,
  batchSize: 1000,
  concurrency: 4,
};

describe("MemoryQueue", () => {
  it("delivers a backlog of 150,000 waiting messages, each once, without throwing", async () => {
    const queue = new MemoryQueue({ ...options, maxMessages: 200_000 });
    const count = 150_000;
    const jobs = Array.from({ length: count }, (_, index) => job(index));
    await queue.enqueue(jobs);
    const seen = new Set<string>();
    queue.start(async (event: SQSEvent) => {
      for (const record of event.Records)
        seen.add((JSON.parse(record.body) as { jobId: string }).jobId);
      return { batchItemFailures: [] };
    });
    await queue.idle();
    queue.stop();
    expect(seen.size).toBe(count);
    expect(queue.deadLetters).toHaveLength(0);
  });

  it("hands a message out again after retryLater's delay, and dead-letters it after maxReceives", async () => {
    const queue = new MemoryQueue({ ...options, batchSize: 5, maxReceives: 3 });
    await queue.enqueue([job(1)]);
    const receives: number[] = [];
    queue.start(async (event) => {
      const record = event.Records[0];
      if (!record) return { batchItemFailures: [] };
      receives.push(Number(record.attributes.ApproximateReceiveCount));
      await queue.retryLater(record.receiptHandle, 1);
      return { batchItemFailures: [{ itemIdentifier: record.messageId }] };
    });
    await queue.idle();
    queue.stop();
    expect(receives).toEqual([1, 2, 3]);
    expect(queue.deadLetters.map((message) => message.reason)).toEqual(["received too often"]);
  });

  it("refuses messages beyond its bound, so ingest answers 503 and the sender retries", async () => {
    const queue = new MemoryQueue({ ...options, maxMessages: 3 });
    await queue.enqueue([job(1), job(2)]);
    await expect(queue.enqueue([job(3), job(4)])).rejects.toBeInstanceOf(QueueFullError);
    // All or nothing: the refused call queued neither message.
    await queue.enqueue([job(3)]);
    await expect(queue.enqueue([job(4)])).rejects.toThrow(/holds 3 messages/);
  });

  /** A queue whose deliver yields while `busy()`; resolves `polls(n)` after n more polls. */
  function yieldingQueue(busy: () => boolean, yieldingBatchEveryMs: number) {
    let polls = 0;
    let pollsWanted = Number.POSITIVE_INFINITY;
    let enoughPolls: () => void = () => {};
    const queue = new MemoryQueue({
      ...options,
      batchSize: 5,
      // Each poll asks whether to yield: waiting for polls, not for time.
      yieldWhile: () => {
        polls += 1;
        if (polls >= pollsWanted) enoughPolls();
        return busy();
      },
      yieldingBatchEveryMs,
    });
    const morePolls = (count: number) =>
      new Promise<void>((resolve) => {
        enoughPolls = resolve;
        pollsWanted = polls + count;
      });
    const handled: string[] = [];
    const batchSizes: number[] = [];
    queue.start(async (event) => {
      batchSizes.push(event.Records.length);
      for (const record of event.Records)
        handled.push((JSON.parse(record.body) as { jobId: string }).jobId);
      return { batchItemFailures: [] };
    });
    return { queue, morePolls, handled, batchSizes };
  }

  it("yields to ingest: a burst's first batch waits an interval too; the rest go in full batches once the burst is over", async () => {
    let busy = true;
    // Longer than the test: while busy, no batch can start.
    const { queue, morePolls, handled, batchSizes } = yieldingQueue(() => busy, 3_600_000);
    await queue.enqueue([job(1), job(2), job(3)]);
    // A burst shorter than the interval pays for no delivery (a cold first message is costly).
    await morePolls(5);
    expect(handled).toEqual([]);
    expect(queue.size).toBe(3);
    busy = false;
    await queue.idle();
    expect(handled).toEqual(["j-1", "j-2", "j-3"]);
    expect(batchSizes).toEqual([3]);
    // The next burst waits its own interval, counted from its first poll.
    busy = true;
    await queue.enqueue([job(4), job(5)]);
    await morePolls(5);
    expect(handled).toEqual(["j-1", "j-2", "j-3"]);
    busy = false;
    await queue.idle();
    queue.stop();
    expect(handled).toEqual(["j-1", "j-2", "j-3", "j-4", "j-5"]);
    expect(batchSizes).toEqual([3, 2]);
  });

  it("yields to ingest: during a burst, deliver goes on one message at a time", async () => {
    let busy = true;
    const { queue, morePolls, handled, batchSizes } = yieldingQueue(() => busy, 0);
    await queue.enqueue([job(1), job(2), job(3)]);
    while (handled.length < 2) await morePolls(1);
    busy = false;
    await queue.idle();
    queue.stop();
    expect(handled).toEqual(["j-1", "j-2", "j-3"]);
    // Batches of one while busy (a fifth of the work the burst pays for), then a full batch.
    expect(batchSizes.slice(0, 2)).toEqual([1, 1]);
  });
});
