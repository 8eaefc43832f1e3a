import { describe, expect, it } from "vitest";
import { appJobOf, appOrder, postWebhook, testConfig, useTestBridge } from "../support/bridge";

/**
 * A minute-long Bitrix24 outage (every call answers 500) through the local bridge: nothing is
 * lost, nothing is sent twice, and the queued messages do not burn their retries against the
 * down portal; the shared limiter holds the whole portal back and probes it with growing gaps.
 */

const OUTAGE_MS = 60_000;
const USERS = 6;

describe("a 60 s Bitrix24 outage", () => {
  const base = testConfig();
  const bridge = useTestBridge(
    testConfig({ delivery: { ...base.delivery, retryFor: 600, maxBackoffSeconds: 8 } }),
  );

  it("loses nothing, sends nothing twice, and probes the portal instead of hammering it", async () => {
    bridge.simulator?.outage(OUTAGE_MS);
    const requests = Array.from({ length: USERS }, (_, index) => appOrder(9000 + index, "outage"));
    for (const request of requests) {
      expect((await postWebhook(bridge, "app", request)).status).toBe(202);
    }
    await bridge.queue.idle();

    const received = bridge.simulator?.messages ?? [];
    expect(received.map((message) => message.userId).sort()).toEqual(
      Array.from({ length: USERS }, (_, index) => 9000 + index),
    );
    const outcomes = await Promise.all(
      requests.map((request) => bridge.outcome(appJobOf(request))),
    );
    expect(outcomes).toEqual(requests.map(() => "sent"));
    expect(bridge.queue.deadLetters).toHaveLength(0);
    expect(bridge.simulator?.stats.overlapping).toBe(0);
    // Held back as one portal: far fewer calls than one per message per backoff step.
    const failedCalls = (bridge.simulator?.stats.requests ?? 0) - USERS;
    expect(failedCalls).toBeLessThanOrEqual(60);
  }, 150_000);
});
