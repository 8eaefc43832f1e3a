import { afterEach, describe, expect, it } from "vitest";
import { makeBitrixWebhookClient } from "../../functions/adapters/bitrix-client";
import type { RenderedMessage } from "../../functions/core/job";
import type { BitrixClient } from "../../functions/core/ports";
import { type BitrixSimulator, startBitrixSimulator } from "../../functions/local/bitrix-simulator";

/**
 * The client's `sendBatch` against the simulator over HTTP (docs/bitrix24.md, "Rate limits"):
 * each command's answer goes through the same error table as a single call's, and a batch with no
 * answer of its own is ambiguous for every message in it.
 */

const LINE = "ab515f5d85a8b844d484f6ea75a2e494";
const TIMEOUT_MS = 2000;

let nextUser = 3000;
const msg = (extra: Partial<RenderedMessage> = {}): RenderedMessage => ({
  userId: nextUser++,
  message: "Order [b]#42[/b] shipped.",
  ...extra,
});

describe("sendBatch against the simulator", () => {
  let sim: BitrixSimulator;
  let client: BitrixClient;
  afterEach(() => sim.close());

  async function start(options: Partial<Parameters<typeof startBitrixSimulator>[0]> = {}) {
    sim = await startBitrixSimulator({
      openLineCodes: [LINE],
      rateLimit: { burst: 1000, perSecond: 1000 },
      ...options,
    });
    client = makeBitrixWebhookClient({
      webhookUrl: sim.webhookUrl,
      timeoutMs: TIMEOUT_MS,
      ...(options.now && { now: options.now }),
    });
  }
  const sendBatch = (messages: RenderedMessage[]) => {
    if (!client.sendBatch) throw new Error("the webhook client sends batches");
    return client.sendBatch(LINE, messages);
  };

  it("gives each message its own command's answer; one user's limit fails no other", async () => {
    await start();
    const attach = [{ MESSAGE: "Total: 10 €", COLOR: "#29619b" }, { DELIMITER: { SIZE: 200 } }];
    const keyboard = [{ TEXT: "Open", LINK: "https://example.com/o/42" }];
    const limited = msg();
    sim.messageFromAnotherApp(LINE, limited.userId);
    const rich = msg({ attach, keyboard, urlPreview: false });
    const results = await sendBatch([msg(), limited, rich, msg({ message: "  " })]);
    expect(results).toEqual([
      { kind: "sent" },
      { kind: "limited", code: "USER_MESSAGE_LIMIT" },
      { kind: "sent" },
      { kind: "permanent", code: "MESSAGE_EMPTY", status: 400 },
    ]);
    expect(sim.stats.requests).toBe(1);
    // ATTACH and KEYBOARD travel inside the command's query (PHP form encoding) and arrive whole.
    const landed = sim.messages.find((m) => m.userId === rich.userId);
    expect(landed).toMatchObject({ urlPreview: "N", message: rich.message });
    expect(JSON.stringify(landed?.attach)).toContain("Total: 10 €");
    // Read as PHP reads it: an indexed level is a list, as the message was built.
    expect(landed?.keyboard).toEqual([{ TEXT: "Open", LINK: "https://example.com/o/42" }]);
    expect(client.operating?.()?.operatingSeconds).toBeCloseTo(0.2);
  });

  it("is ambiguous for every message when the batch gets no answer", async () => {
    await start();
    sim.inject({ hangMs: 5000, land: true });
    const timedOut = await sendBatch([msg(), msg()]);
    expect(timedOut).toEqual([
      { kind: "ambiguous", code: "TIMEOUT" },
      { kind: "ambiguous", code: "TIMEOUT" },
    ]);
    // It ran: both landed although neither was answered.
    expect(sim.stats.accepted).toBe(2);
    sim.inject({ status: 502, ran: true });
    expect(await sendBatch([msg(), msg()])).toEqual([
      { kind: "ambiguous", code: "HTTP_502" },
      { kind: "ambiguous", code: "HTTP_502" },
    ]);
  });

  it("retries every message when the bucket refused the request", async () => {
    const frozen = Date.now();
    await start({ rateLimit: { burst: 1, perSecond: 1 }, now: () => frozen });
    expect(await sendBatch([msg(), msg()])).toEqual([{ kind: "sent" }, { kind: "sent" }]);
    const refused = await sendBatch([msg(), msg()]);
    expect(refused.map((r) => [r.kind, "code" in r && r.code])).toEqual([
      ["retry", "QUERY_LIMIT_EXCEEDED"],
      ["retry", "QUERY_LIMIT_EXCEEDED"],
    ]);
    expect(sim.stats.accepted).toBe(2);
  });

  it("answers OPERATION_TIME_LIMIT per command, waiting for the reset the answer reported", async () => {
    // One frozen clock for the simulator and the client: the wait is read off the answer alone.
    const frozen = Date.parse("2030-01-07T09:00:00Z");
    await start({
      now: () => frozen,
      operating: { limitSeconds: 0.1, windowSeconds: 600, costMs: 100 },
    });
    const [, second] = await sendBatch([msg(), msg()]);
    expect(second).toMatchObject({ kind: "retry", code: "OPERATION_TIME_LIMIT" });
    const resetAtMs = client.operating?.()?.resetAtMs ?? 0;
    expect(resetAtMs).toBeGreaterThan(frozen);
    // Clamped to Bitrix24's window (10 minutes) at most, and waits until the reset (the answer
    // gives it in whole seconds).
    const retryAfterMs = second?.kind === "retry" ? second.retryAfterMs : 0;
    expect(retryAfterMs).toBeLessThanOrEqual(600_000);
    expect(retryAfterMs).toBeGreaterThanOrEqual(resetAtMs - frozen - 1000);
    const whole = await sendBatch([msg()]);
    expect(whole).toMatchObject([{ kind: "retry", code: "OPERATION_TIME_LIMIT", status: 429 }]);
  });

  it("never puts two messages for one user in one batch", async () => {
    await start();
    const one = msg();
    await expect(sendBatch([one, { ...one, message: "again" }])).rejects.toThrow(
      /one message per user/,
    );
    expect(sim.stats.requests).toBe(0);
  });
});
