import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { describe, expect, it } from "vitest";
import { withUndeliveredAge } from "../../functions/adapters/undelivered-age";
import type { Metrics } from "../../functions/core/metrics";

const NOW = 1_796_000_000_000;
const record = (messageId: string, sentAgoMs: number) =>
  ({
    messageId,
    attributes: { SentTimestamp: String(NOW - sentAgoMs), ApproximateReceiveCount: "3" },
  }) as unknown as SQSRecord;

describe("withUndeliveredAge", () => {
  it.each([
    {
      name: "the oldest record handed back, however often it was received",
      records: [record("a", 5_000), record("b", 7_200_000), record("c", 60_000)],
      failed: ["b", "c"],
      counted: [["OldestUndelivered", 7_200_000]],
    },
    {
      name: "nothing when every record was settled (delivered, deferred or dead-lettered)",
      records: [record("a", 7_200_000)],
      failed: [],
      counted: [],
    },
  ])("$name", async ({ records, failed, counted }) => {
    const points: Array<[string, number]> = [];
    const metrics: Metrics = {
      count() {},
      milliseconds: (name, value) => points.push([name, value]),
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
