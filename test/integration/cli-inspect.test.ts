import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../../cli/program";
import { makeLocalAdmin } from "../../functions/local/local-admin";
import {
  OPEN_LINE_CODE,
  postWebhook,
  runDirFor,
  startTestBridge,
  TEST_SECRETS,
  testConfig,
} from "../support/bridge";
import { transcriptIo } from "../support/cli-io";
import { standardWebhookRequest } from "../support/signers";

const TABLE = "hookline-cli-inspect";

/** The parts of the commands' --json documents these tests read. */
interface CliJson {
  events: { eventId: string; messages: { dueAt?: string }[] }[];
  digests: { dueAt?: string }[];
  state?: string;
  freeAt?: string;
}
type Bridge = Awaited<ReturnType<typeof startTestBridge>>;

/**
 * events, digests, slot and replay against a running local bridge, found as the CLI finds
 * `npm start`: through the state file in its working directory.
 */
describe("hookline events, digests, slot and replay on the local run", () => {
  const config = testConfig();
  let bridge: Bridge;
  let cwd: string;

  beforeAll(async () => {
    bridge = await startTestBridge(config, {
      tableName: TABLE,
      pages: (running) => [makeLocalAdmin({ config, bridge: running })],
    });
    cwd = runDirFor(
      bridge,
      {
        bitrix: { openLineCode: OPEN_LINE_CODE },
        sources: [{ id: "app", type: "standard-webhooks", secret: "env:APP_SECRET" }],
      },
      { dynamoCredentials: bridge.dynamoCredentials, tableName: TABLE },
    );
    // Two orders for user 31: the first is sent, the second waits in the user's digest.
    const order = (orderId: string) => ({
      type: "order.paid",
      data: { orderId, bitrixUserId: 31, note: "paid" },
    });
    const first = standardWebhookRequest(TEST_SECRETS.APP_SECRET, order("A-1"), "msg_first");
    expect((await postWebhook(bridge, "app", first)).status).toBe(202);
    await bridge.queue.idle();
    const second = standardWebhookRequest(TEST_SECRETS.APP_SECRET, order("A-2"), "msg_second");
    expect((await postWebhook(bridge, "app", second)).status).toBe(202);
    await bridge.queue.idle();
  });
  afterAll(() => bridge?.close());

  async function cli(...argv: string[]): Promise<{ code: number; json: CliJson; text: string }> {
    const run = transcriptIo({ env: {}, cwd });
    const code = await runCli(argv, run.io);
    const text = run.text();
    let json = {} as CliJson;
    try {
      json = JSON.parse(text) as CliJson;
    } catch {
      // Text output.
    }
    return { code, json, text };
  }

  it("events: newest first, each message's outcome, the deferred one with its digest's due time", async () => {
    const { code, json } = await cli("events", "--json");
    expect(code).toBe(0);
    const ids = json.events.map((event) => event.eventId);
    expect(ids.indexOf("msg_second")).toBeLessThan(ids.indexOf("msg_first"));
    const second = json.events.find((event) => event.eventId === "msg_second");
    expect(second).toMatchObject({
      sourceId: "app",
      eventName: "order.paid",
      messages: [{ jobId: "app:msg_second:2", outcome: "deferred", userId: 31 }],
    });
    expect(Date.parse(second?.messages[0]?.dueAt ?? "")).toBeGreaterThan(Date.now());

    const sent = await cli("events", "--outcome", "sent", "--user", "31", "--json");
    expect(sent.json.events.map((event) => event.eventId)).toEqual(["msg_first"]);
    const text = await cli("events", "--source", "app");
    expect(text.text).toMatch(/order\.paid\tmsg_second\t2\tdeferred\t31\tdigest due \d{4}-/);
  });

  it("events --event: one event by its source and id, read by key whatever the index lists", async () => {
    const found = await cli("events", "--event", "app:msg_first", "--json");
    expect(found.code).toBe(0);
    expect(found.json.events).toEqual([
      expect.objectContaining({
        sourceId: "app",
        eventId: "msg_first",
        messages: [expect.objectContaining({ jobId: "app:msg_first:2", outcome: "sent" })],
      }),
    ]);
    const none = await cli("events", "--event", "app:msg_nowhere");
    expect(none.code).toBe(0);
    expect(none.text).toContain("no outcome for app:msg_nowhere");
    const malformed = await cli("events", "--event", "msg_first");
    expect(malformed.code).toBe(1);
    expect(malformed.text).toContain("--event msg_first: use <source>:<id>");
    const typo = await cli("events", "--event", "apq:msg_first");
    expect(typo.code).toBe(1);
    expect(typo.text).toContain('no source "apq" in the config');
  });

  it("events: an unknown --source is an error that names the sources and suggests the nearest", async () => {
    const typo = await cli("events", "--source", "apq");
    expect(typo.code).toBe(1);
    expect(typo.text).toContain(
      'error: --source apq: no source "apq" in the config (sources: app); did you mean "app"?',
    );
    const unknown = await cli("events", "--source", "zzzzzzz");
    expect(unknown.code).toBe(1);
    expect(unknown.text).toContain('no source "zzzzzzz" in the config (sources: app)');
    expect(unknown.text).not.toContain("did you mean");
  });

  it("digests: the user's pending digest and when it is due", async () => {
    const { code, json } = await cli("digests", "--user", "31", "--json");
    expect(code).toBe(0);
    expect(json.digests).toEqual([
      expect.objectContaining({
        userId: 31,
        openLineCode: OPEN_LINE_CODE,
        dueAt: expect.stringMatching(/^\d{4}-/),
        events: [expect.objectContaining({ eventId: "msg_second", message: "Order A-2: paid" })],
      }),
    ]);
  });

  it("slot: used by the first message; --reset frees it and makes the digest due now", async () => {
    const before = await cli("slot", "31", "--json");
    expect(before.json).toMatchObject({
      state: "sent",
      userId: 31,
      holderJob: "app:msg_first:2",
    });
    expect(Date.parse(before.json.freeAt ?? "")).toBeGreaterThan(Date.now());

    const reset = await cli("slot", "31", "--reset");
    expect(reset.code).toBe(0);
    expect(reset.text).toContain(
      "reset user 31: slot cleared, simulator's week forgotten, pending digest of 1 event(s) due now",
    );
    expect((await cli("slot", "31", "--json")).json.state).toBe("free");
    const digests = await cli("digests", "--user", "31", "--json");
    expect(Date.parse(digests.json.digests[0]?.dueAt ?? "")).toBeLessThanOrEqual(Date.now());
  });

  it("replay: one event's dead letters, then all of them, back through the queue", async () => {
    const job = (eventId: string, userId: number) =>
      JSON.stringify({
        v: 2,
        kind: "event",
        jobId: `shop:${eventId}:3`,
        sourceId: "shop",
        eventId,
        eventName: "order.paid",
        receivedAt: new Date().toISOString(),
        userId,
        message: `replayed ${eventId}`,
        whenLimited: "digest",
      });
    await bridge.queue.send(job("dead-1", 41), "retry window over");
    await bridge.queue.send(job("dead-2", 42), "retry window over");

    const one = await cli("replay", "--event", "shop:dead-1");
    expect(one.text).toContain("replayed 1 dead letters of shop:dead-1 from the local run");
    await bridge.queue.idle();
    expect(bridge.simulator?.messages.some((m) => m.message === "replayed dead-1")).toBe(true);
    expect(bridge.queue.deadLetters).toHaveLength(1);

    const all = await cli("replay", "--dead-letters", "--json");
    expect(all.json).toMatchObject({ scope: "dead-letters", moved: 1 });
    await bridge.queue.idle();
    expect(bridge.simulator?.messages.some((m) => m.message === "replayed dead-2")).toBe(true);
  });

  it("says what to do when no local run is found", async () => {
    const run = transcriptIo({ env: {}, cwd: mkdtempSync(join(tmpdir(), "hookline-nothing-")) });
    const code = await runCli(["events"], run.io);
    expect(code).toBe(1);
    expect(run.text()).toContain("no local run found");
  });
});
