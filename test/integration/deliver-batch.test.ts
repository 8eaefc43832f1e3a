import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { afterEach, describe, expect, it, vi } from "vitest";
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
    /** Reads of the table wait for this (the first turn's test holds them). */
    readsHeld: Promise<void> = Promise.resolve(),
    /** An OAuth client's token fetch before each request (named "token" in `sent` once in). */
    withToken = false,
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
    // In front of the table: each command deliver sends, named (the bucket's own writes marked).
    const sent: string[] = [];
    const webhook = makeBitrixWebhookClient({ webhookUrl: sim.webhookUrl, timeoutMs: 1500 });
    const client = withToken
      ? {
          ...webhook,
          prepare: async () => {
            await new Promise((resolve) => setTimeout(resolve, 20));
            sent.push("token");
          },
        }
      : webhook;
    const db = {
      send(command: { constructor: { name: string }; input: { Key?: { pk?: { S?: string } } } }) {
        const name = command.constructor.name.replace(/Command$/, "");
        const bucket = command.input.Key?.pk?.S?.startsWith("RATE#") ? " bucket" : "";
        sent.push(`${name}${bucket}`);
        const read = name === "GetItem" || name === "BatchGetItem" || name === "Query";
        return read
          ? readsHeld.then(() => table.db.send(command as never))
          : table.db.send(command as never);
      },
    } as unknown as DynamoDBClient;
    const deps = storeDeps({
      config: ledgerConfig({ maxEvents: 2 }),
      db,
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
    // A process of its own: `restart` starts the next, as a new Lambda instance would.
    const start = () =>
      makeDeliver({
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
    let deliver = start();
    const restart = () => {
      deliver = start();
    };
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
      sent,
      restart,
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
    expect(await t.attempt(t.job("first", 40))).toEqual(done);
    t.outcomeReads.length = 0;
    const lone = t.job("lone", 41);
    expect(await t.attempt(lone)).toEqual(done);
    expect(t.outcomeReads).toEqual([[lone.jobId]]);
    expect(await t.outcome(lone)).toBe("sent");
  });

  it("reads the outcomes again after a wait for the turn, right before the claims", async () => {
    const t = await setup();
    expect(await t.attempt(t.job("first", 39))).toEqual(done);
    t.outcomeReads.length = 0;
    // The bucket booked past its burst: the next turn waits about a second.
    await t.limiter.reserve(new Date(), 60_000, 48);
    const lone = t.job("waits", 42);
    expect(await t.attempt(lone)).toEqual(done);
    expect(t.outcomeReads).toEqual([[lone.jobId], [lone.jobId]]);
    expect(await t.outcome(lone)).toBe("sent");
  });

  it("books a cold process's first message's turn beside its reads, and reads nothing more", async () => {
    // The reads are held until the bucket's turn has gone out: booked after the reads, as every
    // later message books it, the turn would never come and the attempt would hang.
    let releaseReads = () => {};
    const readsHeld = new Promise<void>((resolve) => {
      releaseReads = resolve;
    });
    const t = await setup(undefined, undefined, 0, readsHeld);
    const first = t.job("first", 44);
    const attempt = t.attempt(first);
    await vi.waitFor(() => expect(t.sent).toContain("UpdateItem bucket"));
    releaseReads();
    expect(await attempt).toEqual(done);
    expect(await t.outcome(first)).toBe("sent");
    expect(sim.stats.accepted).toBe(1);
    // The outcome and slot reads (one request; no digest index query: the slot's marker says
    // whether a digest waits), the turn beside them, the claim with its intent, the outcome: its
    // outcome is not read again.
    expect(t.sent).toEqual(["BatchGetItem", "UpdateItem bucket", "UpdateItem", "PutItem"]);
    expect(t.outcomeReads).toEqual([]);
    // The next message books its turn after its reads, with its outcome read beside it.
    const next = t.job("next", 45);
    t.sent.length = 0;
    expect(await t.attempt(next)).toEqual(done);
    expect(t.sent.slice(0, 3)).toEqual(["BatchGetItem", "UpdateItem bucket", "BatchGetItem"]);
    expect(t.outcomeReads).toEqual([[next.jobId]]);
  });

  it("books a cold OAuth process's first turn only once its token is in", async () => {
    // A token can mean waiting for another worker's refresh (seconds): a turn booked before it
    // would be used that much later than the bucket counted it. The token first, then the turn.
    const t = await setup(undefined, undefined, 0, Promise.resolve(), true);
    const first = t.job("first", 47);
    expect(await t.attempt(first)).toEqual(done);
    expect(await t.outcome(first)).toBe("sent");
    expect(t.sent.filter((name) => name === "UpdateItem bucket")).toHaveLength(1);
    expect(t.sent.indexOf("token")).toBeGreaterThanOrEqual(0);
    expect(t.sent.indexOf("token")).toBeLessThan(t.sent.indexOf("UpdateItem bucket"));
  });

  it("leaves a cold first message's turn unused when its user's week is taken: one such turn", async () => {
    const t = await setup();
    expect(await t.attempt(t.job("sent", 46))).toEqual(done);
    // A new process: its first message finds the week used and joins the digest. The turn it
    // booked beside its reads goes unused; the process's later messages book none that way.
    t.restart();
    const books = () => t.sent.filter((name) => name === "UpdateItem bucket").length;
    for (const name of ["first", "second", "third"]) {
      const before = books();
      const message = t.job(name, 46);
      expect(await t.attempt(message)).toEqual(done);
      expect(await t.outcome(message)).toBe("deferred");
      expect(books() - before).toBe(name === "first" ? 1 : 0);
    }
    expect(sim.stats.accepted).toBe(1);
  });

  it("sends a cold process's first messages together when they came together", async () => {
    const t = await setup();
    const jobs = [51, 52, 53].map((user) => t.job("together", user));
    expect(await Promise.all(jobs.map(t.attempt))).toEqual(jobs.map(() => done));
    // One request and one turn: none of them went ahead alone on a turn of its own.
    expect(sim.stats.requests).toBe(1);
    expect(t.sent.filter((name) => name === "UpdateItem bucket")).toHaveLength(1);
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
