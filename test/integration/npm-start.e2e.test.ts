import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sleep } from "../../functions/core/clock";
import { EU_OAUTH } from "../support/config-fixtures";
import {
  attribute,
  deliverySpans,
  type OtlpCollector,
  startOtlpCollector,
} from "../support/otlp-collector";
import { standardWebhookRequest } from "../support/signers";

/**
 * Black box, through the real `npm start` entry (bin/local.ts) in its own process: signed
 * webhooks over HTTP, and what the built-in simulators received, read from their own endpoints.
 */

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const TSX_LOADER = join(ROOT, "node_modules/tsx/dist/loader.mjs");
const SECRET = `whsec_${Buffer.from("npm-start-e2e").toString("base64")}`;

interface SimulatorMessage {
  userId: number;
  code: string;
  message: string;
}

/** Polls `check` until it holds or `timeoutMs` passed. */
async function waitUntil(check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check() && Date.now() < deadline) await sleep(100);
}

/** A running `npm start` on a config of its own, in a directory of its own. */
class NpmStart {
  output = "";
  url = "";
  /** Simulator origins by portal id, as start-up prints them. */
  simulators = new Map<string, string>();
  private child: ChildProcess | undefined;
  private dir = "";

  async start(config: unknown, env: Record<string, string>, flags: string[] = []): Promise<void> {
    this.dir = mkdtempSync(join(tmpdir(), "hookline-start-"));
    writeFileSync(join(this.dir, "hookline.config.json"), JSON.stringify(config));
    const child = spawn(
      process.execPath,
      ["--import", TSX_LOADER, join(ROOT, "bin/local.ts"), "--port", "0", ...flags],
      {
        cwd: this.dir,
        env: { PATH: process.env.PATH ?? "", ...env },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    this.child = child;
    const keep = (chunk: Buffer) => {
      this.output += chunk.toString();
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    // The last line of its start-up summary names the CLI; the simulators' line comes before it.
    await waitUntil(() => /\n {2}CLI: /.test(this.output) || child.exitCode !== null, 120_000);
    this.url = /listening on (http:\/\/\S+)/.exec(this.output)?.[1] ?? "";
    for (const match of this.output.matchAll(
      /([\w-]+): built-in simulator at (http:\/\/[^\s;]+)/g,
    )) {
      if (match[1] && match[2]) this.simulators.set(match[1], match[2]);
    }
    if (!this.url || this.simulators.size === 0) {
      throw new Error(`npm start did not come up:\n${this.output}`);
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    }
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }

  async post(type: string, userId: number, status: string): Promise<number> {
    const request = standardWebhookRequest(SECRET, {
      type,
      data: { orderId: randomUUID().slice(0, 8), bitrixUserId: userId, status },
    });
    const answer = await fetch(`${this.url}/webhooks/app`, {
      method: "POST",
      headers: request.headers,
      body: request.body,
    });
    return answer.status;
  }

  async received(portal: string): Promise<SimulatorMessage[]> {
    const origin = this.simulators.get(portal);
    if (!origin) throw new Error(`no simulator for portal ${portal}`);
    return (await (await fetch(`${origin}/_simulator/messages`)).json()) as SimulatorMessage[];
  }

  /** What a portal's simulator received, once it holds `count` messages (or 60 s passed). */
  async waitFor(portal: string, count: number): Promise<SimulatorMessage[]> {
    let messages = await this.received(portal);
    const deadline = Date.now() + 60_000;
    while (messages.length < count && Date.now() < deadline) {
      await sleep(250);
      messages = await this.received(portal);
    }
    return messages;
  }
}

const appRoute = (events: string[], to?: Record<string, string>) => ({
  source: "app",
  events,
  userId: "{{ payload.data.bitrixUserId }}",
  message: "[b]Orders[/b]: order {{ payload.data.orderId }} is {{ payload.data.status }}.",
  ...(to && { to }),
});
const appSource = [{ id: "app", type: "standard-webhooks", secret: "env:APP_SECRET" }];

describe("npm start: the weekly digest cycle with a ten-second week", () => {
  const run = new NpmStart();
  beforeAll(async () => {
    const base = JSON.parse(readFileSync(join(ROOT, "hookline.config.json"), "utf8"));
    await run.start(
      {
        ...base,
        bitrix: { ...base.bitrix, weekSeconds: 10, weekMarginSeconds: 1 },
        sources: appSource,
        routes: [appRoute(["order.*"])],
        lookups: {},
      },
      { APP_SECRET: SECRET },
    );
  }, 180_000);
  afterAll(() => run.stop());

  it("sends the first event, then the next two as one digest once the week has passed", async () => {
    expect(await run.post("order.updated", 42, "paid")).toBe(202);
    // The first is sent (and its send recorded) before the next two arrive: arriving while it is still in flight, they
    // would wait for its lease rather than its week (the ledger's rule), past this test's wait.
    // Ingest used to be slow enough to hide that; with receipts in memory it no longer is.
    await waitUntil(() => /↳ sent /.test(run.output), 60_000);
    expect(await run.post("order.updated", 42, "packed")).toBe(202);
    expect(await run.post("order.updated", 42, "shipped")).toBe(202);

    const messages = await run.waitFor("default", 2);
    expect(messages.map((message) => message.userId)).toEqual([42, 42]);
    expect(messages[0]?.message).toContain("paid");
    expect(messages[1]?.message).toMatch(/2 updates[\s\S]*packed[\s\S]*shipped/);
    // It warned that a week this short is for simulators and tests only.
    expect(run.output).toMatch(
      /bitrix.weekSeconds: 10, not Bitrix24's 604800: for simulators and tests only/,
    );
  }, 120_000);
});

describe("npm start: two portals, one of them an OAuth app", () => {
  const SUPPORT = "ab515f5d85a8b844d484f6ea75a2e494";
  const BILLING = "fedcba9876543210fedcba9876543210";
  const run = new NpmStart();
  beforeAll(async () => {
    await run.start(
      {
        portals: [
          { id: "main", openLines: { support: SUPPORT } },
          {
            id: "eu",
            oauth: EU_OAUTH,
            openLines: { billing: BILLING },
            rateLimit: { perSecond: 5, burst: 250 },
          },
        ],
        sources: appSource,
        routes: [
          appRoute(["order.support"], { portal: "main" }),
          appRoute(["order.billing"], { portal: "eu" }),
        ],
      },
      { APP_SECRET: SECRET, EU_ID: "eu.app", EU_SECRET: "eu-secret", EU_REFRESH: "eu-refresh" },
    );
  }, 180_000);
  afterAll(() => run.stop());

  it("delivers each route through its own portal, the OAuth one with tokens it refreshed itself", async () => {
    expect(await run.post("order.support", 7, "opened")).toBe(202);
    expect(await run.post("order.billing", 7, "invoiced")).toBe(202);
    const main = await run.waitFor("main", 1);
    const eu = await run.waitFor("eu", 1);
    expect(main.map((m) => [m.userId, m.code])).toEqual([[7, SUPPORT]]);
    expect(eu.map((m) => [m.userId, m.code])).toEqual([[7, BILLING]]);
    // One user, two portals: two weekly slots, so neither message waits for a digest.
    expect(eu[0]?.message).toContain("invoiced");
  }, 120_000);
});

describe("npm start -- --trace: one trace per event, exported over OTLP", () => {
  const run = new NpmStart();
  let collector: OtlpCollector;
  beforeAll(async () => {
    collector = await startOtlpCollector();
    await run.start(
      {
        portals: [{ id: "main", openLines: { support: "ab515f5d85a8b844d484f6ea75a2e494" } }],
        sources: appSource,
        routes: [appRoute(["order.*"])],
      },
      { APP_SECRET: SECRET, OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint },
      ["--trace"],
    );
  }, 180_000);
  afterAll(async () => {
    await run.stop();
    await collector?.close();
  });

  it("exports ingest's span, deliver's as its child and the Bitrix24 call's under it", async () => {
    expect(run.output).toContain(`tracing:   OTLP to ${collector.endpoint}`);
    expect(await run.post("order.paid", 9, "paid")).toBe(202);
    expect(await run.waitFor("main", 1)).toHaveLength(1);
    // Spans leave in batches; stopping flushes what is left.
    await run.stop();
    const { server, consumer, client } = deliverySpans(collector.spans);
    expect(consumer?.traceId).toBe(server?.traceId);
    expect(consumer?.parentSpanId).toBe(server?.spanId);
    expect(client?.traceId).toBe(server?.traceId);
    expect(client?.parentSpanId).toBe(consumer?.spanId);
    expect(attribute(client, "bitrix24.portal")).toBe("main");
    expect(Number(attribute(client, "http.response.status_code"))).toBe(200);
  }, 120_000);
});
