import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeDynamoOutcomeStore } from "../../functions/adapters/dynamo/outcomes";
import { makeDynamoRateLimiter } from "../../functions/adapters/dynamo/rate-limiter";
import { makeDynamoSlotStore } from "../../functions/adapters/dynamo/slots";
import { ensureTable } from "../../functions/adapters/dynamo/table";
import { type DeliverDeps, makeDeliver } from "../../functions/core/deliver";
import type { DeliveryJob } from "../../functions/core/job";
import { silentLog } from "../../functions/core/log";
import type { Metrics } from "../../functions/core/metrics";
import type { BitrixClient, SendResult } from "../../functions/core/ports";
import { type LocalDynamo, makeTestClient, startDynalite } from "../support/dynamo-servers";

const CODE = "ab515f5d85a8b844d484f6ea75a2e494";
const TABLE = "hookline-deliver";

/** A Bitrix24 client that answers from a script and remembers what it was asked. */
function scriptedClient(...answers: SendResult[]): BitrixClient & { calls: number } {
  const client = {
    calls: 0,
    async sendNetworkMessage(): Promise<SendResult> {
      const answer = answers[client.calls] ?? { kind: "sent" };
      client.calls += 1;
      return answer;
    },
  };
  return client;
}

let nextUser = 1;
const job = (userId = nextUser++): DeliveryJob => ({
  v: 1,
  jobId: `app:${randomUUID()}:0`,
  sourceId: "app",
  eventId: randomUUID(),
  eventName: "order.paid",
  receivedAt: new Date().toISOString(),
  userId,
  message: "hello",
});

describe("deliver, against real stores", () => {
  let dynamo: LocalDynamo;
  const counted: string[] = [];
  const metrics: Metrics = {
    count: (name, dimensions) =>
      void counted.push([name, ...Object.values(dimensions ?? {})].join(":")),
    milliseconds: () => {},
  };

  beforeAll(async () => {
    dynamo = await startDynalite();
    await ensureTable(makeTestClient(dynamo.endpoint), TABLE);
  });
  afterAll(() => dynamo?.close());

  function setup(client: BitrixClient, overrides: Partial<DeliverDeps> = {}) {
    const db = makeTestClient(dynamo.endpoint);
    const outcomes = makeDynamoOutcomeStore(db, TABLE);
    const portal = `portal-${randomUUID()}`;
    const deps: DeliverDeps = {
      bitrix: { openLineCode: CODE, weeklyLimit: true, timeoutMs: 1000 },
      portal,
      leaseMs: 60_000,
      maxReceives: 5,
      slots: makeDynamoSlotStore(db, TABLE),
      limiter: makeDynamoRateLimiter(db, TABLE, { portal, perSecond: 100, burst: 100 }),
      client,
      outcomes,
      clock: { now: () => new Date() },
      log: silentLog,
      metrics,
      ...overrides,
    };
    const attempt = (message: DeliveryJob, receiveCount = 1) =>
      makeDeliver(deps)({ job: message, receiveCount, deadline: Date.now() + 20_000 });
    return {
      attempt,
      outcomes,
      slots: deps.slots,
      key: (userId: number) => ({ portal, openLineCode: CODE, userId }),
    };
  }

  it("sends, confirms the slot, and suppresses the next message for that user", async () => {
    const client = scriptedClient({ kind: "sent" });
    const { attempt, outcomes } = setup(client);
    const first = job();
    const second = job(first.userId);
    expect(await attempt(first)).toEqual({ status: "done", outcome: "sent" });
    expect(await attempt(second)).toEqual({ status: "done", outcome: "suppressed" });
    expect(client.calls).toBe(1);
    expect((await outcomes.get(second.jobId))?.reason).toContain(first.jobId);
  });

  it("treats a redelivery of a sent job as sent, without calling Bitrix24 again", async () => {
    const client = scriptedClient({ kind: "sent" });
    const { attempt } = setup(client);
    const message = job();
    await attempt(message);
    expect(await attempt(message, 2)).toEqual({ status: "done", outcome: "sent" });
    expect(client.calls).toBe(1);
  });

  it("keeps the slot on USER_MESSAGE_LIMIT and records limited", async () => {
    const client = scriptedClient({ kind: "limited", code: "USER_MESSAGE_LIMIT" });
    const { attempt, slots, key } = setup(client);
    const message = job();
    expect(await attempt(message)).toEqual({ status: "done", outcome: "limited" });
    const claim = await slots.claim(key(message.userId), "someone-else", new Date(), 60_000);
    expect(claim.status).toBe("sent");
  });

  it("gives the slot back and alarms on a configuration fault", async () => {
    const client = scriptedClient({ kind: "config", code: "CODE_ERROR", status: 400 });
    const { attempt, slots, key, outcomes } = setup(client);
    const message = job();
    expect(await attempt(message)).toEqual({ status: "done", outcome: "failed" });
    expect((await outcomes.get(message.jobId))?.bitrixCode).toBe("CODE_ERROR");
    expect(counted).toContain("BitrixConfigFaults");
    const claim = await slots.claim(key(message.userId), "next", new Date(), 60_000);
    expect(claim).toEqual({ status: "claimed", ambiguous: false });
  });

  it("gives the slot back and retries with growing delay on 503, then sends", async () => {
    const client = scriptedClient({
      kind: "retry",
      code: "QUERY_LIMIT_EXCEEDED",
      status: 503,
      retryAfterMs: 1500,
      overloaded: true,
    });
    const { attempt } = setup(client);
    const message = job();
    const first = await attempt(message, 1);
    expect(first).toMatchObject({ status: "retry" });
    expect(first.status === "retry" && first.delayMs).toBeGreaterThanOrEqual(1200);
    expect(await attempt(message, 2)).toEqual({ status: "done", outcome: "sent" });
  });

  it("after an unanswered send, retries and counts USER_MESSAGE_LIMIT as proof it landed", async () => {
    const client = scriptedClient(
      { kind: "ambiguous", code: "TIMEOUT" },
      { kind: "limited", code: "USER_MESSAGE_LIMIT" },
    );
    const { attempt, outcomes, slots, key } = setup(client);
    const message = job();
    expect(await attempt(message, 1)).toMatchObject({ status: "retry" });
    // Nobody else may take the slot meanwhile: the unanswered send may have landed.
    expect((await slots.claim(key(message.userId), "intruder", new Date(), 60_000)).status).toBe(
      "pending",
    );
    expect(await attempt(message, 2)).toEqual({ status: "done", outcome: "sent" });
    expect((await outcomes.get(message.jobId))?.reason).toMatch(
      /earlier unanswered attempt landed/,
    );
  });

  it("without the weekly limit, records an unanswered send as unknown and never repeats it", async () => {
    const client = scriptedClient({ kind: "ambiguous", code: "TIMEOUT" });
    const { attempt } = setup(client, {
      bitrix: { openLineCode: CODE, weeklyLimit: false, timeoutMs: 1000 },
    });
    const message = job();
    expect(await attempt(message, 1)).toEqual({ status: "done", outcome: "unknown" });
    expect(await attempt(message, 2)).toEqual({ status: "done", outcome: "unknown" });
    expect(client.calls).toBe(1);
  });

  it("records failed on the last receive and still hands the message to the dead-letter queue", async () => {
    const client = scriptedClient({
      kind: "retry",
      code: "HTTP_500",
      status: 500,
      retryAfterMs: 1000,
      overloaded: false,
    });
    const { attempt, outcomes } = setup(client);
    const message = job();
    expect(await attempt(message, 5)).toMatchObject({ status: "retry" });
    expect((await outcomes.get(message.jobId))?.outcome).toBe("failed");
  });

  it("comes back later, holding nothing, when the bucket is booked beyond its deadline", async () => {
    const client = scriptedClient();
    const db = makeTestClient(dynamo.endpoint);
    const portal = `portal-${randomUUID()}`;
    const limiter = makeDynamoRateLimiter(db, TABLE, { portal, perSecond: 1, burst: 1 });
    await limiter.penalize(new Date(), 60_000);
    const { attempt, slots, key } = setup(client, { portal, limiter });
    const message = job();
    expect(await attempt(message)).toMatchObject({ status: "retry" });
    expect(client.calls).toBe(0);
    expect((await slots.claim(key(message.userId), "next", new Date(), 60_000)).status).toBe(
      "claimed",
    );
  });
});
