import { createHmac } from "node:crypto";
import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  INGEST_SECRETS,
  type IngestServer,
  ingestTestConfig,
  startIngestServer,
} from "../support/ingest-server";
import { githubRequest } from "../support/signers";

/** The test config with routes that leave some events unrouted (`ignored`). */
const config = ingestTestConfig({
  routes: [
    { source: "shop", events: ["order.*"], userId: "{{ payload.userId }}", message: "order" },
    {
      source: "github",
      events: ["*"],
      userId: "{{ payload.userId }}",
      message: "{{ payload.text }}",
    },
  ],
});

interface Exchange {
  path: string;
  headers: Record<string, string>;
  body: string;
}

/** Status, headers that matter and the answer's bytes, as a client sees them. */
function exchange(url: string, sent: Exchange): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(sent.path, url),
      { method: "POST", headers: sent.headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () =>
          resolve(
            [
              res.statusCode,
              res.headers["content-type"],
              res.headers["transfer-encoding"],
              res.headers.connection,
              Buffer.concat(chunks).toString("latin1"),
            ].join(" | "),
          ),
        );
      },
    );
    req.on("error", reject);
    req.end(sent.body);
  });
}

const shop = (payload: Record<string, unknown>, headers: Record<string, string> = {}) => {
  const body = JSON.stringify(payload);
  const signature = createHmac("sha256", INGEST_SECRETS.SHOP_SECRET).update(body).digest("hex");
  return {
    path: "/webhooks/shop",
    headers: {
      "content-type": "application/json",
      "x-shop-signature": `sha256=${signature}`,
      ...headers,
    },
    body,
  };
};

describe("the local run's webhook path: straight to ingest's intake, answered as the Lambda answers", () => {
  let viaEvent: IngestServer;
  let direct: IngestServer;
  beforeAll(async () => {
    [viaEvent, direct] = await Promise.all([
      startIngestServer(config, {}, "event"),
      startIngestServer(config, {}, "direct"),
    ]);
  });
  afterAll(async () => {
    await Promise.all([viaEvent?.close(), direct?.close()]);
  });

  it("answers every kind of webhook with the same status, headers and bytes as the API Gateway event path", async () => {
    const github = await githubRequest(INGEST_SECRETS.GITHUB_SECRET, "issues", {
      action: "opened",
      issue: {},
      userId: 3,
      text: "hello",
    });
    const order = shop(
      { event: "order.paid", userId: 5 },
      { "x-shop-event-id": "o-1", "x-shop-event": "order.paid" },
    );
    const sequence: Exchange[] = [
      order,
      // The sender's retry: a duplicate.
      order,
      // Routed by no route of the source: ignored, with the reason.
      shop({ event: "refund" }, { "x-shop-event-id": "r-1", "x-shop-event": "refund.made" }),
      { path: "/webhooks/github", headers: github.headers, body: github.body },
      { ...order, path: "/webhooks/shop/?from=test" },
      { ...order, headers: { ...order.headers, "x-shop-signature": "sha256=00" } },
      { ...order, headers: { "content-type": "application/json" } },
      shop({ event: "order.paid" }, { "x-shop-event-id": "x".repeat(257), "x-shop-event": "o" }),
      shop({ event: "order.paid" }, { "x-shop-event-id": "o-2" }),
      { path: "/webhooks/nowhere", headers: {}, body: "{}" },
      { path: "/webhooks/%E2%9C%93", headers: {}, body: "{}" },
      { path: "/webhooks/shop", headers: order.headers, body: "x".repeat(1024 * 1024 + 1) },
    ];
    const answers = { event: [] as string[], direct: [] as string[] };
    for (const sent of sequence) {
      answers.event.push(await exchange(viaEvent.url, sent));
      answers.direct.push(await exchange(direct.url, sent));
    }
    expect(answers.direct).toEqual(answers.event);
    // The sequence covers what it means to: accepted, duplicate, ignored, 400, 401, 404 and 413.
    const statuses = answers.direct.map((answer) => answer.split(" | ")[0]);
    expect(new Set(statuses)).toEqual(new Set(["202", "200", "400", "401", "404", "413"]));
    expect(answers.direct.join("\n")).toMatch(/"status":"ignored"/);
    expect(answers.direct.join("\n")).toMatch(/"status":"duplicate"/);
    expect(direct.queued.map((job) => ("jobId" in job ? job.jobId : job.kind))).toEqual(
      viaEvent.queued.map((job) => ("jobId" in job ? job.jobId : job.kind)),
    );
    // The first order and the other new one; each later delivery of the first order (the
    // retry, the one with a query string) finds no outcome yet (no deliver runs here) and
    // queues its job again, a copy the ledger settles once (docs/ingest-receipts.md).
    expect(direct.queued).toHaveLength(4);
  });
});
