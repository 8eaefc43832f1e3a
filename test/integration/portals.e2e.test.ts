import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { sleep } from "../../functions/core/clock";
import { jobIdFor } from "../../functions/core/job";
import {
  postWebhook,
  startTestBridge,
  TEST_PORTAL,
  TEST_SECRETS,
  testConfig,
  userIds,
} from "../support/bridge";
import { EU_OAUTH } from "../support/config-fixtures";
import { standardWebhookRequest } from "../support/signers";

/**
 * Two portals through the local bridge: "main" (an incoming webhook, two open lines, a slow
 * bucket) and "eu" (an OAuth app with short-lived tokens, a fast bucket), each simulated with its
 * own bucket, weekly ledger and, for eu, OAuth server.
 */

const SUPPORT = "ab515f5d85a8b844d484f6ea75a2e494";
const SALES = "0123456789abcdef0123456789abcdef";
const BILLING = "fedcba9876543210fedcba9876543210";
const OAUTH_ENV = { EU_ID: "local.eu.app", EU_SECRET: "eu-app-secret", EU_REFRESH: "eu-first-rt" };

const appRoute = (event: string, to: Record<string, string>) => ({
  source: "app",
  events: [event],
  userId: "{{ payload.data.bitrixUserId }}",
  message: "{{ payload.type }}: {{ payload.data.note }}",
  to,
});

const freshUser = userIds(20_000);

describe("several portals and open lines", () => {
  let bridge: Awaited<ReturnType<typeof startTestBridge>>;
  beforeAll(async () => {
    const config = testConfig({
      portals: [
        {
          id: "main",
          openLines: { support: SUPPORT, sales: SALES },
          ...TEST_PORTAL,
          rateLimit: { perSecond: 2, burst: 3 },
        },
        {
          id: "eu",
          oauth: EU_OAUTH,
          openLines: { billing: BILLING },
          ...TEST_PORTAL,
          rateLimit: { perSecond: 20, burst: 20 },
        },
      ],
      routes: [
        appRoute("order.support", { portal: "main", openLine: "support" }),
        appRoute("order.sales", { portal: "main", openLine: "sales" }),
        appRoute("order.billing", { portal: "eu" }),
      ],
    });
    bridge = await startTestBridge(config, {
      env: { ...TEST_SECRETS, ...OAUTH_ENV },
      oauthTokenTtlMs: 1500,
    });
  });
  afterAll(() => bridge?.close());

  const main = () => bridge.simulators.get("main");
  const eu = () => bridge.simulators.get("eu");
  const post = (type: string, userId: number, note = randomUUID().slice(0, 6)) => {
    const request = standardWebhookRequest(TEST_SECRETS.APP_SECRET, {
      type,
      data: { bitrixUserId: userId, note },
    });
    return postWebhook(bridge, "app", request).then((answer) => ({ answer, request }));
  };

  it("keeps a weekly slot per open line: one user gets one message from each line of a portal", async () => {
    const userId = freshUser();
    const support = await post("order.support", userId);
    const sales = await post("order.sales", userId);
    expect([support.answer.status, sales.answer.status]).toEqual([202, 202]);
    await bridge.queue.idle();
    const received = main()?.messages.filter((message) => message.userId === userId) ?? [];
    expect(received.map((message) => message.code).sort()).toEqual([SALES, SUPPORT].sort());
    const outcome = (request: typeof support.request, route: number) =>
      bridge.outcome(jobIdFor("app", request.headers["webhook-id"] as string, route));
    expect([await outcome(support.request, 0), await outcome(sales.request, 1)]).toEqual([
      "sent",
      "sent",
    ]);
  });

  it("paces each portal by its own bucket, and one portal's outage never holds the other back", async () => {
    const mainUsers = Array.from({ length: 6 }, freshUser);
    const euUsers = Array.from({ length: 12 }, freshUser);
    const to = (users: number[], messages: { userId: number }[] = []) =>
      messages.filter((m) => users.includes(m.userId));
    // main is down until eu has sent everything: not a race between an outage's length and
    // how fast a loaded machine takes the webhooks.
    main()?.outage(600_000);
    for (const userId of mainUsers) await post("order.support", userId);
    for (const userId of euUsers) await post("order.billing", userId);
    // eu goes out at its own rate while main is down.
    await vi.waitFor(() => expect(to(euUsers, eu()?.messages)).toHaveLength(12), {
      timeout: 45_000,
      interval: 50,
    });
    expect(to(mainUsers, main()?.messages)).toHaveLength(0);
    main()?.outage(0);
    await bridge.queue.idle();

    expect(to(mainUsers, main()?.messages)).toHaveLength(6);
    expect(main()?.stats.rejectedRateLimit).toBe(0);
    expect(eu()?.stats.rejectedRateLimit).toBe(0);
  }, 90_000);

  it("refreshes the OAuth portal's access token when it runs out, once, and keeps sending", async () => {
    const first = freshUser();
    await post("order.billing", first);
    await bridge.queue.idle();
    const before = eu()?.oauth?.stats.refreshes ?? 0;
    await sleep(2500); // the access token (1.5 s here) runs out
    const users = Array.from({ length: 5 }, freshUser);
    for (const userId of users) await post("order.billing", userId);
    await bridge.queue.idle();

    const received = eu()?.messages.map((message) => message.userId) ?? [];
    for (const userId of [first, ...users]) expect(received).toContain(userId);
    // Five deliveries across the expiry, two workers: exactly one refresh.
    expect((eu()?.oauth?.stats.refreshes ?? 0) - before).toBe(1);
    expect(eu()?.oauth?.stats.refused).toBe(0);
  }, 30_000);
});
