import { describe, expect, it } from "vitest";
import type { EventJob } from "../../functions/core/job";
import { MemoryQueue } from "../../functions/local/memory-queue";

const job: EventJob = {
  v: 3,
  kind: "event",
  jobId: "app:1:0",
  sourceId: "app",
  eventId: "1",
  eventName: "order.paid",
  receivedAt: "2030-01-07T09:00:00.000Z",
  userId: 1,
  message: "hello",
  whenLimited: "digest",
};

describe("the local queue models SQS's retention", () => {
  it("deletes a message that failed on every receive once it is older than the retention, with no dead letter, as SQS does", async () => {
    const queue = new MemoryQueue({
      maxReceives: 1000,
      visibilityTimeoutMs: 5,
      retentionMs: 150,
      batchSize: 1,
      concurrency: 1,
      pollIntervalMs: 5,
    });
    let receives = 0;
    queue.start(async (event) => {
      receives += event.Records.length;
      return { batchItemFailures: event.Records.map((r) => ({ itemIdentifier: r.messageId })) };
    });
    await queue.enqueue([job]);
    await queue.idle();
    queue.stop();
    expect(queue.expired).toBe(1);
    expect(queue.deadLetters).toHaveLength(0);
    expect(receives).toBeGreaterThan(1);
  });
});
