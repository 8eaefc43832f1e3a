import { afterEach, describe, expect, it } from "vitest";
import { phpQuery } from "../../functions/core/bitrix-batch";
import { type BitrixSimulator, startBitrixSimulator } from "../../functions/local/bitrix-simulator";

/**
 * The simulator's `batch` and operating limit as docs/bitrix24.md describes them, over raw HTTP:
 * per-command `result` / `result_error` with HTTP 200, one bucket token per request, an operating
 * cost per command billed to its method, 429 OPERATION_TIME_LIMIT past the budget, and the
 * `time.operating` / `operating_reset_at` figures on every answer.
 */

const LINE = "ab515f5d85a8b844d484f6ea75a2e494";
const METHOD = "imopenlines.network.message.add";
const T0 = Date.parse("2030-01-07T09:00:00Z");

interface Batch {
  result: {
    result: Record<string, unknown>;
    result_error: Record<string, { error: string }>;
    result_time: Record<string, { operating: number; operating_reset_at: number }>;
  };
  time: { operating: number; operating_reset_at: number };
}

describe("the simulator's batch method", () => {
  let sim: BitrixSimulator;
  let now = T0;
  afterEach(() => sim.close());

  const start = (options: Partial<Parameters<typeof startBitrixSimulator>[0]> = {}) =>
    startBitrixSimulator({ openLineCodes: [LINE], now: () => now, ...options }).then((s) => {
      sim = s;
    });

  async function post(method: string, params: unknown) {
    const res = await fetch(`${sim.webhookUrl}${method}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(params),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }
  const command = (userId: number, message = `hello ${userId}`) =>
    `${METHOD}?${new URLSearchParams({ CODE: LINE, USER_ID: String(userId), MESSAGE: message })}`;

  it("answers every command on its own, with HTTP 200 when some fail", async () => {
    now = T0;
    await start();
    sim.messageFromAnotherApp(LINE, 2);
    const answer = await post("batch", {
      halt: 0,
      cmd: { m1: command(1), m2: command(2), m3: command(3, "   ") },
    });
    expect(answer.status).toBe(200);
    const { result } = answer.body as unknown as Batch;
    expect(result.result).toEqual({ m1: true });
    expect(result.result_error.m2?.error).toBe("USER_MESSAGE_LIMIT");
    expect(result.result_error.m3?.error).toBe("MESSAGE_EMPTY");
    expect(sim.messages.map((m) => m.userId)).toEqual([1]);
    // Each command spent 50 ms of the method's operating time, failures too.
    expect(result.result_time.m1?.operating).toBeCloseTo(0.05);
    expect((answer.body as unknown as Batch).time.operating).toBeCloseTo(0.15);
  });

  it("reads a command's KEYBOARD and ATTACH as PHP does: indexed levels are lists", async () => {
    now = T0;
    await start();
    const keyboard = [{ TEXT: "Open", LINK: "https://example.com/1" }];
    const attach = [{ MESSAGE: "[b]paid[/b]" }, { LINK: { LINK: "https://example.com/2" } }];
    const answer = await post("batch", {
      halt: 0,
      cmd: {
        m0: `${METHOD}?${phpQuery({ CODE: LINE, USER_ID: 1, MESSAGE: "Hi", KEYBOARD: keyboard, ATTACH: attach })}`,
      },
    });
    expect((answer.body as unknown as Batch).result.result).toEqual({ m0: true });
    // Drawn as the inbox draws a single call's message (before: objects keyed "0", "1").
    expect(sim.messages[0]?.keyboard).toEqual(keyboard);
    expect(sim.messages[0]?.attach).toEqual(attach);
  });

  it("takes one token of the bucket for a request of 50 commands", async () => {
    now = T0;
    await start({ rateLimit: { burst: 2, perSecond: 0.001 } });
    const cmd = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`m${i}`, command(i + 1)]));
    const first = await post("batch", { cmd });
    expect(first.status).toBe(200);
    expect(Object.keys((first.body as unknown as Batch).result.result)).toHaveLength(50);
    expect((await post("batch", { cmd: { a: command(100) } })).status).toBe(200);
    // The bucket of two is full now: the third request is refused whole.
    const third = await post("batch", { cmd: { a: command(101) } });
    expect(third.status).toBe(503);
    expect(third.body.error).toBe("QUERY_LIMIT_EXCEEDED");
    expect(sim.stats.accepted).toBe(51);
    expect(sim.stats.batches).toBe(2);
  });

  it("refuses more than 50 commands, and a batch inside a batch", async () => {
    now = T0;
    await start();
    const cmd = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`m${i}`, command(i + 1)]));
    const tooLong = await post("batch", { cmd });
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.error).toBe("ERROR_BATCH_LENGTH_EXCEEDED");
    const nested = await post("batch", { cmd: { a: `batch?cmd[x]=${encodeURIComponent("x")}` } });
    expect((nested.body as unknown as Batch).result.result_error.a?.error).toBe(
      "ERROR_BATCH_METHOD_NOT_ALLOWED",
    );
    expect(sim.stats.accepted).toBe(0);
  });

  it("bills each command to its method and answers 429 past the operating budget", async () => {
    now = T0;
    // 1 s per 60 s window, 100 ms per command: 10 commands.
    await start({ operating: { limitSeconds: 1, windowSeconds: 60, costMs: 100 } });
    const cmd = Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`m${i}`, command(i + 1)]));
    const first = (await post("batch", { cmd })).body as unknown as Batch;
    expect(first.time.operating).toBeCloseTo(0.8);
    // The oldest basket (6 s each) started at T0's basket and drops out one window later.
    const basketStart = Math.floor(T0 / 6000) * 6000;
    expect(first.time.operating_reset_at).toBe((basketStart + 60_000) / 1000);

    // The check runs before each command: the one that crosses the limit runs, the next does not.
    now += 1000;
    const more = Object.fromEntries(
      Array.from({ length: 4 }, (_, i) => [`n${i}`, command(i + 20)]),
    );
    const second = (await post("batch", { cmd: more })).body as unknown as Batch;
    expect(Object.keys(second.result.result)).toEqual(["n0", "n1"]);
    expect(second.result.result_error.n2?.error).toBe("OPERATION_TIME_LIMIT");
    expect(second.result.result_error.n3?.error).toBe("OPERATION_TIME_LIMIT");

    // Now the method is spent: a whole request answers 429, alone or in a batch, with no timings.
    const alone = await post(METHOD, { CODE: LINE, USER_ID: 40, MESSAGE: "hi" });
    expect(alone.status).toBe(429);
    expect(alone.body).toEqual({
      error: "OPERATION_TIME_LIMIT",
      error_description: expect.any(String),
    });
    expect((await post("batch", { cmd: { a: command(41) } })).status).toBe(429);
    expect(sim.stats.rejectedOperating).toBe(4);

    // Once the window has passed the oldest basket, the method runs again.
    now = basketStart + 60_000;
    const later = await post(METHOD, { CODE: LINE, USER_ID: 40, MESSAGE: "hi" });
    expect(later.status).toBe(200);
    expect((later.body.time as Batch["time"]).operating).toBeCloseTo(0.1);
  });

  it("reports the operating figures on a single call too", async () => {
    now = T0;
    await start();
    const answer = await post(METHOD, { CODE: LINE, USER_ID: 7, MESSAGE: "hi" });
    expect(answer.status).toBe(200);
    const time = answer.body.time as Batch["time"];
    expect(time.operating).toBeCloseTo(0.05);
    expect(time.operating_reset_at).toBeGreaterThan(T0 / 1000);
  });
});
