import { describe, expect, it } from "vitest";
import { batches, messageAttributes } from "../../functions/adapters/sqs-queue";

describe("SQS batches", () => {
  it("hold at most 10 messages", () => {
    const bodies = Array.from({ length: 23 }, (_, index) => `job ${index}`);
    expect(batches(bodies).map((batch) => batch.length)).toEqual([10, 10, 3]);
    expect(batches(bodies).flat()).toEqual(bodies);
  });

  it("never add up to more than 256 KiB, though each message fits alone", () => {
    const big = "x".repeat(100 * 1024);
    const result = batches([big, big, big, "small"]);
    expect(result.map((batch) => batch.length)).toEqual([2, 2]);
    for (const batch of result) {
      expect(batch.reduce((sum, body) => sum + body.length, 0)).toBeLessThanOrEqual(256 * 1024);
    }
  });

  it("count each message's attributes (the trace context) with its body", () => {
    const carrier = { traceparent: `00-${"a".repeat(32)}-${"b".repeat(16)}-01` };
    const attributes = messageAttributes(carrier);
    expect(attributes.values).toEqual({
      traceparent: { DataType: "String", StringValue: carrier.traceparent },
    });
    // Name, type and value, as SQS counts them.
    expect(attributes.bytes).toBe("traceparent".length + "String".length + 55);
    // Two bodies that fit together by themselves, but not with their attributes.
    const half = "x".repeat(128 * 1024 - 10);
    expect(batches([half, half]).map((batch) => batch.length)).toEqual([2]);
    expect(batches([half, half], attributes.bytes).map((batch) => batch.length)).toEqual([1, 1]);
  });

  it("carry no attributes without a trace context", () => {
    expect(messageAttributes({})).toEqual({ values: {}, bytes: 0 });
  });

  it("are none for no jobs", () => {
    expect(batches([])).toEqual([]);
  });
});
