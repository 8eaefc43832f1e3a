import { verify as githubVerify } from "@octokit/webhooks-methods";
import { Webhook } from "standardwebhooks";
import Stripe from "stripe";
import { describe, expect, it } from "vitest";
import { buildSample, placeholderPayload } from "../../devkit/samples";
import { signEvent } from "../../devkit/signing";
import { type Config, parseConfig, type SourceConfig } from "../../functions/core/config";
import { verifyEvent } from "../../functions/core/sources";
import { hmacSource, SENDER_SOURCES, shopSource, TEST_OPEN_LINE } from "../support/config-fixtures";

const NOW = new Date("2026-11-25T09:00:00Z");
const SECRETS: Record<string, string> = {
  github: "cli-github-secret",
  stripe: "whsec_cli_stripe",
  app: `whsec_${Buffer.from("cli-standard-webhooks").toString("base64")}`,
  shop: "cli-shop-secret",
  timed: "cli-timed-secret",
};

const config: Config = parseConfig({
  bitrix: { openLineCode: TEST_OPEN_LINE },
  sources: [
    ...SENDER_SOURCES,
    shopSource({ eventId: { path: "delivery.id" } }),
    hmacSource("timed", "x-signature", {
      algorithm: "sha1",
      encoding: "base64",
      timestampHeader: "x-timestamp",
      eventId: { header: "x-delivery" },
      eventName: { header: "x-event" },
    }),
  ],
  routes: [
    {
      source: "github",
      events: ["issues.opened"],
      userId: "{{ payload.issue.user.id | lookup: 'githubUsers' }}",
      message: "Issue [b]{{ payload.issue.title }}[/b]",
    },
    {
      source: "app",
      events: ["order.*"],
      userId: "{{ payload.data.bitrixUserId }}",
      message: "Order {{ payload.data.orderId }} is {{ payload.data.status }}",
      keyboard: [{ TEXT: "Open", LINK: "{{ payload.data.orderUrl }}" }],
    },
    {
      source: "shop",
      events: ["*"],
      userId: "{{ payload.customer | lookup: 'shopUsers' }}",
      message: "{{ payload.text }}: {{ payload.amount | money: payload.currency }}",
    },
  ],
  lookups: { githubUsers: { "21031067": 3 }, shopUsers: { "cust-9": 9 } },
});

const source = (id: string): SourceConfig => {
  const found = config.sources.find((candidate) => candidate.id === id);
  if (!found) throw new Error(`no source ${id}`);
  return found;
};

describe("signing a sample as each sender does", () => {
  it.each([
    ["github", "issues.opened"],
    ["stripe", "invoice.paid"],
    ["app", "order.paid"],
    ["shop", "order.paid"],
    ["timed", "order.paid"],
  ])(
    "%s: the server's own check accepts it and reads the same id and name (%s)",
    async (id, name) => {
      const sample = buildSample(config, source(id), { eventName: name });
      const request = await signEvent(source(id), SECRETS[id] ?? "", sample, NOW);
      const verified = await verifyEvent(
        source(id),
        [SECRETS[id] ?? ""],
        { headers: request.headers, body: Buffer.from(request.body) },
        NOW,
      );
      expect(verified).toMatchObject({ id: sample.id, name });
    },
  );

  it("a wrong secret is refused by the server's check", async () => {
    const sample = buildSample(config, source("shop"));
    const request = await signEvent(source("shop"), "not the secret", sample, NOW);
    await expect(
      verifyEvent(
        source("shop"),
        [SECRETS.shop ?? ""],
        {
          headers: request.headers,
          body: Buffer.from(request.body),
        },
        NOW,
      ),
    ).rejects.toThrow("does not match");
  });

  it("GitHub, Stripe and Standard Webhooks signatures pass the senders' own verification", async () => {
    const at = new Date();
    const github = await signEvent(
      source("github"),
      SECRETS.github ?? "",
      buildSample(config, source("github")),
      at,
    );
    expect(
      await githubVerify(
        SECRETS.github ?? "",
        github.body,
        github.headers["x-hub-signature-256"] ?? "",
      ),
    ).toBe(true);

    const stripe = await signEvent(
      source("stripe"),
      SECRETS.stripe ?? "",
      buildSample(config, source("stripe")),
      at,
    );
    const event = Stripe.webhooks.constructEvent(
      stripe.body,
      stripe.headers["stripe-signature"] ?? "",
      SECRETS.stripe ?? "",
    );
    expect(event.type).toBe("invoice.payment_failed");

    const app = await signEvent(
      source("app"),
      SECRETS.app ?? "",
      buildSample(config, source("app")),
      at,
    );
    expect(new Webhook(SECRETS.app ?? "").verify(app.body, app.headers)).toMatchObject({
      type: "order.sample",
    });
  });
});

describe("sample events", () => {
  it("take the sender's example for GitHub and Stripe, with a fresh id each time", () => {
    const first = buildSample(config, source("github"));
    const second = buildSample(config, source("github"));
    expect(first).toMatchObject({ name: "issues.opened", origin: "example" });
    expect(first.payload).toMatchObject({ action: "opened", issue: { user: { id: 21031067 } } });
    expect(first.id).not.toBe(second.id);
    expect(buildSample(config, source("stripe"), { eventName: "charge.refunded" })).toMatchObject({
      origin: "example",
      payload: { type: "charge.refunded", data: { object: { refunded: true } } },
    });
  });

  it("build a placeholder payload from what the routes read: a resolvable user, URLs, amounts", () => {
    expect(placeholderPayload(config, "app", "order.paid")).toEqual({
      data: {
        bitrixUserId: 1,
        orderId: "sample orderId",
        status: "sample status",
        orderUrl: "https://example.com/",
      },
    });
    expect(placeholderPayload(config, "shop", "anything")).toEqual({
      customer: "cust-9",
      text: "sample text",
      amount: 1234,
      currency: "usd",
    });
  });

  it("keep GitHub's action in step with the event name when there is no example", () => {
    const sample = buildSample(config, source("github"), { eventName: "issues.transferred_away" });
    expect(sample).toMatchObject({
      origin: "placeholder",
      payload: { action: "transferred_away" },
    });
  });

  it("carry their id in the body where the id header is not signed, so two sends are two events", () => {
    const first = buildSample(config, source("github"));
    expect(first.payload.hookline_sample).toBe(first.id);
    expect(buildSample(config, source("stripe")).payload.hookline_sample).toBeUndefined();
  });

  it("keep a payload file as it is", () => {
    const payload = { anything: true };
    expect(buildSample(config, source("shop"), { payload, eventName: "x", id: "7" })).toEqual({
      payload,
      name: "x",
      id: "7",
      origin: "file",
    });
  });
});
