import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { describe, expect, it } from "vitest";
import { withUndeliveredAge } from "../../functions/adapters/undelivered-age";
import type { Metrics } from "../../functions/core/metrics";

const NOW = 1_796_000_000_000;
const record = (messageId: string, sentAgoMs: number, portal?: string) =>
  ({
    messageId,
    body: portal ? JSON.stringify({ v: 3, kind: "event", portal }) : "{not json",
    attributes: { SentTimestamp: String(NOW - sentAgoMs), ApproximateReceiveCount: "3" },
  }) as unknown as SQSRecord;

describe("withUndeliveredAge", () => {
  it.each([
    {
      name: "the oldest record handed back, however often it was received",
      records: [record("a", 5_000), record("b", 7_200_000), record("c", 60_000)],
      failed: ["b", "c"],
      counted: [["OldestUndelivered", 7_200_000, undefined]],
    },
    {
      name: "the oldest of each portal's records handed back, by portal",
      records: [record("a", 5_000, "eu"), record("b", 9_000, "eu"), record("c", 60_000, "us")],
      failed: ["a", "b", "c"],
      counted: [
        ["OldestUndelivered", 9_000, { Portal: "eu" }],
        ["OldestUndelivered", 60_000, { Portal: "us" }],
      ],
    },
    {
      name: "nothing when every record was settled (delivered, deferred or dead-lettered)",
      records: [record("a", 7_200_000)],
      failed: [],
      counted: [],
    },
  ])("$name", async ({ records, failed, counted }) => {
    const points: unknown[] = [];
    const metrics: Metrics = {
      count() {},
      milliseconds: (name, value, dimensions) => points.push([name, value, dimensions]),
    };
    const response: SQSBatchResponse = {
      batchItemFailures: failed.map((itemIdentifier) => ({ itemIdentifier })),
    };
    const handler = withUndeliveredAge(
      async (_event: SQSEvent, _context: Context) => response,
      metrics,
      () => NOW,
    );
    expect(await handler({ Records: records }, {} as Context)).toBe(response);
    expect(points).toEqual(counted);
  });
});
