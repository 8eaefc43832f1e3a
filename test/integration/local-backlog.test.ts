import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { postWebhook, startTestBridge, TEST_SECRETS, testConfig } from "../support/bridge";
import { shopRequest } from "../support/signers";

/** The local run at its queue's bound: a webhook it cannot queue is a 503 the sender retries. */

/** Signed as the `shop` source's sender signs. */
const shop = (payload: object) => shopRequest(TEST_SECRETS.SHOP_SECRET, payload);

describe("the local run with a full queue", () => {
  let bridge: Awaited<ReturnType<typeof startTestBridge>>;
  beforeAll(async () => {
    // Deliver does not run (concurrency 0): what is queued stays queued.
    bridge = await startTestBridge(testConfig(), {
      tableName: "hookline-backlog",
      queue: { maxMessages: 2, concurrency: 0 },
    });
  });
  afterAll(async () => {
    await bridge?.close();
  });

  it("answers 503 beyond the bound and records nothing, so the sender's retry is not a duplicate", async () => {
    const note = (id: string) => shop({ id, event: "note", userId: 40, text: id });
    expect((await postWebhook(bridge, "shop", note("a"))).status).toBe(202);
    expect((await postWebhook(bridge, "shop", note("b"))).status).toBe(202);
    const refused = await postWebhook(bridge, "shop", note("c"));
    expect(refused.status).toBe(503);
    expect(bridge.queue.size).toBe(2);
    // Its receipt was taken back: the retry is refused again for room, not answered "duplicate".
    expect(await postWebhook(bridge, "shop", note("c"))).toMatchObject({ status: 503 });
  });
});
