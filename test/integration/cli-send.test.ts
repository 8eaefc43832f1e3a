import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { sourceById } from "../../cli/config";
import { runCli } from "../../cli/program";
import { signingSecret } from "../../devkit/dev-secrets";
import { runStatePath } from "../../devkit/run-state";
import { buildSample } from "../../devkit/samples";
import { sendEvent } from "../../devkit/send-event";
import { makeLocalAdmin } from "../../functions/local/local-admin";
import { requestLine } from "../../functions/local/request-lines";
import { runDirFor, TEST_SECRETS, testConfig, useTestBridge } from "../support/bridge";
import { transcriptIo } from "../support/cli-io";
import { shopSource, TEST_OPEN_LINE } from "../support/config-fixtures";

describe("hookline send against the local bridge", () => {
  // The Stripe fixtures' customer is cus_local_demo.
  const config = testConfig({
    lookups: { githubUsers: { "21031067": 7 }, stripeCustomers: { cus_local_demo: 8 } },
  });
  // As npm start serves it: the CLI's endpoints, which prove the run file true.
  const bridge = useTestBridge(config, {
    pages: (running) => [makeLocalAdmin({ config, bridge: running })],
  });

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
    const cwd = runDirFor(bridge, {
      bitrix: { openLineCode: TEST_OPEN_LINE },
      sources: [shopSource()],
    });
    const run = transcriptIo({ env: { SHOP_SECRET: TEST_SECRETS.SHOP_SECRET }, cwd });
    const payload = join(cwd, "order.json");
    writeFileSync(payload, JSON.stringify({ userId: 41, text: "hello from the CLI" }));
    expect(
      await runCli(
        ["send", "shop", "--event", "order.paid", "--payload", payload, "--json"],
        run.io,
      ),
    ).toBe(0);
    const report = JSON.parse(run.text());
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

  describe("a planted .hookline/local.json", () => {
    const shopConfig = {
      bitrix: { openLineCode: TEST_OPEN_LINE },
      sources: [shopSource({ prefix: undefined })],
    };
    /** `hookline send shop` in a directory holding `state` as its run file; every fetch seen. */
    async function sendWith(state: Record<string, unknown>) {
      const cwd = mkdtempSync(join(tmpdir(), "hookline-cli-planted-"));
      writeFileSync(join(cwd, "hookline.config.json"), JSON.stringify(shopConfig));
      mkdirSync(join(cwd, ".hookline"));
      writeFileSync(runStatePath(cwd), JSON.stringify(state));
      const fetched: { url: string; headers: Record<string, string> }[] = [];
      const run = transcriptIo({
        env: { SHOP_SECRET: "the real shop secret" },
        cwd,
        fetch: async (input, init) => {
          fetched.push({
            url: String(input),
            headers: Object.fromEntries(new Headers(init?.headers).entries()),
          });
          return fetch(input, init);
        },
      });
      const payload = join(cwd, "order.json");
      writeFileSync(payload, JSON.stringify({ id: "o-1", userId: 41, text: "x" }));
      const code = await runCli(
        ["send", "shop", "--event", "order.paid", "--payload", payload],
        run.io,
      );
      return { code, fetched, text: run.text() };
    }
    const signed = (fetched: { headers: Record<string, string> }[]) =>
      fetched.filter((request) => request.headers["x-shop-signature"] !== undefined);

    it("is not followed to a URL off this machine: nothing is signed or sent", async () => {
      const run = await sendWith({
        pid: process.pid,
        url: "http://192.0.2.7:3000",
        token: "planted",
        dynamoEndpoint: "http://127.0.0.1:1",
      });
      expect(run.code).not.toBe(0);
      expect(run.fetched).toEqual([]);
      expect(run.text).toMatch(/local\.json.*not followed/);
    });

    it("is not followed to a loopback server that does not know the run's token", async () => {
      const run = await sendWith({
        pid: process.pid,
        url: bridge.url,
        token: "a token the run never issued",
        dynamoEndpoint: bridge.dynamoEndpoint,
      });
      expect(run.code).not.toBe(0);
      expect(signed(run.fetched)).toEqual([]);
      expect(run.text).toMatch(/not followed/);
    });

    it("is not followed when it names a process that is not the server's", async () => {
      const run = await sendWith({
        pid: 1,
        url: bridge.url,
        token: bridge.token,
        dynamoEndpoint: bridge.dynamoEndpoint,
      });
      expect(run.code).not.toBe(0);
      expect(signed(run.fetched)).toEqual([]);
    });
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
  const bridge = useTestBridge(config);

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
