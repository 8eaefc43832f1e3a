import { describe, expect, it } from "vitest";
import { BurstDetector } from "../../functions/local/burst";

describe("BurstDetector (deliver yields to ingest during a burst)", () => {
  it("10 webhooks within 100 ms make a burst, which lasts until 200 ms after the last busy moment", () => {
    let now = 1_000_000;
    const burst = new BurstDetector(() => now);
    for (let index = 0; index < 9; index++) burst.arrived();
    expect(burst.busy()).toBe(false);
    burst.arrived();
    expect(burst.busy()).toBe(true);
    now += 199;
    expect(burst.busy()).toBe(true);
    now += 1;
    expect(burst.busy()).toBe(false);
  });

  it("one sender posting every 20 ms (50 a second) is no burst", () => {
    let now = 1_000_000;
    const burst = new BurstDetector(() => now);
    for (let index = 0; index < 100; index++) {
      burst.arrived();
      expect(burst.busy()).toBe(false);
      now += 20;
    }
  });
});
