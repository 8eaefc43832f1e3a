import { randomUUID } from "node:crypto";
import { expect, it } from "vitest";
import { postWebhook, startTestBridge, TEST_SECRETS, testConfig } from "../support/bridge";
import { standardWebhookRequest } from "../support/signers";

/**
 * Closing the local bridge while webhooks, deliveries and sweeps are still running: the servers
 * stop only after their clients, so no write reaches a closed database. (Before, dynalite's
 * "Database is closed" surfaced as an unhandled rejection and failed a test run whose tests had
 * all passed.)
 */
it("closes with work in flight: the work settles before DynamoDB stops, and nothing is left unhandled", async () => {
  const errors: unknown[] = [];
  const onError = (error: unknown) => errors.push(error);
  process.on("unhandledRejection", onError);
  process.on("uncaughtException", onError);
  try {
    for (let round = 0; round < 3; round++) {
      const bridge = await startTestBridge(testConfig(), { sweepEveryMs: 5 });
      const posts = Array.from({ length: 20 }, (_, index) =>
        postWebhook(
          bridge,
          "app",
          standardWebhookRequest(TEST_SECRETS.APP_SECRET, {
            type: "order.paid",
            data: { orderId: randomUUID().slice(0, 8), bitrixUserId: 500 + index, note: "x" },
          }),
        ).catch(() => undefined),
      );
      await posts[0];
      await bridge.close();
      await Promise.all(posts);
    }
    // Unhandled rejections are reported once the microtask queue has drained.
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off("unhandledRejection", onError);
    process.off("uncaughtException", onError);
  }
  expect(errors.map(String)).toEqual([]);
});
