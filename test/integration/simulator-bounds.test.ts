import { describe, expect, it } from "vitest";
import { makeBitrixWebhookClient } from "../../functions/adapters/bitrix-client";
import { startBitrixSimulator } from "../../functions/local/bitrix-simulator";

/** A long local run: the simulator keeps the newest messages only, and counts them all. */

const LINE = "0123456789abcdef0123456789abcdef";

describe("the simulator's kept messages", () => {
  it("keeps the newest keptMessages, in order", async () => {
    const sim = await startBitrixSimulator({
      openLineCodes: [LINE],
      weeklyLimit: false,
      keptMessages: 3,
      rateLimit: { burst: 100, perSecond: 100 },
    });
    try {
      const bitrix = makeBitrixWebhookClient({ webhookUrl: sim.webhookUrl, timeoutMs: 10_000 });
      for (let index = 1; index <= 5; index++) {
        expect(await bitrix.sendNetworkMessage(LINE, { userId: 1, message: `m${index}` })).toEqual({
          kind: "sent",
        });
      }
      expect(sim.messages.map((message) => message.message)).toEqual(["m3", "m4", "m5"]);
      expect(sim.stats.accepted).toBe(5);
    } finally {
      await sim.close();
    }
  });
});
