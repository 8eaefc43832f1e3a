import { afterEach, describe, expect, it } from "vitest";
import { makeBitrixWebhookClient } from "../../functions/adapters/bitrix-client";
import { makeDynamoOutcomeStore } from "../../functions/adapters/dynamo/outcomes";
import { type DeliveryResult, makeDeliver } from "../../functions/core/deliver";
import type { EventJob } from "../../functions/core/job";
import { type BitrixSimulator, startBitrixSimulator } from "../../functions/local/bitrix-simulator";
import { useTable } from "../support/dynamo-servers";
import { eventJob, LINE, ledgerConfig, storeDeps } from "../support/ledger-fixtures";

/**
 * Batch delivery (docs/ledger.md, "Batch delivery") through the real stores on dynalite and the
 * simulator over HTTP: events under way together go out in one `batch`, each with its own slot,
 * intent and outcome; one user's USER_MESSAGE_LIMIT touches no other message; a batch with no
 * answer is ambiguous for each, and each retry settles on its own; a lone message goes alone.
 */

const TABLE = "hookline-deliver-batch";
const done: DeliveryResult = { status: "done" };

describe("deliver in batches, against real stores and the simulator", () => {
  const table = useTable(TABLE);
  let sim: BitrixSimulator;
  let unique = 0;
  afterEach(() => sim.close());

  async function setup(
    batching = { maxMessages: 50, gatherMs: 1000 },
    budget = { operatingSeconds: 480, operatingWindowSeconds: 600, costMs: 50 },
    /** Milliseconds hookline's clock moves on at each reading (a slow or busy process). */
    tickMs = 0,
  ) {
    sim = await startBitrixSimulator({
      openLineCodes: [LINE],
      rateLimit: { burst: 50, perSecond: 2 },
      operating: {
        limitSeconds: budget.operatingSeconds,
        windowSeconds: budget.operatingWindowSeconds,
        costMs: budget.costMs,
      },
    });
    const portal = `portal-${++unique}.example`;
    // hookline's clock: the wall clock, moved on by `later` (the simulator keeps the wall clock).
    let offsetMs = 0;
    const clock = {
      now: () => {
        offsetMs += tickMs;
        return new Date(Date.now() + offsetMs);
      },
    };
    const client = makeBitrixWebhookClient({ webhookUrl: sim.webhookUrl, timeoutMs: 1500 });
    const deps = storeDeps({
      config: ledgerConfig({ maxEvents: 2 }),
      db: table.db,
      table: TABLE,
      portal,
      client,
      clock,
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms))),
      rate: { perSecond: 2, burst: 48 },
    });
    // Every outcome read the batcher makes (one request each), in order.
    const outcomeReads: string[][] = [];
    const getMany = deps.outcomes.getMany.bind(deps.outcomes);
    const deliver = makeDeliver({
      ...deps,
      outcomes: {
        ...deps.outcomes,
        getMany: (jobIds) => {
          outcomeReads.push([...jobIds]);
          return getMany(jobIds);
        },
      },
      batching: {
        ...batching,
        perSecond: 2,
        budget: {
          operatingSeconds: budget.operatingSeconds,
          operatingWindowSeconds: budget.operatingWindowSeconds,
        },
      },
    });
    const outcomes = makeDynamoOutcomeStore(table.db, TABLE);
    const job = (name: string, userId: number): EventJob =>
      eventJob({
        jobId: `${portal}:${name}:${userId}`,
        userId,
        receivedAt: new Date().toISOString(),
        portal,
        openLineCode: LINE,
        message: `${name} for user ${userId}`,
      });
    const attempt = (message: EventJob) =>
      deliver({
        message,
        receiveCount: 1,
        queuedAt: clock.now().getTime(),
        deadline: clock.now().getTime() + 60_000,
      });
    const outcome = async (j: EventJob) => (await outcomes.get(j.jobId))?.outcome;
    const later = (ms: number) => {
      offsetMs += ms;
    };
    return {
      job,
      attempt,
      outcome,
      later,
      outcomeReads,
      leaseMs: deps.timings.leaseMs,
      limiter: deps.limiter,
    };
  }

  it("sends events under way together in one request, each settled on its own", async () => {
    const t = await setup();
    sim.messageFromAnotherApp(LINE, 3);
    const jobs = [1, 2, 3, 4, 5].map((user) => t.job("order", user));
    const results = await Promise.all(jobs.map(t.attempt));
    expect(results).toEqual(jobs.map(() => done));
    expect(sim.stats.batches).toBe(1);
    expect(sim.stats.requests).toBe(1);
    expect(sim.messages.map((m) => m.userId).sort()).toEqual([1, 2, 4, 5]);
    // User 3's week was used by another app: that message waits in its digest, the others went.
    expect(await Promise.all(jobs.map(t.outcome))).toEqual([
      "sent",
      "sent",
      "deferred",
      "sent",
      "sent",
    ]);
  });

  it("sends a lone message on its own, at once", async () => {
    const t = await setup();
    const lone = t.job("lone", 9);
    expect(await t.attempt(lone)).toEqual(done);
    expect(sim.stats.batches).toBe(0);
    expect(sim.stats.accepted).toBe(1);
    expect(await t.outcome(lone)).toBe("sent");
  });

  it("reads a lone message's outcome once beside a free turn, even when the clock moves on", async () => {
    // A cold process can take a millisecond between asking for the turn and the limiter's own
    // reading of the clock; a turn free at once is still no wait, so no second read before the
    // claim (it cost a sequential request on the cold path).
    const t = await setup(undefined, undefined, 1);
    const lone = t.job("lone", 41);
    expect(await t.attempt(lone)).toEqual(done);
    expect(t.outcomeReads).toEqual([[lone.jobId]]);
    expect(await t.outcome(lone)).toBe("sent");
  });

  it("reads the outcomes again after a wait for the turn, right before the claims", async () => {
    const t = await setup();
    // The bucket booked one interval (500 ms) past its burst, and more: the next turn waits ~1 s.
    const now = new Date();
    await t.limiter.reserve(now, 60_000, 48 + 1);
    const lone = t.job("waits", 42);
    expect(await t.attempt(lone)).toEqual(done);
    expect(t.outcomeReads).toEqual([[lone.jobId], [lone.jobId]]);
    expect(await t.outcome(lone)).toBe("sent");
  });

  it("keeps each message's evidence when the batch got no answer, and settles each retry", async () => {
    const t = await setup();
    sim.inject({ hangMs: 4000, land: true });
    const jobs = [11, 12, 13].map((user) => t.job("order", user));
    const first = await Promise.all(jobs.map(t.attempt));
    // It landed for all three, unanswered: each keeps its slot with the evidence and retries.
    for (const result of first) expect(result.status).toBe("retry");
    expect(sim.stats.accepted).toBe(3);
    expect(await Promise.all(jobs.map(t.outcome))).toEqual([undefined, undefined, undefined]);
    // After the leases, each retry meets USER_MESSAGE_LIMIT, which its own evidence reads as sent.
    t.later(t.leaseMs + 1000);
    const retried = await Promise.all(jobs.map(t.attempt));
    expect(retried).toEqual(jobs.map(() => done));
    expect(await Promise.all(jobs.map(t.outcome))).toEqual(["sent", "sent", "sent"]);
    expect(sim.stats.accepted).toBe(3);
  });

  it("sends one message per request when batches are off (maxMessages 1)", async () => {
    const t = await setup({ maxMessages: 1, gatherMs: 1000 });
    const jobs = [21, 22, 23].map((user) => t.job("order", user));
    expect(await Promise.all(jobs.map(t.attempt))).toEqual(jobs.map(() => done));
    expect(sim.stats.batches).toBe(0);
    expect(sim.stats.requests).toBe(3);
  });

  it("holds the portal until operating_reset_at when an answer shows the window nearly spent", async () => {
    // 1 s of operating time per window, 100 ms a command: after five, one more full batch (five)
    // would reach the budget.
    const t = await setup(
      { maxMessages: 5, gatherMs: 1000 },
      { operatingSeconds: 1, operatingWindowSeconds: 600, costMs: 100 },
    );
    const jobs = [31, 32, 33, 34, 35].map((user) => t.job("order", user));
    expect(await Promise.all(jobs.map(t.attempt))).toEqual(jobs.map(() => done));
    const heldUntil = t.limiter.heldBackUntil();
    expect(heldUntil).toBeGreaterThan(Date.now() + 60_000);
    // The next message waits for the reset instead of meeting 429 OPERATION_TIME_LIMIT.
    const next = await t.attempt(t.job("order", 36));
    expect(next).toMatchObject({ status: "retry", reason: "the portal is held back" });
    expect(next.status === "retry" && next.delayMs).toBeGreaterThan(60_000);
    expect(sim.stats.requests).toBe(1);
    expect(sim.stats.rejectedOperating).toBe(0);
  });
});
