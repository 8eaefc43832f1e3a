import { describe, expect, it } from "vitest";
import { batches } from "../../functions/adapters/sqs-queue";

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

  it("are none for no jobs", () => {
    expect(batches([])).toEqual([]);
  });
});
