import { describe, expect, it } from "vitest";
import { makeDynamoRateLimiter } from "../../functions/adapters/dynamo/rate-limiter";
import type { Config } from "../../functions/core/config";
import { makeDeliver } from "../../functions/core/deliver";
import type { EventJob } from "../../functions/core/job";
import { MAX_LIMITED_TRIES } from "../../functions/core/ledger";
import type { Metrics } from "../../functions/core/metrics";
import type { SendResult } from "../../functions/core/ports";
import { useTable } from "../support/dynamo-servers";
import {
  answers,
  done,
  ledgerConfig,
  ledgerWorlds,
  SECOND,
  type scriptedBitrix,
  storeDeps,
} from "../support/ledger-fixtures";

/**
 * The deliver use case (the weekly ledger of docs/ledger.md) against the real stores on dynalite, with
 * a scripted Bitrix24 and a fake clock: what each answer does to the slot, the digest and the
 * outcome. The recorded faults are in ledger-regressions.test.ts, the random interleavings in
 * test/property.
 */

const TABLE = "hookline-deliver";

describe("deliver, against real stores", () => {
  const table = useTable(TABLE);
  const world = ledgerWorlds(table, TABLE);

  function setup(
    script: Parameters<typeof scriptedBitrix> = [],
    options: { config?: Config; rate?: { perSecond: number; burst: number } } = {},
  ) {
    const counted: string[] = [];
    const metrics: Metrics = {
      count: (name, dimensions) =>
        void counted.push([name, ...Object.values(dimensions ?? {})].join(":")),
      milliseconds: () => {},
    };
    const w = world({
      config: options.config ?? ledgerConfig({ maxEvents: 2 }),
      script,
      metrics,
      ...(options.rate && { rate: options.rate }),
    });
    return {
      ...w,
      counted,
      job: (name: string, userId = 1, over: Partial<EventJob> = {}): EventJob =>
        w.job(name, userId, { message: `[b]${name}[/b] for user ${userId}`, ...over }),
    };
  }

  it("sends, holds the slot for the week, and defers the user's next event to when the week frees", async () => {
    const t = setup([answers.sent]);
    const first = t.job("first");
    const sentAt = t.clock.ms;
    expect(await t.attempt(first)).toEqual(done);
    expect((await t.outcome(first))?.outcome).toBe("sent");

    t.clock.advance(SECOND);
    const second = t.job("second");
    expect(await t.attempt(second)).toEqual(done);
    expect(t.bitrix.calls).toEqual(["[b]first[/b] for user 1"]);
    // A lone send keeps its intent as the week's record (docs/ledger.md, "Writes per message"):
    // used until a week and the margin after the lease the intent was written in.
    expect(await t.outcome(second)).toMatchObject({
      outcome: "deferred",
      dueAt: new Date(sentAt + t.timings.leaseMs + t.timings.weekMs + t.timings.weekMarginMs),
    });
    expect(t.counted).toEqual(["Messages:sent", "Messages:deferred"]);
  });

  it("records a redelivered sent job as sent without calling Bitrix24 again", async () => {
    const t = setup([answers.sent]);
    const job = t.job("job");
    await t.attempt(job);
    t.clock.advance(t.timings.leaseMs);
    expect(await t.attempt(job, 2)).toEqual(done);
    expect(t.bitrix.calls).toHaveLength(1);
    expect((await t.outcome(job))?.outcome).toBe("sent");
  });

  it("suppresses an event of a drop route when the week is used, and never sends it", async () => {
    const t = setup([answers.sent]);
    await t.attempt(t.job("first"));
    const dropped = t.job("dropped", 1, { whenLimited: "drop" });
    expect(await t.attempt(dropped)).toEqual(done);
    expect(await t.outcome(dropped)).toMatchObject({ outcome: "suppressed" });
    expect(t.bitrix.calls).toHaveLength(1);
  });

  it("sends a due digest as one message, oldest first, and records each event sent in it", async () => {
    const t = setup([answers.sent, answers.sent]);
    await t.attempt(t.job("first"));
    const waiting = ["a", "b", "c"].map((name) => {
      t.clock.advance(SECOND);
      return t.job(name);
    });
    for (const job of waiting) expect(await t.attempt(job)).toEqual(done);
    const dueAt = (await t.outcome(waiting[0] as EventJob))?.dueAt?.getTime() ?? 0;

    t.clock.set(dueAt);
    expect(await t.attempt(t.flush())).toEqual(done);
    expect(t.bitrix.calls).toHaveLength(2);
    const digest = t.bitrix.calls[1] ?? "";
    // maxEvents 2: the two oldest in full, the third counted.
    expect(digest).toMatch(/\[b\]3 updates\[\/b\]/);
    expect(digest.indexOf("[b]a[/b]")).toBeLessThan(digest.indexOf("[b]b[/b]"));
    expect(digest).not.toContain("[b]c[/b]");
    expect(digest).toMatch(/and 1 more/);
    const records = await Promise.all(waiting.map((job) => t.outcome(job)));
    expect(records.map((record) => record?.outcome)).toEqual(["sent", "sent", "sent"]);
    expect(new Set(records.map((record) => record?.digestId)).size).toBe(1);
    expect(records[0]?.digestId).toMatch(/^digest-/);

    // The digest used the week: a flush now finds nothing to send.
    expect(await t.attempt(t.flush())).toEqual(done);
    expect(t.bitrix.calls).toHaveLength(2);
  });

  it("sends a digest of one event as that event's own message", async () => {
    const t = setup([answers.sent, answers.sent]);
    await t.attempt(t.job("first"));
    const attach = [{ MESSAGE: "details" }];
    const only = t.job("only", 1, {
      attach,
      keyboard: [{ TEXT: "Open", LINK: "https://x.example" }],
    });
    await t.attempt(only);
    t.clock.set((await t.outcome(only))?.dueAt?.getTime() ?? 0);
    const seen: unknown[] = [];
    const deliver = makeDeliver({
      ...storeDeps({
        config: ledgerConfig(),
        db: table.db,
        table: TABLE,
        portal: t.portal,
        clock: t.clock,
        client: {
          async sendNetworkMessage(_code, message) {
            seen.push(message);
            return answers.sent;
          },
          sendSystemNotification: async () => answers.sent,
        },
      }),
    });
    expect(
      await deliver({
        message: t.flush(),
        receiveCount: 1,
        queuedAt: t.clock.ms,
        deadline: t.clock.ms + 50_000,
      }),
    ).toEqual(done);
    expect(seen).toEqual([
      {
        userId: 1,
        message: "[b]only[/b] for user 1",
        attach,
        keyboard: [{ TEXT: "Open", LINK: "https://x.example" }],
      },
    ]);
  });

  it("lets an event join the user's pending digest when the slot is free: the older event goes first", async () => {
    const t = setup([answers.limited, answers.sent]);
    const older = t.job("older");
    // Another app used the week: the older event waits a day.
    expect(await t.attempt(older)).toEqual(done);
    expect((await t.outcome(older))?.outcome).toBe("deferred");
    const dueAt = (await t.outcome(older))?.dueAt?.getTime() ?? 0;

    t.clock.set(dueAt + SECOND);
    const newer = t.job("newer");
    expect(await t.attempt(newer)).toEqual(done);
    expect(t.bitrix.calls).toHaveLength(2);
    const digest = t.bitrix.calls[1] ?? "";
    expect(digest.indexOf("[b]older[/b]")).toBeGreaterThan(-1);
    expect(digest.indexOf("[b]older[/b]")).toBeLessThan(digest.indexOf("[b]newer[/b]"));
    expect((await t.outcome(older))?.outcome).toBe("sent");
    expect((await t.outcome(newer))?.outcome).toBe("sent");
  });

  it("defers a day on USER_MESSAGE_LIMIT, and fails after the last of its tries", async () => {
    const limitedAlways = Array.from({ length: MAX_LIMITED_TRIES }, () => answers.limited);
    const t = setup(limitedAlways);
    const job = t.job("job");
    const day = Math.ceil(t.timings.weekMs / 7);
    expect(await t.attempt(job)).toEqual(done);
    for (let tries = 1; tries < MAX_LIMITED_TRIES; tries++) {
      const record = await t.outcome(job);
      expect(record?.outcome).toBe("deferred");
      expect(record?.dueAt?.getTime()).toBe(t.clock.ms + day);
      t.clock.advance(day);
      expect(await t.attempt(t.flush())).toEqual(done);
    }
    expect(await t.outcome(job)).toMatchObject({
      outcome: "failed",
      bitrixCode: "USER_MESSAGE_LIMIT",
    });
    expect(t.bitrix.calls).toHaveLength(MAX_LIMITED_TRIES);
  });

  it("keeps the message on a configuration fault, alarms, retries slowly, and gives the slot back", async () => {
    const t = setup([answers.config]);
    const job = t.job("job");
    const result = await t.attempt(job);
    expect(result.status).toBe("retry");
    expect(result.status === "retry" && result.delayMs).toBeGreaterThanOrEqual(
      t.timings.maxBackoffMs,
    );
    expect(await t.outcome(job)).toBeUndefined();
    expect(t.counted).toContain("BitrixConfigFaults");
    const claim = await t.slots.claim(t.key(), { jobId: "next" }, t.clock.now(), t.timings.leaseMs);
    expect(claim.status).toBe("claimed");
  });

  it("on 503 gives the slot back, holds the whole portal back, and retries after the hint", async () => {
    const calledAt: number[] = [];
    const sentNow = () => {
      calledAt.push(t.clock.ms);
      return answers.sent;
    };
    const t = setup([answers.overloaded, sentNow, sentNow]);
    const job = t.job("job");
    const failedAt = t.clock.ms;
    const first = await t.attempt(job);
    expect(first.status).toBe("retry");
    expect(first.status === "retry" && first.delayMs).toBeGreaterThanOrEqual(1500);
    // Another user's message waits out the portal's hold before it calls...
    const other = t.job("other", 2);
    expect(await t.attempt(other)).toEqual(done);
    expect(calledAt[0]).toBeGreaterThanOrEqual(failedAt + 1500);
    // ...and the first one goes out after its delay.
    t.clock.advance(first.status === "retry" ? first.delayMs : 0);
    expect(await t.attempt(job, 2)).toEqual(done);
    expect(t.bitrix.calls).toHaveLength(3);
    expect((await t.outcome(job))?.outcome).toBe("sent");
  });

  it("after an unanswered send keeps the slot, retries after the lease, and reads USER_MESSAGE_LIMIT as landed", async () => {
    const t = setup([answers.timeout, answers.limited]);
    const job = t.job("job");
    const first = await t.attempt(job);
    expect(first.status).toBe("retry");
    expect(first.status === "retry" && first.delayMs).toBeGreaterThanOrEqual(
      t.timings.leaseMs - SECOND,
    );
    const intruder = await t.slots.claim(t.key(), { jobId: "intruder" }, t.clock.now(), 1000);
    expect(intruder.status).toBe("busy");

    t.clock.advance(t.timings.leaseMs);
    expect(await t.attempt(job, 2)).toEqual(done);
    expect(await t.outcome(job)).toMatchObject({
      outcome: "sent",
      reason: expect.stringMatching(/earlier unanswered attempt landed/),
    });
  });

  it("records failed, exhausted, when the retry window runs out on 5xx, then hands it to the dead-letter queue", async () => {
    const t = setup([answers.http500]);
    const job = t.job("job");
    const queuedAt = t.clock.ms - t.timings.retryForMs + SECOND;
    const result = await t.attempt(job, 30, queuedAt);
    expect(result).toMatchObject({ status: "dead-letter" });
    expect(await t.outcome(job)).toMatchObject({ outcome: "failed", exhausted: true });
  });

  it("comes back later, holding nothing, when the bucket is booked beyond the lease", async () => {
    const t = setup([], { rate: { perSecond: 1, burst: 1 } });
    await makeDynamoRateLimiter(table.db, TABLE, {
      portal: t.portal,
      perSecond: 1,
      burst: 1,
    }).penalize(t.clock.now(), 60 * SECOND);
    const job = t.job("job");
    expect((await t.attempt(job)).status).toBe("retry");
    expect(t.bitrix.calls).toHaveLength(0);
    const claim = await t.slots.claim(t.key(), { jobId: "next" }, t.clock.now(), 1000);
    expect(claim.status).toBe("claimed");
  });

  describe("without the weekly limit (partner portals)", () => {
    const config = () => ledgerConfig({ weeklyLimit: false });

    it("sends every event, several a week", async () => {
      const t = setup([answers.sent, answers.sent], { config: config() });
      const [a, b] = [t.job("a"), t.job("b")];
      expect(await t.attempt(a)).toEqual(done);
      expect(await t.attempt(b)).toEqual(done);
      expect(t.bitrix.calls).toHaveLength(2);
      expect((await t.outcome(b))?.outcome).toBe("sent");
    });

    it("records an unanswered send as unknown and never repeats it", async () => {
      const t = setup([answers.timeout], { config: config() });
      const job = t.job("job");
      expect(await t.attempt(job, 1)).toEqual(done);
      expect((await t.outcome(job))?.outcome).toBe("unknown");
      t.clock.advance(t.timings.leaseMs);
      expect(await t.attempt(job, 2)).toEqual(done);
      expect(t.bitrix.calls).toHaveLength(1);
    });

    it("sends a copy once: the other copy comes back after the attempt's lease", async () => {
      let answer: (result: SendResult) => void = () => {};
      const inFlight = new Promise<SendResult>((resolve) => {
        answer = resolve;
      });
      const t = setup([() => inFlight], { config: config() });
      const job = t.job("job");
      const first = t.attempt(job);
      for (let i = 0; i < 2000 && t.bitrix.calls.length === 0; i++) {
        await new Promise<void>((resolve) => setTimeout(resolve, 1));
      }
      expect((await t.attempt(job)).status).toBe("retry");
      answer(answers.sent);
      expect(await first).toEqual(done);
      t.clock.advance(t.timings.leaseMs);
      expect(await t.attempt(job, 2)).toEqual(done);
      expect(t.bitrix.calls).toHaveLength(1);
    });
  });
});
