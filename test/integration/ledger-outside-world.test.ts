import { DeleteItemCommand, GetItemCommand } from "@aws-sdk/client-dynamodb";
import { describe, expect, it } from "vitest";
import { makeDynamoOutcomeStore } from "../../functions/adapters/dynamo/outcomes";
import { keys } from "../../functions/adapters/dynamo/table";
import { classifyBitrixAnswer } from "../../functions/core/bitrix-errors";
import { type DeliveryResult, makeDeliver } from "../../functions/core/deliver";
import type { QueueMessage } from "../../functions/core/job";
import { Metric, type Metrics } from "../../functions/core/metrics";
import type { FinalOutcome } from "../../functions/core/outcome";
import type { BitrixClient, SendResult } from "../../functions/core/ports";
import { useTable } from "../support/dynamo-servers";
import {
  answers,
  delayOf,
  done,
  expectDone,
  failing,
  type LedgerWorldFixture,
  ledgerConfig,
  ledgerWorlds,
  makeFakeQueue,
  makeLedgerWorld,
  olderWaiting,
  SECOND,
  scriptedBitrix,
  sweepOf,
  T0,
} from "../support/ledger-fixtures";
import { isInFlightMarker, isSlotClaim, resendingApplied } from "../support/ledger-sdk-resend";

/**
 * The weekly ledger against the faults the outside world produces (docs/ledger.md): answers of
 * Bitrix24 and its gateways, late copies and redrives, exceptions between claim and settle, the
 * SDK re-sending a conditional write that had applied. Each case runs the real `makeDeliver` on
 * the DynamoDB stores (dynalite) with a fake clock. Timings (ledgerConfig): a week of 3600 s,
 * margin 5 s, timeout 3 s, request limit 5 s, lease 12 s, retry window 600 s, backoff cap 60 s.
 */

const TABLE = "hookline-ledger-outside-world";

/** Bitrix24's (or its gateway's) HTTP answer, read by the real classifier. */
const http = (status: number, body: unknown): SendResult => classifyBitrixAnswer(status, body, T0);
const gateway502 = http(502, undefined);
const html500 = http(500, undefined);
const overloadLimit = http(503, { error: "OVERLOAD_LIMIT", error_description: "blocked" });
const wrongCode = http(400, { error: "CODE", error_description: "Open line code is incorrect" });

function recordingMetrics() {
  const counts: { name: string; dimensions?: Record<string, string> }[] = [];
  const metrics: Metrics = {
    count: (name, dimensions) => {
      counts.push({ name, ...(dimensions && { dimensions }) });
    },
    milliseconds() {},
  };
  return { metrics, counts };
}

describe("the weekly ledger against the outside world (dynalite, fake clock)", () => {
  const table = useTable(TABLE);

  const world = ledgerWorlds(table, TABLE);

  describe("5xx answers", () => {
    it.each([
      ["a gateway 502", gateway502],
      ["a 500 with an HTML body", html500],
    ])(
      "%s after Bitrix24 ran the method keeps the evidence: the retry's USER_MESSAGE_LIMIT records sent, and nothing goes out twice",
      async (_name, answer) => {
        const w = world({ script: [answer, answers.limited] });
        const job = w.job("gateway");
        const first = await w.attempt(job);
        w.clock.advance(Math.max(delayOf(first), w.timings.leaseMs));
        await expectDone(w, w.attempt(job, 2), 2);
        const record = await w.outcome(job);
        expect(record?.outcome).toBe("sent");
        expect(record?.reason).toMatch(/earlier unanswered attempt landed/);
      },
    );

    it("on a partner portal a gateway 502 ends unknown, never a blind resend", async () => {
      const w = world({ config: ledgerConfig({ weeklyLimit: false }), script: [gateway502] });
      const job = w.job("partner-502");
      await expectDone(w, w.attempt(job), 1);
      expect((await w.outcome(job))?.outcome).toBe("unknown");
    });

    it("503 OVERLOAD_LIMIT holds the whole portal for the long backoff and counts toward its alarm", async () => {
      const { metrics, counts } = recordingMetrics();
      const w = world({ script: [overloadLimit], metrics });
      const first = await w.attempt(w.job("overload-1", 1));
      expect(first.status).toBe("retry");
      expect(delayOf(first)).toBeGreaterThanOrEqual(w.timings.maxBackoffMs);
      // Another user's message a few seconds later does not hammer the blocked portal.
      w.clock.advance(5 * SECOND);
      const second = await w.attempt(w.job("overload-2", 2));
      expect(second.status).toBe("retry");
      expect(w.bitrix.calls).toHaveLength(1);
      expect(counts).toContainEqual({
        name: Metric.BitrixErrors,
        dimensions: { Code: "OVERLOAD_LIMIT" },
      });
    });

    it("a wrong open line code (CODE) keeps the message, retries without a hot loop, counts a config fault, and dead-letters it with failed only when the window is over", async () => {
      const { metrics, counts } = recordingMetrics();
      const w = world({ script: [wrongCode, wrongCode], metrics });
      const job = w.job("wrong-code");
      const queuedAt = w.clock.ms;
      const first = await w.attempt(job, 1, queuedAt);
      expect(first.status).toBe("retry");
      expect(delayOf(first)).toBeGreaterThanOrEqual(w.timings.maxBackoffMs);
      expect(await w.outcome(job)).toBeUndefined();
      expect(counts.some((count) => count.name === Metric.BitrixConfigFaults)).toBe(true);

      w.clock.set(queuedAt + w.timings.retryForMs - SECOND);
      const last = await w.attempt(job, 2, queuedAt);
      expect(last).toMatchObject({ status: "dead-letter" });
      const record = await w.outcome(job);
      expect(record?.outcome).toBe("failed");
      expect(record?.bitrixCode).toBe("CODE");
      expect(w.bitrix.calls).toHaveLength(2);
    });
  });

  describe("copies and redrives of a settled job", () => {
    it.each<[string, FinalOutcome]>([
      ["sent", "sent"],
      ["unknown (it had landed)", "unknown"],
      ["suppressed", "suppressed"],
    ])(
      "a copy that arrives after the week of a job already %s settles from its outcome and sends nothing",
      async (_name, outcome) => {
        const w = world();
        const job = w.job(`copy-${outcome}`);
        await makeDynamoOutcomeStore(table.db, TABLE).finish({
          jobId: job.jobId,
          sourceId: job.sourceId,
          eventId: job.eventId,
          eventName: job.eventName,
          userId: job.userId,
          outcome,
          reason: "settled earlier",
          at: w.clock.now(),
        });
        w.clock.advance(w.timings.weekMs + w.timings.weekMarginMs + SECOND);
        await expectDone(w, w.attempt(job), 0);
        expect((await w.outcome(job))?.outcome).toBe(outcome);
      },
    );

    it("a dead-letter redrive after the week of a job whose exhausted failure was later replaced by sent sends nothing", async () => {
      const w = world();
      const job = w.job("redrive");
      const store = makeDynamoOutcomeStore(table.db, TABLE);
      const base = {
        jobId: job.jobId,
        sourceId: job.sourceId,
        eventId: job.eventId,
        eventName: job.eventName,
        userId: job.userId,
        at: w.clock.now(),
      };
      await store.finish({
        ...base,
        outcome: "failed",
        reason: "retry window over",
        exhausted: true,
      });
      await store.finish({ ...base, outcome: "sent", reason: "sent" });
      w.clock.advance(w.timings.weekMs + w.timings.weekMarginMs + SECOND);
      await expectDone(w, w.attempt(job), 0);
    });

    it("an unknown is sent again only by the operator's explicit choice (replay --resend-unknown), never by a redrive", async () => {
      const w = world({ script: [answers.timeout] });
      const job = w.job("resend-unknown");
      const queuedAt = w.clock.ms - w.timings.retryForMs + 5 * SECOND;
      expect(await w.attempt(job, 7, queuedAt)).toMatchObject({ status: "dead-letter" });
      expect((await w.outcome(job))?.outcome).toBe("unknown");
      // The dead-letter redrive after the week: settles from the outcome, sends nothing.
      w.clock.advance(w.timings.weekMs + w.timings.weekMarginMs + SECOND);
      await expectDone(w, w.attempt(job), 1);

      const store = makeDynamoOutcomeStore(table.db, TABLE);
      expect(await store.allowResend([job.jobId, `${job.jobId}-no-such-route`])).toEqual([
        job.jobId,
      ]);
      await expectDone(w, w.attempt(job), 2);
      expect((await w.outcome(job))?.outcome).toBe("sent");
    });

    it("a copy that read no outcome just before another attempt's permanent rejection was recorded sends nothing once it holds the slot", async () => {
      const rejected = http(400, { error: "WRONG_REQUEST", error_description: "bad message" });
      // The copy's first read happened before the other attempt settled: it saw no outcome.
      let staleReads = 1;
      const w = world({
        script: [rejected, answers.sent],
        outcomes: (outcomes) => ({
          ...outcomes,
          get: (jobId) => (staleReads-- > 0 ? Promise.resolve(undefined) : outcomes.get(jobId)),
        }),
      });
      const job = w.job("copy-after-rejection");
      staleReads = 0;
      expect(await w.attempt(job)).toEqual(done);
      expect((await w.outcome(job))?.outcome).toBe("failed");
      staleReads = 1;
      await expectDone(w, w.attempt(job, 2), 1);
      expect((await w.outcome(job))?.outcome).toBe("failed");
    });

    it("a crash between a permanent rejection and its outcome write leaves no evidence of a send: the next attempt settles from the verdict noted on the slot", async () => {
      const rejected = http(400, { error: "WRONG_REQUEST", error_description: "bad message" });
      const w = world({
        script: [rejected, answers.limited],
        outcomes: (outcomes) => failing(outcomes, { finish: 3 }),
      });
      const job = w.job("crash-after-rejection");
      await expect(w.attempt(job)).rejects.toThrow(/finish failed/);
      w.clock.advance(w.timings.leaseMs + SECOND);
      // Not sent again, and not read as a send that may have landed: failed, with its code.
      await expectDone(w, w.attempt(job, 2), 1);
      const record = await w.outcome(job);
      expect(record?.outcome).toBe("failed");
      expect(record?.bitrixCode).toBe("WRONG_REQUEST");
      // The slot is free again: a later event goes out at once.
      await expectDone(w, w.attempt(w.job("after-rejection")), 2);
    });

    it("a copy after the week of a job sent through the ledger sends nothing", async () => {
      const w = world();
      const job = w.job("copy-after-week");
      expect(await w.attempt(job)).toEqual(done);
      w.clock.advance(w.timings.weekMs + w.timings.weekMarginMs + SECOND);
      await expectDone(w, w.attempt(job), 1);
    });
  });

  describe("what counts as evidence", () => {
    it("a rate-limiter error between claim and send is no evidence: another sender's USER_MESSAGE_LIMIT later defers, never records sent", async () => {
      const w = world({
        script: [answers.limited],
        limiter: (limiter) => failing(limiter, { reserve: 1 }),
      });
      const job = w.job("limiter-error");
      await expect(w.attempt(job)).rejects.toThrow(/reserve failed/);
      w.clock.advance(w.timings.leaseMs);
      await expectDone(w, w.attempt(job, 2), 1);
      expect((await w.outcome(job))?.outcome).toBe("deferred");
    });

    it("a failed release after a 503 QUERY_LIMIT_EXCEEDED is no evidence", async () => {
      const w = world({
        script: [answers.overloaded, answers.limited],
        slots: (slots) => failing(slots, { release: 1 }),
      });
      const job = w.job("release-error");
      const first = await w.attempt(job).catch(() => undefined);
      w.clock.advance(Math.max(first ? delayOf(first) : 0, w.timings.leaseMs));
      await expectDone(w, w.attempt(job, 2), 2);
      expect((await w.outcome(job))?.outcome).toBe("deferred");
    });

    it("a client that throws before the request goes out (a token-store read error) is no evidence", async () => {
      const w = world({
        script: [
          () => {
            throw new Error("token store unavailable");
          },
          answers.limited,
        ],
      });
      const job = w.job("token-error");
      await expect(w.attempt(job)).rejects.toThrow(/token store/);
      w.clock.advance(w.timings.leaseMs);
      expect(await w.attempt(job, 2)).toEqual(done);
      expect((await w.outcome(job))?.outcome).toBe("deferred");
    });

    it("an attempt whose claim write the SDK re-sent after it applied owns the slot: it sends at once and leaves no evidence", async () => {
      const w = world({
        db: (client) => resendingApplied(client, isSlotClaim),
        script: [answers.sent],
      });
      const job = w.job("sdk-resend");
      await expectDone(w, w.attempt(job), 1);
      expect((await w.outcome(job))?.outcome).toBe("sent");
    });

    it("USER_MESSAGE_LIMIT after an unanswered attempt, on a line where another sender was seen, is an honest unknown", async () => {
      const w = world({ script: [answers.limited, answers.timeout, answers.limited] });
      const job = w.job("other-sender");
      expect(await w.attempt(job)).toEqual(done);
      const deferred = await w.outcome(job);
      expect(deferred?.outcome).toBe("deferred");
      w.clock.set(deferred?.dueAt?.getTime() ?? 0);
      const flushed = await w.attempt(w.flush());
      w.clock.advance(
        Math.max(flushed.status === "retry" ? flushed.delayMs : 0, w.timings.leaseMs),
      );
      await w.attempt(w.flush(), 2);
      expect(w.bitrix.calls).toHaveLength(3);
      const record = await w.outcome(job);
      expect(record?.outcome).toBe("unknown");
      expect(record?.reason).toMatch(/another sender/);
    });
  });

  describe("OAuth portals", () => {
    /**
     * A client like the OAuth one: the first use waits for the access token (another worker's
     * refresh, up to 20 s), then the request goes out, unless the caller says it may no longer
     * start. Records when each request went on the wire.
     */
    function slowTokenClient(w: LedgerWorldFixture) {
      let token = false;
      const started: number[] = [];
      const fetchToken = async () => {
        if (!token) w.clock.advance(20 * SECOND);
        token = true;
      };
      const client: BitrixClient = {
        prepare: fetchToken,
        async sendNetworkMessage(_code, _message, _signal, mayStart) {
          await fetchToken();
          if (mayStart && !mayStart()) {
            return { kind: "retry", code: "ABORTED", retryAfterMs: 0, overloaded: false };
          }
          started.push(w.clock.ms);
          return answers.sent;
        },
        sendSystemNotification: async () => answers.sent,
      };
      return { client, started };
    }

    it("the access token is fetched before the latest-safe-start check: a token wait never pushes a request past it", async () => {
      const w = world();
      const { client, started } = slowTokenClient(w);
      // When each lease began: the claim's time (a free slot is claimed after the token).
      const claimedAt: number[] = [];
      const { slots } = w.deps;
      const deliver = makeDeliver({
        ...w.deps,
        client,
        slots: {
          ...slots,
          claim: (key, holder, now, leaseMs) => {
            claimedAt.push(now.getTime());
            return slots.claim(key, holder, now, leaseMs);
          },
          claimSending: (key, holder, now, leaseMs) => {
            claimedAt.push(now.getTime());
            return slots.claimSending(key, holder, now, leaseMs);
          },
        },
      });
      const job = w.job("oauth-late");
      const first = await deliver({
        message: job,
        receiveCount: 1,
        queuedAt: w.clock.ms,
        deadline: w.clock.ms + 50_000,
      });
      const leaseFrom = claimedAt[0] ?? Number.NaN;
      for (const start of started) {
        expect(start + w.timings.requestLandsWithinMs).toBeLessThanOrEqual(
          leaseFrom + w.timings.leaseMs,
        );
      }
      if (started.length === 0) {
        // Not now: the slot was given back and the next try sends (the token is at hand).
        expect(first.status).toBe("retry");
        w.clock.advance(first.status === "retry" ? first.delayMs : 0);
        expect(
          await deliver({
            message: job,
            receiveCount: 2,
            queuedAt: w.clock.ms,
            deadline: w.clock.ms + 50_000,
          }),
        ).toEqual(done);
        expect(started).toHaveLength(1);
      }
      expect((await w.outcome(job))?.outcome).toBe("sent");
    });
  });

  describe("partner portals (no weekly limit)", () => {
    it("an in-flight marker the SDK re-sent after it applied is ours: the message goes out once and ends sent", async () => {
      const w = world({
        config: ledgerConfig({ weeklyLimit: false }),
        db: (client) => resendingApplied(client, isInFlightMarker),
      });
      const job = w.job("partner-sdk-resend");
      const first = await w.attempt(job);
      if (first.status === "retry") {
        w.clock.advance(first.delayMs);
        await w.attempt(job, 2);
      }
      expect(w.bitrix.calls).toHaveLength(1);
      expect((await w.outcome(job))?.outcome).toBe("sent");
    });

    it("a request that went out before a crash is never recorded failed when the window ends while the bucket is booked: unknown", async () => {
      const w = world({
        config: ledgerConfig({ weeklyLimit: false }),
        outcomes: (outcomes) => failing(outcomes, { finish: 3 }),
      });
      const job = w.job("partner-crash-window");
      const queuedAt = w.clock.ms;
      await expect(w.attempt(job, 1, queuedAt)).rejects.toThrow(/finish failed/);
      expect(w.bitrix.calls).toHaveLength(1);
      // Another process (it did not see the send land), the bucket booked, the window over.
      w.clock.set(queuedAt + w.timings.retryForMs - SECOND);
      const other = makeDeliver({
        ...w.deps,
        limiter: { ...w.deps.limiter, reserve: async () => ({ retryAfterMs: 60 * SECOND }) },
      });
      const last = await other({
        message: job,
        receiveCount: 9,
        queuedAt,
        deadline: w.clock.ms + 50_000,
      });
      expect(last).toMatchObject({ status: "dead-letter" });
      expect((await w.outcome(job))?.outcome).toBe("unknown");
      expect(w.bitrix.calls).toHaveLength(1);
    });

    it("a rate-limiter error before the request is no evidence: the redelivery sends, not unknown", async () => {
      const w = world({
        config: ledgerConfig({ weeklyLimit: false }),
        limiter: (limiter) => failing(limiter, { reserve: 1 }),
      });
      const job = w.job("partner-limiter-error");
      await expect(w.attempt(job)).rejects.toThrow(/reserve failed/);
      w.clock.advance(w.timings.leaseMs + SECOND);
      await expectDone(w, w.attempt(job, 2), 1);
      expect((await w.outcome(job))?.outcome).toBe("sent");
    });
  });
});

describe("deferred events always reach a later attempt (dynalite, fake clock)", () => {
  const table = useTable(TABLE);
  let unique = 0;

  /** A Bitrix24 that keeps its own week rows, written only after a success. */
  function portalWithRows(weekMs: number, now: () => number, otherAppAt: number[]) {
    const rows = [...otherAppAt];
    return (): SendResult => {
      if (rows.some((row) => row > now() - weekMs)) return answers.limited;
      rows.push(now());
      return answers.sent;
    };
  }

  it("USER_MESSAGE_LIMIT caused by another sender, twice, never leaves the event stuck: the sweeper and the flush try again until it is sent", async () => {
    // The default backoff cap (900 s), as a new user's config has it.
    const config = ledgerConfig({ weekSeconds: 12, weekMarginSeconds: 1, maxBackoffSeconds: 900 });
    const w = makeLedgerWorld(table.db, TABLE, `stuck-${++unique}.example`, T0, { config });
    const portal = portalWithRows(12 * SECOND, () => w.clock.ms, [w.clock.ms - 6 * SECOND]);
    w.deps.client = scriptedBitrix(...Array.from({ length: 50 }, () => portal));
    const deliver = makeDeliver(w.deps);
    const queued: QueueMessage[] = [];
    const sweep = sweepOf(
      w,
      Math.min(w.timings.maxBackoffMs, 5 * 60_000) + w.timings.leaseMs,
      (jobs) => queued.push(...jobs),
    );
    const job = w.job("stuck");
    const run = (message: QueueMessage) =>
      deliver({ message, receiveCount: 1, queuedAt: w.clock.ms, deadline: w.clock.ms + 50_000 });
    expect(await run(job)).toEqual(done);
    // The local run sweeps every 1.2 s for a 12 s week; a flush is handled as soon as it is
    // queued. Within 200 s the event is sent (the other app's row frees it at 6 s).
    for (let tick = 0; tick < 166 && (await w.outcome(job))?.outcome === "deferred"; tick++) {
      w.clock.advance(1200);
      await sweep();
      for (let next = queued.shift(); next; next = queued.shift()) await run(next);
    }
    expect((await w.outcome(job))?.outcome).toBe("sent");
  });
});

describe("the week boundary (dynalite, fake clock)", () => {
  const table = useTable(TABLE);
  let unique = 0;

  it("a newer event never goes out alone while an older one waits, even when the digest index lags: the slot's pending-digest marker is read with the claim", async () => {
    const w = makeLedgerWorld(table.db, TABLE, `order-${++unique}.example`, T0, {
      // The digest index has not caught up: it finds nothing.
      outcomes: (outcomes) => ({ ...outcomes, pending: async () => [] }),
    });
    const first = w.job("order-first");
    expect(await w.attempt(first)).toEqual(done);
    // A lone send's intent holds the slot until a week and the margin after its lease.
    const freeAt = w.clock.ms + w.timings.leaseMs + w.timings.weekMs + w.timings.weekMarginMs;
    w.clock.advance(SECOND);
    const older = w.job("order-older");
    expect(await w.attempt(older)).toEqual(done);
    expect((await w.outcome(older))?.outcome).toBe("deferred");

    w.clock.set(freeAt);
    const newer = w.job("order-newer");
    expect(await w.attempt(newer)).toEqual(done);
    // One message carried both, the older one first.
    expect(w.bitrix.calls).toHaveLength(2);
    const digest = w.bitrix.calls[1] ?? "";
    expect(digest).toContain("order-older");
    expect(digest).toContain("order-newer");
    expect(digest.indexOf("order-older")).toBeLessThan(digest.indexOf("order-newer"));
    expect((await w.outcome(older))?.outcome).toBe("sent");
    expect((await w.outcome(newer))?.outcome).toBe("sent");
  });

  it("a waiting event whose slot item outlived its TTL (no sweep for over a week) is overtaken by a newer one, then goes out in the next digest: late, never lost or sent twice", async () => {
    // The quick way reads no digest index: the slot's marker says whether a digest waits
    // (docs/ledger.md, "The pending-digest marker"). The slot item lives at least a week past
    // the due time of every event it marks; only a week with no flush of it loses the marker.
    const w = makeLedgerWorld(table.db, TABLE, `expired-${++unique}.example`, T0);
    const older = await olderWaiting(w, "expired");
    const waiting = await w.outcome(older);
    const user = w.key(older.userId);
    const slotKey = keys.slot(user.portal, user.openLineCode, user.userId);
    const slot = await table.db.send(
      new GetItemCommand({ TableName: TABLE, Key: slotKey, ConsistentRead: true }),
    );
    expect(slot.Item?.pendingJobs?.SS).toEqual([older.jobId]);
    const expiresAt = Number(slot.Item?.expiresAt?.N) * 1000;
    expect(expiresAt).toBeGreaterThanOrEqual((waiting?.dueAt?.getTime() ?? 0) + w.timings.weekMs);

    // No sweep until DynamoDB's TTL has deleted the slot item, marker and all.
    w.clock.set(expiresAt + SECOND);
    await table.db.send(new DeleteItemCommand({ TableName: TABLE, Key: slotKey }));
    const newer = w.job("expired-newer");
    expect(await w.attempt(newer)).toEqual(done);
    expect(w.bitrix.calls).toHaveLength(2);
    expect(w.bitrix.calls[1]).toContain("expired-newer");
    expect(w.bitrix.calls[1]).not.toContain("expired-older");

    // The sweeps come back (after the newer send's lease): the older event waits out the newer
    // one's week, then goes out.
    w.clock.advance(w.timings.leaseMs + SECOND);
    expect(await w.attempt(w.flush())).toEqual(done);
    const rescheduled = await w.outcome(older);
    expect(rescheduled?.outcome).toBe("deferred");
    w.clock.set(rescheduled?.dueAt?.getTime() ?? 0);
    expect(await w.attempt(w.flush())).toEqual(done);
    expect(w.bitrix.calls).toHaveLength(3);
    expect(w.bitrix.calls[2]).toContain("expired-older");
    expect((await w.outcome(older))?.outcome).toBe("sent");
    expect((await w.outcome(newer))?.outcome).toBe("sent");
  });

  it("a digest whose crashed predecessor may have landed does not inherit its evidence: newer events wait out that week, never read its USER_MESSAGE_LIMIT as their own send", async () => {
    const rejected = http(400, { error: "WRONG_REQUEST", error_description: "bad message" });
    const w = makeLedgerWorld(table.db, TABLE, `inherit-${++unique}.example`, T0, {
      // Another app used the week; the digest lands but its confirm is lost three times; the
      // resumed digest is rejected; after that week another sender has used the user's week.
      script: [answers.limited, answers.sent, rejected, answers.limited, answers.sent],
      slots: (slots) => failing(slots, { confirm: 3 }),
    });
    const older = w.job("inherit-older");
    expect(await w.attempt(older)).toEqual(done);
    const deferred = await w.outcome(older);
    expect(deferred?.outcome).toBe("deferred");
    w.clock.set(deferred?.dueAt?.getTime() ?? 0);
    await expect(w.attempt(w.flush())).rejects.toThrow(/confirm failed/);
    w.clock.advance(w.timings.leaseMs + SECOND);
    // The reclaim resumes the crashed digest with its evidence: the rejection ends it unknown.
    expect(await w.attempt(w.flush())).toEqual(done);
    expect((await w.outcome(older))?.outcome).toBe("unknown");
    expect(w.bitrix.calls).toHaveLength(3);

    // A newer event waits in the digest, due now (it found a send in flight, say).
    const newer = w.job("inherit-newer");
    await w.deps.outcomes.defer(newer, w.key(), w.clock.now(), "in flight", w.clock.now());
    expect(await w.attempt(w.flush())).toEqual(done);
    const waiting = await w.outcome(newer);
    expect(w.bitrix.calls).toHaveLength(3);
    expect(waiting?.outcome).toBe("deferred");
    // It waits for the week of the digest that may have landed, then goes out on its own.
    w.clock.set(waiting?.dueAt?.getTime() ?? 0);
    await expectDone(w, w.attempt(w.flush()), 4);
    expect((await w.outcome(newer))?.outcome).toBe("deferred");
    expect((await w.outcome(newer))?.reason).toMatch(/USER_MESSAGE_LIMIT/);
  });

  it("an event that joins a pending digest keeps our own send's free time: the next USER_MESSAGE_LIMIT waits the margin, not a day", async () => {
    const w = makeLedgerWorld(table.db, TABLE, `boundary-${++unique}.example`, T0);
    const { weekMs, weekMarginMs } = w.timings;
    // The worker that sent first ran more behind than the margin allows for (its record counts
    // the week from the end of the lease its intent was written in).
    const skewMs = weekMarginMs + w.timings.leaseMs + 2 * SECOND;
    let lastRow: number | undefined;
    const portal = (): SendResult => {
      if (lastRow !== undefined && lastRow > w.clock.ms - weekMs) return answers.limited;
      lastRow = w.clock.ms;
      return answers.sent;
    };
    w.deps.client = scriptedBitrix(...Array.from({ length: 10 }, () => portal));
    const deliver = makeDeliver(w.deps);
    const behind = makeDeliver({ ...w.deps, clock: { now: () => new Date(w.clock.ms - skewMs) } });
    const run = (message: QueueMessage, on = deliver) =>
      on({ message, receiveCount: 1, queuedAt: w.clock.ms, deadline: w.clock.ms + 50_000 });

    const first = w.job("boundary-first");
    expect(await run(first, behind)).toEqual(done);
    const freeAt = w.clock.ms - skewMs + w.timings.leaseMs + weekMs + weekMarginMs;
    w.clock.advance(SECOND);
    const older = w.job("boundary-older");
    expect(await run(older)).toEqual(done);
    expect((await w.outcome(older))?.dueAt?.getTime()).toBe(freeAt);

    // A newer event arrives as the week ends, before the sweeper: it joins the pending digest.
    w.clock.set(freeAt);
    const newer = w.job("boundary-newer");
    expect(await run(newer)).toEqual(done);
    const retried = await w.outcome(older);
    expect(retried?.outcome).toBe("deferred");
    // Our own record's free time has passed: tried again a margin later, not a day later.
    expect(retried?.dueAt?.getTime()).toBeLessThanOrEqual(freeAt + weekMarginMs + SECOND);
  });
});

describe("every path is bounded (dynalite, fake clock)", () => {
  const table = useTable(TABLE);
  let unique = 0;

  /**
   * Runs the sweeper every minute and a queue that hands each message back after its retry delay
   * (its first receive's time kept), for `forMs`. Returns the dead letters.
   */
  async function drive(w: LedgerWorldFixture, forMs: number): Promise<DeliveryResult[]> {
    const queue = makeFakeQueue(w);
    const deadLetters: DeliveryResult[] = [];
    const sweep = sweepOf(
      w,
      Math.min(w.timings.maxBackoffMs, 5 * 60_000) + w.timings.leaseMs,
      (jobs) => {
        for (const message of jobs) queue.add(message);
      },
    );
    const end = w.clock.ms + forMs;
    let nextSweep = w.clock.ms;
    while (w.clock.ms < end) {
      const visibleAt = queue.nextVisibleAt();
      if (visibleAt === undefined || visibleAt > nextSweep) {
        w.clock.set(Math.max(w.clock.ms, nextSweep));
        await sweep();
        nextSweep += 60 * SECOND;
        continue;
      }
      const result = await queue.receive();
      if (result?.status === "dead-letter") deadLetters.push(result);
    }
    return deadLetters;
  }

  it("an exception that repeats until the retry window is over ends in an outcome and the dead-letter queue, not in SQS's retention", async () => {
    const w = makeLedgerWorld(table.db, TABLE, `throws-${++unique}.example`, T0, {
      // The slot store fails on every claim (a bad deploy, a permission lost).
      slots: (slots) => failing(slots, { claim: 10_000, claimSending: 10_000 }),
    });
    const job = w.job("throws");
    const queuedAt = w.clock.ms;
    await expect(w.attempt(job, 1, queuedAt)).rejects.toThrow(/claim(Sending)? failed/);
    w.clock.set(queuedAt + w.timings.retryForMs + SECOND);
    const last = await w.attempt(job, 40, queuedAt);
    expect(last).toMatchObject({ status: "dead-letter" });
    const record = await w.outcome(job);
    expect(record?.outcome).toBe("unknown");
    expect(record?.reason).toMatch(/claim(Sending)? failed/);
    expect(w.bitrix.calls).toHaveLength(0);
  });

  it.each<[string, FinalOutcome, SendResult]>([
    ["retryable answers (503)", "failed", answers.overloaded],
    ["unanswered requests (timeouts)", "unknown", answers.timeout],
  ])(
    "a digest flush that keeps getting %s gives up within the retry window: every carried event ends %s and the flush is a dead letter",
    async (_name, outcome, answer) => {
      const w = makeLedgerWorld(table.db, TABLE, `flush-${++unique}.example`, T0, {
        script: [answers.sent, ...Array.from({ length: 400 }, () => answer)],
      });
      expect(await w.attempt(w.job("flush-first"))).toEqual(done);
      w.clock.advance(SECOND);
      const carried = [w.job("flush-a"), w.job("flush-b")];
      for (const job of carried) expect(await w.attempt(job)).toEqual(done);
      const dueAt = (await w.outcome(carried[0] ?? w.job("none")))?.dueAt?.getTime() ?? 0;
      w.clock.set(dueAt);
      const deadLetters = await drive(w, w.timings.retryForMs + 3 * 60 * SECOND);
      for (const job of carried) expect((await w.outcome(job))?.outcome).toBe(outcome);
      expect(deadLetters.length).toBeGreaterThanOrEqual(1);
    },
  );
});
