import { createHmac, randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { jobIdFor } from "../../functions/core/job";
import {
  APP_ROUTE,
  GITHUB_ROUTE,
  postWebhook,
  STRIPE_ROUTE,
  TEST_SECRETS,
  testConfig,
  userIds,
  useTestBridge,
} from "../support/bridge";
import {
  githubExamples,
  githubRequest,
  standardWebhookRequest,
  stripeInvoiceFailed,
  stripeRequest,
} from "../support/signers";

/** A unique Bitrix24 user id per test, so the weekly limit of one test never touches another. */
const freshUser = userIds(100);

const orderEvent = (userId: number, note = "paid") => ({
  type: "order.paid",
  data: { orderId: randomUUID().slice(0, 8), bitrixUserId: userId, note },
});

const shopRequest = (payload: object, secret = TEST_SECRETS.SHOP_SECRET) => {
  const body = JSON.stringify(payload);
  const signature = createHmac("sha256", secret).update(body).digest("hex");
  return {
    headers: { "content-type": "application/json", "x-shop-signature": `sha256=${signature}` },
    body,
  };
};

describe("the local bridge end to end (HTTP -> ingest -> queue -> deliver -> simulator)", () => {
  const bridge = useTestBridge(testConfig());

  it("answers GET /health", async () => {
    const response = await fetch(`${bridge.url}/health`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: "ok" });
  });

  it("delivers a real GitHub issues.opened payload, escaped, with its link button", async () => {
    const example = githubExamples("issues", "opened")[0] as {
      issue: { title: string; html_url: string };
    };
    const payload = {
      ...example,
      issue: { ...example.issue, title: "[url=https://evil.example]click[/url] [b]x" },
    };
    const request = await githubRequest(TEST_SECRETS.GITHUB_SECRET, "issues", payload);

    const answer = await postWebhook(bridge, "github", request);
    expect(answer).toMatchObject({ status: 202, body: { status: "accepted", messages: 1 } });
    await bridge.queue.idle();

    const [message, ...more] = bridge.sentTo(7);
    expect(more).toHaveLength(0);
    expect(message?.message).toMatch(/^Issue \[b\].*click.*\[\/b\] opened by Codertocat$/);
    expect(message?.message).not.toContain("[url=");
    expect(message?.keyboard).toEqual([{ TEXT: "Open", LINK: example.issue.html_url }]);
    const jobId = jobIdFor("github", request.headers["x-github-delivery"] as string, GITHUB_ROUTE);
    expect(await bridge.outcome(jobId)).toBe("sent");
  });

  it("answers a redelivered event id as duplicate and sends nothing more", async () => {
    const userId = freshUser();
    const request = standardWebhookRequest(TEST_SECRETS.APP_SECRET, orderEvent(userId));
    expect((await postWebhook(bridge, "app", request)).status).toBe(202);
    const again = await postWebhook(bridge, "app", request);
    expect(again).toMatchObject({ status: 200, body: { status: "duplicate" } });
    await bridge.queue.idle();
    expect(bridge.sentTo(userId)).toHaveLength(1);
  });

  it("delivers a Stripe event signed with the stripe package, amount formatted", async () => {
    const request = stripeRequest(
      TEST_SECRETS.STRIPE_SECRET,
      stripeInvoiceFailed("cus_e2e", 12_345, "usd"),
    );
    expect((await postWebhook(bridge, "stripe", request)).status).toBe(202);
    await bridge.queue.idle();
    expect(bridge.sentTo(8).map((message) => message.message)).toEqual([
      "Payment of $123.45 failed",
    ]);
  });

  it("sends one message per user per week and defers the rest into the user's digest", async () => {
    const userId = freshUser();
    const first = standardWebhookRequest(TEST_SECRETS.APP_SECRET, orderEvent(userId, "first"));
    const second = standardWebhookRequest(TEST_SECRETS.APP_SECRET, orderEvent(userId, "second"));
    const answers = await Promise.all([
      postWebhook(bridge, "app", first),
      postWebhook(bridge, "app", second),
    ]);
    expect(answers.map((answer) => answer.status)).toEqual([202, 202]);
    await bridge.queue.idle();

    expect(bridge.sentTo(userId)).toHaveLength(1);
    const outcomes = await Promise.all(
      [first, second].map((request) =>
        bridge.outcome(jobIdFor("app", request.headers["webhook-id"] as string, APP_ROUTE)),
      ),
    );
    expect(outcomes.sort()).toEqual(["deferred", "sent"]);
  });

  it("answers 200 ignored when no route matches, and writes nothing", async () => {
    const before = await bridge.itemCount();
    const request = standardWebhookRequest(TEST_SECRETS.APP_SECRET, {
      type: "customer.created",
      data: {},
    });
    expect(await postWebhook(bridge, "app", request)).toMatchObject({
      status: 200,
      body: { status: "ignored" },
    });
    expect(await bridge.itemCount()).toBe(before);
  });

  describe("invalid input answers as the contract says, writes nothing and sends nothing", () => {
    /** A signed GitHub issues.opened with `header` taken out. */
    const githubWithout = (header: string) => async () => {
      const request = await githubRequest(
        TEST_SECRETS.GITHUB_SECRET,
        "issues",
        githubExamples("issues", "opened")[0],
      );
      delete request.headers[header];
      return { sourceId: "github", ...request };
    };
    const cases: [
      string,
      () => Promise<{ sourceId: string; headers: Record<string, string>; body: string }>,
      number,
      string,
    ][] = [
      [
        "bad signature",
        async () => ({
          sourceId: "github",
          ...(await githubRequest("wrong-secret", "issues", githubExamples("issues", "opened")[0])),
        }),
        401,
        "invalid_signature",
      ],
      ["missing signature", githubWithout("x-hub-signature-256"), 401, "invalid_signature"],
      [
        "stale Stripe timestamp",
        async () => ({
          sourceId: "stripe",
          ...stripeRequest(
            TEST_SECRETS.STRIPE_SECRET,
            stripeInvoiceFailed("cus_e2e", 100),
            Math.floor(Date.now() / 1000) - 3600,
          ),
        }),
        401,
        "invalid_signature",
      ],
      [
        "stale Standard Webhooks timestamp",
        async () => ({
          sourceId: "app",
          ...standardWebhookRequest(
            TEST_SECRETS.APP_SECRET,
            orderEvent(1),
            undefined,
            new Date(Date.now() - 3_600_000),
          ),
        }),
        401,
        "invalid_signature",
      ],
      [
        "body changed after signing",
        async () => ({ sourceId: "shop", ...shopRequest({}), body: "{not json" }),
        401,
        "invalid_signature",
      ],
      [
        "malformed JSON, signed over the broken body",
        async () => {
          const body = '{"id": "1", "event": ';
          const signature = createHmac("sha256", TEST_SECRETS.SHOP_SECRET)
            .update(body)
            .digest("hex");
          return { sourceId: "shop", headers: { "x-shop-signature": `sha256=${signature}` }, body };
        },
        400,
        "bad_request",
      ],
      ["missing X-GitHub-Event", githubWithout("x-github-event"), 400, "bad_request"],
      [
        "unknown source",
        async () => ({ sourceId: "nope", ...shopRequest({ id: "1", event: "x" }) }),
        404,
        "unknown_source",
      ],
      [
        "oversized body",
        async () => ({
          sourceId: "shop",
          ...shopRequest({ id: "big", event: "x", userId: 1, text: "a".repeat(70 * 1024) }),
        }),
        413,
        "payload_too_large",
      ],
    ];

    it.each(cases)("%s", async (_name, build, status, code) => {
      const before = await bridge.itemCount();
      const sentBefore = bridge.simulator?.messages.length;
      const { sourceId, ...request } = await build();
      const answer = await postWebhook(bridge, sourceId, request);
      expect(answer.status).toBe(status);
      expect(answer.body.error).toBe(code);
      const text = JSON.stringify(answer.body);
      for (const secret of Object.values(TEST_SECRETS)) expect(text).not.toContain(secret);
      expect(text).not.toMatch(/\bat \S+ \(|node_modules|\.ts:\d+/);
      expect(text).not.toContain(request.body.slice(0, 40));
      await bridge.queue.idle();
      expect(await bridge.itemCount()).toBe(before);
      expect(bridge.simulator?.messages.length).toBe(sentBefore);
    });
  });

  it("records a message whose user id cannot be found as failed and still answers 2xx", async () => {
    const request = stripeRequest(
      TEST_SECRETS.STRIPE_SECRET,
      stripeInvoiceFailed("cus_unknown", 100),
    );
    const answer = await postWebhook(bridge, "stripe", request);
    expect(answer).toMatchObject({ status: 202, body: { messages: 0, failed: 1 } });
    expect(
      await bridge.outcome(jobIdFor("stripe", JSON.parse(request.body).id, STRIPE_ROUTE)),
    ).toBe("failed");
  });

  it("paces a burst for many users by the rate limit, and every message arrives", async () => {
    const users = Array.from({ length: 30 }, freshUser);
    const rejectedBefore = bridge.simulator?.stats.rejectedRateLimit;
    const answers = await Promise.all(
      users.map((userId) =>
        postWebhook(
          bridge,
          "app",
          standardWebhookRequest(TEST_SECRETS.APP_SECRET, orderEvent(userId)),
        ),
      ),
    );
    expect(answers.every((answer) => answer.status === 202)).toBe(true);
    await bridge.queue.idle();

    expect(users.map((userId) => bridge.sentTo(userId).length)).toEqual(users.map(() => 1));
    // 30 messages against the portal's bucket (burst 10, 10/s): sending was paced, so the
    // bucket never overflowed (the simulator enforces it and counts each 503 it answers).
    // No wall-clock bound: a loaded machine only makes the burst slower.
    expect(bridge.simulator?.stats.rejectedRateLimit).toBe(rejectedBefore);
  });

  it("ends with every message sent exactly once through 5xx, 503, dropped connections and timeouts", async () => {
    const users = Array.from({ length: 6 }, freshUser);
    bridge.simulator?.inject(
      { status: 500 },
      { status: 503, error: "QUERY_LIMIT_EXCEEDED" },
      { hangMs: 2500, land: true },
      { dropConnection: true, land: false },
      { dropConnection: true, land: true },
      { status: 502 },
    );
    const requests = users.map((userId) =>
      standardWebhookRequest(TEST_SECRETS.APP_SECRET, orderEvent(userId)),
    );
    for (const request of requests)
      expect((await postWebhook(bridge, "app", request)).status).toBe(202);
    await bridge.queue.idle();

    expect(users.map((userId) => bridge.sentTo(userId).length)).toEqual(users.map(() => 1));
    const outcomes = await Promise.all(
      requests.map((request) =>
        bridge.outcome(jobIdFor("app", request.headers["webhook-id"] as string, APP_ROUTE)),
      ),
    );
    expect(outcomes).toEqual(users.map(() => "sent"));
    expect(bridge.queue.deadLetters).toHaveLength(0);
  }, 60_000);
});

describe("the local bridge without the weekly limit (partner portal)", () => {
  const bridge = useTestBridge(testConfig({ bitrix: { weeklyLimit: false } }));

  it("sends every message, and records an unanswered send as unknown instead of retrying it", async () => {
    const userId = freshUser();
    bridge.simulator?.inject({ hangMs: 2500, land: true });
    const first = standardWebhookRequest(TEST_SECRETS.APP_SECRET, orderEvent(userId, "first"));
    expect((await postWebhook(bridge, "app", first)).status).toBe(202);
    await bridge.queue.idle();
    expect(
      await bridge.outcome(jobIdFor("app", first.headers["webhook-id"] as string, APP_ROUTE)),
    ).toBe("unknown");

    const second = standardWebhookRequest(TEST_SECRETS.APP_SECRET, orderEvent(userId, "second"));
    expect((await postWebhook(bridge, "app", second)).status).toBe(202);
    await bridge.queue.idle();
    // The unanswered one landed once and was not repeated; the second one went through too.
    expect(
      bridge.simulator?.messages
        .filter((message) => message.userId === userId)
        .map((m) => m.message),
    ).toEqual([expect.stringContaining("first"), expect.stringContaining("second")]);
  });
});
