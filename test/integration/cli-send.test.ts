import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sendEvent } from "../../cli/commands/send";
import { signingSecret, sourceById } from "../../cli/config";
import type { Io } from "../../cli/output";
import { runCli } from "../../cli/program";
import { buildSample } from "../../cli/samples";
import { requestLine } from "../../functions/local/request-lines";
import { runStatePath } from "../../functions/local/run-state";
import { startTestBridge, TEST_SECRETS, testConfig } from "../support/bridge";

type Bridge = Awaited<ReturnType<typeof startTestBridge>>;

describe("hookline send against the local bridge", () => {
  // The Stripe fixtures' customer is cus_local_demo.
  const config = testConfig({
    lookups: { githubUsers: { "21031067": 7 }, stripeCustomers: { cus_local_demo: 8 } },
  });
  let bridge: Bridge;
  beforeAll(async () => {
    bridge = await startTestBridge(config);
  });
  afterAll(() => bridge?.close());

  it.each(["github", "stripe", "app", "shop"])(
    "%s: a sample signed with the source's secret is accepted",
    async (sourceId) => {
      const source = sourceById(config, sourceId);
      const report = await sendEvent({
        config,
        source,
        secret: await signingSecret(config, source, TEST_SECRETS),
        event: buildSample(config, source),
        baseUrl: bridge.url,
        fetch,
        now: new Date(),
      });
      expect(report.status).toBe(202);
      expect(report.answer).toMatchObject({
        status: "accepted",
        eventId: report.event.id,
        messages: 1,
        failed: 0,
      });
    },
  );

  it("finds the running local run by itself, through the state file npm start leaves", async () => {
    const cwd = mkdtempSync(join(tmpdir(), "hookline-cli-send-"));
    writeFileSync(
      join(cwd, "hookline.config.json"),
      JSON.stringify({
        bitrix: { openLineCode: "ab515f5d85a8b844d484f6ea75a2e494" },
        sources: [
          {
            id: "shop",
            type: "hmac",
            secret: "env:SHOP_SECRET",
            header: "x-shop-signature",
            prefix: "sha256=",
            eventId: { path: "id" },
            eventName: { path: "event" },
          },
        ],
      }),
    );
    mkdirSync(join(cwd, ".hookline"));
    writeFileSync(
      runStatePath(cwd),
      JSON.stringify({ pid: process.pid, url: bridge.url, dynamoEndpoint: bridge.dynamoEndpoint }),
    );
    const out: string[] = [];
    const io: Io = {
      stdout: { write: (text: string) => out.push(text) },
      stderr: { write: (text: string) => out.push(text) },
      env: { SHOP_SECRET: TEST_SECRETS.SHOP_SECRET },
      cwd,
      fetch,
      now: () => new Date(),
    };
    const payload = join(cwd, "order.json");
    writeFileSync(payload, JSON.stringify({ userId: 41, text: "hello from the CLI" }));
    expect(
      await runCli(["send", "shop", "--event", "order.paid", "--payload", payload, "--json"], io),
    ).toBe(0);
    const report = JSON.parse(out.join(""));
    expect(report).toMatchObject({
      url: `${bridge.url}/webhooks/shop`,
      event: { name: "order.paid" },
      payload: "file",
      status: 202,
    });
    await bridge.queue.idle();
    expect(bridge.simulator?.messages.find((message) => message.userId === 41)?.message).toBe(
      "hello from the CLI",
    );
  });
});

describe("hookline send of an event no route takes", () => {
  const base = testConfig();
  const config = testConfig({
    routes: [
      ...base.routes,
      {
        source: "github",
        events: ["pull_request.*"],
        condition: "payload.action == 'opened'",
        userId: "7",
        message: "PR opened",
      },
    ],
  });
  let bridge: Bridge;
  beforeAll(async () => {
    bridge = await startTestBridge(config);
  });
  afterAll(() => bridge?.close());

  const send = async (eventName: string) => {
    const source = sourceById(config, "github");
    return sendEvent({
      config,
      source,
      secret: await signingSecret(config, source, TEST_SECRETS),
      event: buildSample(config, source, { eventName }),
      baseUrl: bridge.url,
      fetch,
      now: new Date(),
    });
  };
  const lastLine = () => {
    const [latest] = bridge.requestLog.recent(1);
    return latest ? requestLine(latest) : "";
  };

  it("says which route matched the event but had a false condition, in the answer and the terminal line", async () => {
    const report = await send("pull_request.closed");
    expect(report).toMatchObject({
      status: 200,
      answer: {
        status: "ignored",
        message: "route 4 matches the event but its condition is false",
      },
    });
    expect(lastLine()).toMatch(
      /200 ignored {3}github pull_request\.closed id \S+ {2}route 4 matches the event but its condition is false$/,
    );
  });

  it("names the events the source's routes expect when none matches", async () => {
    const report = await send("star.created");
    expect(report.answer).toMatchObject({
      status: "ignored",
      message: "no route matches star.created; routes expect issues.opened, pull_request.*",
    });
    expect(lastLine()).toContain(
      "no route matches star.created; routes expect issues.opened, pull_request.*",
    );
  });
});
