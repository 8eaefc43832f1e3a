import { GetItemCommand } from "@aws-sdk/client-dynamodb";
import { describe, expect, it } from "vitest";
import { makeDynamoRateLimiter } from "../../functions/adapters/dynamo/rate-limiter";
import { keys } from "../../functions/adapters/dynamo/table";
import { parseConfig } from "../../functions/core/config";
import { type DeliveryResult, makeDeliver } from "../../functions/core/deliver";
import type { QueueMessage } from "../../functions/core/job";
import type { SendResult } from "../../functions/core/ports";
import { startDynalite, startDynamoDbLocal, useTable } from "../support/dynamo-servers";
import {
  answers,
  delayOf,
  done,
  expectDone,
  failing,
  LINE,
  ledgerConfig,
  ledgerWorlds,
  makeFakeQueue,
  SECOND,
  scriptedBitrix,
} from "../support/ledger-fixtures";

/**
 * One regression per fault an earlier review reproduced (lease overlap, lost evidence, digest
 * resumption, ...; docs/ledger.md), each replaying the scenario against the real stores and
 * asserting the ledger's answer now.
 * Timings (ledgerConfig): a week of 3600 s, margin 5 s, timeout 3 s, request limit 5 s, lease
 * 12 s, retry window 600 s.
 */

const TABLE = "hookline-ledger-regressions";

describe.each([
  ["dynalite", startDynalite],
  ["DynamoDB Local", startDynamoDbLocal],
])("the weekly ledger's regressions on %s", (_server, start) => {
  const table = useTable(TABLE, start);

  const world = ledgerWorlds(table, TABLE);

  it("a send that landed, then a failed outcome write: the redelivery reads USER_MESSAGE_LIMIT as proof and records sent", async () => {
    const w = world({
      script: [answers.sent, answers.limited],
      // Every try of the write after the send fails, as in a crash (a lone send's intent is its
      // slot's record: the outcome is the one write after it).
      outcomes: (outcomes) => failing(outcomes, { finish: 3 }),
    });
    const job = w.job("b1");
    await expect(w.attempt(job)).rejects.toThrow(/finish failed/);
    expect(w.bitrix.calls).toHaveLength(1);

    // Our own unconfirmed attempt still holds the slot: another event waits, nothing is sent.
    const other = w.job("b1-other");
    expect(await w.attempt(other)).toEqual(done);
    expect((await w.outcome(other))?.outcome).toBe("deferred");

    // The redelivery, after the lease, takes our attempt back as ambiguous.
    w.clock.advance(w.timings.leaseMs);
    await expectDone(w, w.attempt(job, 2), 2);
    const record = await w.outcome(job);
    expect(record?.outcome).toBe("sent");
    expect(record?.reason).toMatch(/earlier unanswered attempt landed/);
  });

  it("after USER_MESSAGE_LIMIT a redelivery never reads the blocked slot as its own send", async () => {
    const w = world({
      // Another app messaged the user this week.
      script: [answers.limited, answers.sent],
      // The deferral's write fails once: the message is delivered again.
      outcomes: (outcomes) => failing(outcomes, { defer: 1 }),
    });
    const job = w.job("b2");
    const firstTry = w.clock.ms;
    await expect(w.attempt(job)).rejects.toThrow(/defer failed/);

    w.clock.advance(SECOND);
    await expectDone(w, w.attempt(job, 2), 1);
    const deferred = await w.outcome(job);
    expect(deferred?.outcome).toBe("deferred");
    // Tried again a day (a seventh of the week) after Bitrix24's answer, not re-sent meanwhile.
    expect(deferred?.dueAt?.getTime()).toBe(firstTry + Math.ceil(w.timings.weekMs / 7));

    w.clock.set(deferred?.dueAt?.getTime() ?? 0);
    await expectDone(w, w.attempt(w.flush()), 2);
    expect((await w.outcome(job))?.outcome).toBe("sent");
  });

  it("a send that landed but timed out, then a 503: the evidence survives the release, the job ends sent", async () => {
    const w = world({ script: [answers.timeout, answers.overloaded, answers.limited] });
    const job = w.job("b3");
    expect((await w.attempt(job)).status).toBe("retry");

    w.clock.advance(w.timings.leaseMs);
    const afterOverload = await w.attempt(job, 2);
    expect(afterOverload.status).toBe("retry");

    // The slot still counts the unanswered send: another event waits instead of going out.
    const other = w.job("b3-other");
    expect(await w.attempt(other)).toEqual(done);
    expect((await w.outcome(other))?.outcome).toBe("deferred");
    expect(w.bitrix.calls).toHaveLength(2);

    w.clock.advance(Math.max(delayOf(afterOverload), w.timings.maxBackoffMs));
    await expectDone(w, w.attempt(job, 3), 3);
    const record = await w.outcome(job);
    expect(record?.outcome).toBe("sent");
    expect(record?.reason).toMatch(/earlier unanswered attempt landed/);
  });

  it("an unanswered send when the retry window runs out is recorded unknown, not failed", async () => {
    const w = world({ script: [answers.timeout] });
    const job = w.job("b4");
    // Queued almost a whole window ago: the next try would fall outside it.
    const queuedAt = w.clock.ms - w.timings.retryForMs + 5 * SECOND;
    const result = await w.attempt(job, 7, queuedAt);
    expect(result).toMatchObject({ status: "dead-letter" });
    expect(result.status === "dead-letter" && result.reason).toMatch(/^unknown/);
    expect((await w.outcome(job))?.outcome).toBe("unknown");
  });

  it("an unanswered send, then a 5xx on the last try, is unknown too", async () => {
    const w = world({ script: [answers.timeout, answers.http500] });
    const job = w.job("b4-5xx");
    const queuedAt = w.clock.ms;
    expect((await w.attempt(job, 1, queuedAt)).status).toBe("retry");
    w.clock.set(queuedAt + w.timings.retryForMs - SECOND);
    const result = await w.attempt(job, 9, queuedAt);
    expect(result).toMatchObject({ status: "dead-letter" });
    expect((await w.outcome(job))?.outcome).toBe("unknown");
    expect(w.bitrix.calls).toHaveLength(2);
  });

  it("a second copy of a job never calls Bitrix24 while the first copy's lease is live", async () => {
    let answer: (result: SendResult) => void = () => {};
    const inFlight = new Promise<SendResult>((resolve) => {
      answer = resolve;
    });
    const w = world({ script: [() => inFlight] });
    const job = w.job("b5");
    const first = w.attempt(job);
    await until(() => w.bitrix.calls.length === 1);

    // The copy (an SQS duplicate, a re-sent batch, a rolled-back receipt) comes back after the lease.
    const copy = await w.attempt(job);
    expect(copy.status).toBe("retry");
    expect(delayOf(copy)).toBeGreaterThanOrEqual(w.timings.leaseMs - SECOND);
    expect(w.bitrix.calls).toHaveLength(1);

    answer(answers.sent);
    expect(await first).toEqual(done);
    w.clock.advance(delayOf(copy));
    await expectDone(w, w.attempt(job, 2), 1);
    expect((await w.outcome(job))?.outcome).toBe("sent");
  });

  it("a copy out of its window while another receive holds the lease comes back after it, never ends without an outcome", async () => {
    const w = world({ script: [answers.sent] });
    const job = w.job("b5-window");
    const queuedAt = w.clock.ms - w.timings.retryForMs + SECOND;
    // The queue handed the message out twice; one receive took the lease and died before sending.
    const taken = await w.slots.claim(
      w.key(),
      { jobId: job.jobId },
      w.clock.now(),
      w.timings.leaseMs,
    );
    expect(taken.status).toBe("claimed");

    // The other receive is out of its window: it used to end here, deleting the only message.
    const copy = await w.attempt(job, 2, queuedAt);
    expect(copy.status).toBe("retry");
    expect(delayOf(copy)).toBeGreaterThanOrEqual(w.timings.leaseMs - SECOND);
    expect(w.bitrix.calls).toHaveLength(0);

    w.clock.advance(delayOf(copy));
    await expectDone(w, w.attempt(job, 3, queuedAt), 1);
    expect((await w.outcome(job))?.outcome).toBe("sent");
  });

  it("a send just before Bitrix24's week ends (recorded by a worker whose clock was behind) defers by the margin, not another week", async () => {
    const w = world();
    const marginMs = w.timings.weekMarginMs;
    // The worker that sent first ran 2 s more behind than the margin allows for (its record
    // counts the week from the end of the lease its intent was written in).
    const skew = marginMs + w.timings.leaseMs + 2 * SECOND;
    let lastRow: number | undefined;
    const portal = (): SendResult => {
      if (lastRow !== undefined && lastRow > w.clock.ms - w.timings.weekMs) return answers.limited;
      lastRow = w.clock.ms;
      return answers.sent;
    };
    const client = scriptedBitrix(portal, portal, portal, portal);
    const behind = makeDeliver({
      ...w.deps,
      client,
      clock: { now: () => new Date(w.clock.ms - skew) },
    });
    const deliver = makeDeliver({ ...w.deps, client });
    const attempt = (message: QueueMessage, on = deliver) =>
      on({ message, receiveCount: 1, queuedAt: w.clock.ms, deadline: w.clock.ms + 50_000 });

    const first = w.job("b6-first");
    expect(await attempt(first, behind)).toEqual(done);
    const recordedSentAt = w.clock.ms - skew + w.timings.leaseMs;
    w.clock.advance(SECOND);
    const second = w.job("b6-second");
    expect(await attempt(second)).toEqual(done);
    const freeAt = recordedSentAt + w.timings.weekMs + marginMs;
    expect((await w.outcome(second))?.dueAt?.getTime()).toBe(freeAt);

    // Our record says the week is over, Bitrix24's row not quite: USER_MESSAGE_LIMIT.
    w.clock.set(freeAt);
    expect(await attempt(w.flush())).toEqual(done);
    expect(client.calls).toHaveLength(2);
    const retried = await w.outcome(second);
    expect(retried?.outcome).toBe("deferred");
    // Tried again a margin later (our own record, the clocks differ), not a day or a week later.
    expect(retried?.dueAt?.getTime()).toBeLessThanOrEqual(freeAt + marginMs);

    w.clock.set(retried?.dueAt?.getTime() ?? 0);
    expect(await attempt(w.flush())).toEqual(done);
    expect(client.calls).toHaveLength(3);
    expect((await w.outcome(second))?.outcome).toBe("sent");
  });

  it("a one-minute outage (every call 500) loses nothing and holds the portal back instead of burning retries", async () => {
    const outageMs = 60 * SECOND;
    const w = world({ rate: { perSecond: 2, burst: 5 } });
    const outageEnds = w.clock.ms + outageMs;
    let callsInOutage = 0;
    const portal = (): SendResult => {
      if (w.clock.ms < outageEnds) {
        callsInOutage++;
        return answers.http500;
      }
      return answers.sent;
    };
    w.deps.client = scriptedBitrix(...Array.from({ length: 100 }, () => portal));

    const jobs = [1, 2, 3, 4].map((user) => w.job(`b7-${user}`, user));
    const queue = makeFakeQueue(w, makeDeliver(w.deps));
    for (const job of jobs) queue.add(job);
    const results: DeliveryResult[] = [];
    for (let round = 0; round < 200 && queue.size() > 0; round++) {
      const result = await queue.receive();
      if (result && result.status !== "retry") results.push(result);
    }
    expect(results).toEqual(jobs.map(() => done));
    for (const job of jobs) expect((await w.outcome(job))?.outcome).toBe("sent");
    // Without the breaker each message burned a retry per backoff step; now the portal is probed.
    expect(callsInOutage).toBeLessThanOrEqual(8);
  });

  it("the config rejects a lease shorter than one attempt", () => {
    const config = (leaseSeconds: number, timeoutMs: number, requestLimitSeconds: number) =>
      parseConfig({
        bitrix: { openLineCode: LINE, timeoutMs, requestLimitSeconds },
        sources: [{ id: "app", type: "github", secret: "env:APP_SECRET" }],
        delivery: { leaseSeconds },
      });
    expect(() => config(10, 8000, 60)).toThrow(/delivery\.leaseSeconds: must be at least 65 s/);
    expect(() => config(64, 60_000, 60)).toThrow(/must be at least 65 s/);
    expect(config(65, 60_000, 60).delivery.leaseSeconds).toBe(65);
  });

  it("the rate-limit wait never outlives the lease: no send that could still run when it ends", async () => {
    const w = world({ rate: { perSecond: 1, burst: 1 } });
    const { leaseMs, requestLandsWithinMs } = w.timings;
    const callEnds = Math.max(3000, requestLandsWithinMs) + 3000;
    // The bucket is booked until just past the last moment a send still fits in the lease.
    const bucket = makeDynamoRateLimiter(table.db, TABLE, {
      portal: w.portal,
      perSecond: 1,
      burst: 1,
    });
    await bucket.penalize(w.clock.now(), leaseMs - callEnds + SECOND);
    const job = w.job("b8");
    const result = await w.attempt(job);
    expect(result.status).toBe("retry");
    expect(w.bitrix.calls).toHaveLength(0);
    // Nothing held meanwhile: another event for the user could take the slot at once.
    const claim = await w.slots.claim(w.key(), { jobId: "someone" }, w.clock.now(), leaseMs);
    expect(claim.status).toBe("claimed");

    // Booked until just before that moment: it waits, and the call still ends within the lease.
    const fits = world({ rate: { perSecond: 1, burst: 1 } });
    const started: number[] = [];
    fits.deps.client = scriptedBitrix(() => {
      started.push(fits.clock.ms);
      return answers.sent;
    });
    const leaseFrom = fits.clock.ms;
    await makeDynamoRateLimiter(table.db, TABLE, {
      portal: fits.portal,
      perSecond: 1,
      burst: 1,
    }).penalize(fits.clock.now(), leaseMs - callEnds - SECOND);
    const deliver = makeDeliver(fits.deps);
    const sent = await deliver({
      message: fits.job("b8-fits"),
      receiveCount: 1,
      queuedAt: fits.clock.ms,
      deadline: fits.clock.ms + 50_000,
    });
    expect(sent).toEqual(done);
    expect(started).toHaveLength(1);
    expect((started[0] ?? 0) + requestLandsWithinMs).toBeLessThanOrEqual(leaseFrom + leaseMs);
    expect(started[0]).toBeGreaterThan(leaseFrom);
  });

  it("a claim that took most of the lease (a slow store) gives the slot back without sending", async () => {
    let w: ReturnType<typeof world> | undefined;
    w = world({
      slots: (slots) => ({
        ...slots,
        claim: async (...args) => {
          const claim = await slots.claim(...args);
          // The store answered late: only a few seconds of the lease are left.
          w?.clock.advance(9 * SECOND);
          return claim;
        },
        // The same for the claim that carries the intent (a free slot's quick way).
        claimSending: async (...args) => {
          const attempt = await slots.claimSending(...args);
          w?.clock.advance(9 * SECOND);
          return attempt;
        },
      }),
    });
    const job = w.job("b8-slow");
    expect((await w.attempt(job)).status).toBe("retry");
    expect(w.bitrix.calls).toHaveLength(0);
    const claim = await w.slots.claim(w.key(), { jobId: "someone" }, w.clock.now(), 1000);
    expect(claim.status).toBe("claimed");
  });

  it("a reservation the store answered late never sends a request that could outlive the lease", async () => {
    let w: ReturnType<typeof world> | undefined;
    const started: number[] = [];
    w = world({
      script: [
        () => {
          started.push(w?.clock.ms ?? 0);
          return answers.sent;
        },
      ],
      limiter: (limiter) => ({
        ...limiter,
        reserve: async (now, maxWaitMs) => {
          const turn = await limiter.reserve(now, maxWaitMs);
          // Two SDK tries of 3 s and a backoff: the answer comes 9 s later.
          w?.clock.advance(9 * SECOND);
          return turn;
        },
      }),
    });
    const leaseUntil = w.clock.ms + w.timings.leaseMs;
    const job = w.job("b8-slow-reserve");
    const result = await w.attempt(job);
    for (const start of started) {
      expect(start + w.timings.requestLandsWithinMs).toBeLessThanOrEqual(leaseUntil);
    }
    if (started.length === 0) {
      expect(result.status).toBe("retry");
      // Nothing held: the slot was given back.
      const claim = await w.slots.claim(w.key(), { jobId: "someone" }, w.clock.now(), 1000);
      expect(claim.status).toBe("claimed");
    }
  });

  it("without the weekly limit, a send that landed and a failed outcome write end sent, not unknown", async () => {
    const w = world({
      config: ledgerConfig({ weeklyLimit: false }),
      outcomes: (outcomes) => failing(outcomes, { finish: 3 }),
    });
    const job = w.job("b9");
    await expect(w.attempt(job)).rejects.toThrow(/finish failed/);
    expect(w.bitrix.calls).toHaveLength(1);

    w.clock.advance(w.timings.leaseMs + SECOND);
    await expectDone(w, w.attempt(job, 2), 1);
    expect((await w.outcome(job))?.outcome).toBe("sent");
  });

  it("suspected: a failed outcome write on the last try leaves no dead letter without an outcome", async () => {
    const w = world({
      script: [answers.http500, answers.http500],
      outcomes: (outcomes) => failing(outcomes, { finish: 3 }),
    });
    const job = w.job("s1");
    const queuedAt = w.clock.ms - w.timings.retryForMs + SECOND;
    // The window is over and the failure cannot be recorded: not a dead letter yet.
    await expect(w.attempt(job, 12, queuedAt)).rejects.toThrow(/finish failed/);
    expect(await w.outcome(job)).toBeUndefined();

    w.clock.advance(w.timings.visibilityTimeoutSeconds * SECOND);
    const result = await w.attempt(job, 13, queuedAt);
    expect(result).toMatchObject({ status: "dead-letter" });
    expect((await w.outcome(job))?.outcome).toBe("failed");
  });

  it("suspected: ambiguity evidence outlives the retry window and the dead-letter retention", async () => {
    const w = world({ script: [answers.timeout] });
    const job = w.job("s2");
    expect((await w.attempt(job)).status).toBe("retry");
    const { Item } = await table.db.send(
      new GetItemCommand({
        TableName: TABLE,
        Key: keys.slot(w.portal, LINE, 1),
        ConsistentRead: true,
      }),
    );
    expect(Item?.maybeSentAt?.N).toBeDefined();
    const expiresAtMs = Number(Item?.expiresAt?.N) * 1000;
    const fourteenDays = 14 * 86_400 * SECOND;
    expect(expiresAtMs).toBeGreaterThanOrEqual(w.clock.ms + w.timings.retryForMs + fourteenDays);
  });
});

/** Polls until `condition` holds; the bound is generous so a loaded machine only makes it slower. */
async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!condition() && Date.now() < deadline) {
    await new Promise<void>((resolve) => setTimeout(resolve, 5));
  }
  if (!condition()) throw new Error("condition never held");
}
