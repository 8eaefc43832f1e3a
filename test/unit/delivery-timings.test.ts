import { describe, expect, it } from "vitest";
import { portalBackoffMs, retryDelayMs } from "../../functions/core/backoff";
import { parseConfig } from "../../functions/core/config";
import { deliveryTimings } from "../../functions/core/delivery-timings";

const config = (delivery: Record<string, unknown> = {}, bitrix: Record<string, unknown> = {}) =>
  parseConfig({
    bitrix: { openLineCode: "ab515f5d85a8b844d484f6ea75a2e494", ...bitrix },
    sources: [{ id: "gh", type: "github", secret: "env:GH" }],
    delivery,
  });

describe("delivery timings follow from the config", () => {
  it("defaults: a day of retries, 15-minute backoff cap, a 120 s lease", () => {
    const timings = deliveryTimings(config());
    expect(timings).toMatchObject({
      leaseMs: 120_000,
      retryForMs: 86_400_000,
      maxBackoffMs: 900_000,
      deliverTimeoutSeconds: 150,
      visibilityTimeoutSeconds: 900,
      maxReceiveCount: 1000,
      queueAgeAlarmSeconds: 3600,
    });
    // The queue keeps a message through the whole window and a last visibility timeout.
    expect(timings.queueRetentionSeconds).toBeGreaterThanOrEqual(86_400 + 900);
    expect(timings.queueRetentionSeconds).toBeLessThanOrEqual(14 * 86_400);
    expect(timings.evidenceMs).toBeGreaterThanOrEqual(timings.retryForMs + 14 * 86_400_000);
  });

  it("reads retryFor as seconds or as text", () => {
    expect(deliveryTimings(config({ retryFor: "2d" })).retryForMs).toBe(2 * 86_400_000);
    expect(deliveryTimings(config({ retryFor: 90 })).retryForMs).toBe(90_000);
    expect(() => config({ retryFor: "2 weeks" })).toThrow(/delivery.retryFor/);
    expect(() => config({ retryFor: "14d" })).toThrow(/delivery.retryFor: must be at most 13 days/);
  });

  it("refuses a lease shorter than one attempt (B8)", () => {
    expect(() => config({ leaseSeconds: 10 })).toThrow(
      /delivery.leaseSeconds: must be at least 65 s/,
    );
    expect(() =>
      config({ leaseSeconds: 30 }, { requestLimitSeconds: 20, timeoutMs: 8000 }),
    ).not.toThrow();
    expect(() =>
      config({ leaseSeconds: 30 }, { requestLimitSeconds: 20, timeoutMs: 60_000 }),
    ).toThrow(/must be at least 65 s/);
  });
});

describe("backoff", () => {
  it("grows the ceiling exponentially with full jitter, never under the hint, never over the cap", () => {
    const top = () => 1;
    const bottom = () => 0;
    expect(retryDelayMs(0, 1, 900_000, top)).toBe(1000);
    expect(retryDelayMs(0, 4, 900_000, top)).toBe(8000);
    expect(retryDelayMs(0, 30, 900_000, top)).toBe(900_000);
    expect(retryDelayMs(1500, 4, 900_000, bottom)).toBe(1500);
    expect(retryDelayMs(5_000_000, 1, 900_000, bottom)).toBe(900_000);
  });

  it("holds the portal back longer after each failure in a row, up to the cap", () => {
    expect([0, 1, 2, 3, 12].map((failures) => portalBackoffMs(0, failures, 60_000))).toEqual([
      1000, 2000, 4000, 8000, 60_000,
    ]);
    expect(portalBackoffMs(10_000, 0, 60_000)).toBe(10_000);
  });
});
