import {
  type DynamoDBClient,
  GetItemCommand,
  ResourceNotFoundException,
} from "@aws-sdk/client-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeDynamoOutcomeStore } from "../../functions/adapters/dynamo/outcomes";
import { makeDynamoRateLimiter } from "../../functions/adapters/dynamo/rate-limiter";
import { makeDynamoReceiptStore } from "../../functions/adapters/dynamo/receipts";
import { makeDynamoSlotStore } from "../../functions/adapters/dynamo/slots";
import { ensureTable, keys } from "../../functions/adapters/dynamo/table";
import type { OutcomeRecord } from "../../functions/core/outcome";
import type { ClaimResult, Receipt, SlotKey } from "../../functions/core/ports";
import {
  type LocalDynamo,
  makeTestClient,
  startDynalite,
  startDynamoDbLocal,
} from "../support/dynamo-servers";

const TABLE = "hookline-test";
const T0 = new Date("2030-01-07T09:00:00.000Z");
const SECOND = 1000;
const DAY = 24 * 60 * 60 * SECOND;
const WEEK = 7 * DAY;
const LEASE = 60 * SECOND;
const LINE = "0123456789abcdef0123456789ABCDEF";

const at = (ms: number): Date => new Date(T0.getTime() + ms);
const sendTimes = (answers: ({ sendAt: Date } | { retryAfterMs: number })[]): number[] =>
  answers.map((answer) => {
    if (!("sendAt" in answer))
      throw new Error(`expected a reservation, got ${JSON.stringify(answer)}`);
    return answer.sendAt.getTime();
  });

describe.each([
  ["dynalite", startDynalite],
  ["DynamoDB Local", startDynamoDbLocal],
])("DynamoDB stores on %s", (_server, start) => {
  let server: LocalDynamo | undefined;
  let endpoint: string;
  let client: DynamoDBClient;
  let unique = 0;
  /** A fresh id, so tests sharing the table never touch each other's items. */
  const fresh = (prefix: string): string => `${prefix}-${++unique}`;
  const freshSlot = (): SlotKey => ({
    portal: "portal.example",
    openLineCode: LINE,
    userId: ++unique,
  });

  beforeAll(async () => {
    server = await start();
    endpoint = server.endpoint;
    client = makeTestClient(endpoint);
    await ensureTable(client, TABLE);
  });

  afterAll(async () => {
    client?.destroy();
    await server?.close();
  });

  it("ensureTable is idempotent", async () => {
    await expect(ensureTable(client, TABLE)).resolves.toBeUndefined();
  });

  describe("weekly slots", () => {
    const slots = () => makeDynamoSlotStore(client, TABLE);

    it("lets exactly one of 50 concurrent claims win; the rest see the winner", async () => {
      const key = freshSlot();
      const claimIds = Array.from({ length: 50 }, (_, i) => `job-${i}`);
      const results = await Promise.all(claimIds.map((id) => slots().claim(key, id, T0, LEASE)));

      const winners = claimIds.filter((_, i) => results[i]?.status === "claimed");
      expect(winners).toHaveLength(1);
      expect(results.filter((r) => r.status === "pending")).toHaveLength(49);
      for (const [i, result] of results.entries()) {
        if (claimIds[i] === winners[0]) continue;
        expect(result).toEqual({ status: "pending", heldBy: winners[0], leaseUntil: at(LEASE) });
      }
    });

    it("hands a crashed claim to another claim once its lease ran out, not before", async () => {
      const key = freshSlot();
      expect(await slots().claim(key, "crashed", T0, LEASE)).toEqual(claimed(false));

      expect(await slots().claim(key, "retry", at(LEASE - 1), LEASE)).toEqual({
        status: "pending",
        heldBy: "crashed",
        leaseUntil: at(LEASE),
      });
      expect(await slots().claim(key, "retry", at(LEASE), LEASE)).toEqual(claimed(false));
      // The crashed attempt comes back late and finds the slot taken.
      expect(await slots().claim(key, "crashed", at(LEASE + 1), LEASE)).toEqual({
        status: "pending",
        heldBy: "retry",
        leaseUntil: at(2 * LEASE),
      });
    });

    it("keeps a sent slot for 7 days after sentAt", async () => {
      const key = freshSlot();
      await slots().claim(key, "first", T0, LEASE);
      const sentAt = at(5 * SECOND);
      await slots().confirm(key, "first", sentAt);

      const used: ClaimResult = { status: "sent", heldBy: "first", sentAt };
      expect(await slots().claim(key, "second", at(10 * LEASE), LEASE)).toEqual(used);
      expect(
        await slots().claim(key, "second", new Date(sentAt.getTime() + WEEK - 1), LEASE),
      ).toEqual(used);
      expect(
        await slots().claim(key, "second", new Date(sentAt.getTime() + WEEK + 1), LEASE),
      ).toEqual(claimed(false));
    });

    it("answers sent, not claimed, to the claim that already sent", async () => {
      const key = freshSlot();
      await slots().claim(key, "job", T0, LEASE);
      await slots().confirm(key, "job", at(SECOND));
      expect(await slots().claim(key, "job", at(2 * SECOND), LEASE)).toEqual({
        status: "sent",
        heldBy: "job",
        sentAt: at(SECOND),
      });
    });

    it("gives the slot back on release by its owner only", async () => {
      const key = freshSlot();
      await slots().claim(key, "owner", T0, LEASE);

      await slots().release(key, "stranger");
      expect(await slots().claim(key, "next", at(SECOND), LEASE)).toMatchObject({
        status: "pending",
        heldBy: "owner",
      });

      await slots().release(key, "owner");
      expect(await slots().claim(key, "next", at(SECOND), LEASE)).toEqual(claimed(false));
    });

    it("does not release a sent slot", async () => {
      const key = freshSlot();
      await slots().claim(key, "owner", T0, LEASE);
      await slots().confirm(key, "owner", at(SECOND));
      await slots().release(key, "owner");
      expect(await slots().claim(key, "next", at(2 * SECOND), LEASE)).toMatchObject({
        status: "sent",
        heldBy: "owner",
      });
    });

    it("lets a claim re-take its own pending slot, ambiguous once marked", async () => {
      const key = freshSlot();
      await slots().claim(key, "job", T0, LEASE);
      expect(await slots().claim(key, "job", at(SECOND), LEASE)).toEqual(claimed(false));

      await slots().markAmbiguous(key, "job", at(2 * SECOND), LEASE);
      expect(await slots().claim(key, "other", at(LEASE + SECOND), LEASE)).toEqual({
        status: "pending",
        heldBy: "job",
        leaseUntil: at(2 * SECOND + LEASE),
      });
      expect(await slots().claim(key, "job", at(3 * SECOND), LEASE)).toEqual(claimed(true));
    });

    it("tells only the claim whose send was ambiguous", async () => {
      const key = freshSlot();
      await slots().claim(key, "job", T0, LEASE);
      await slots().markAmbiguous(key, "job", T0, LEASE);
      expect(await slots().claim(key, "other", at(LEASE), LEASE)).toEqual(claimed(false));
      await slots().markAmbiguous(key, "job", at(LEASE), LEASE); // lost the slot: no effect
      expect(await slots().claim(key, "other", at(LEASE + 1), LEASE)).toEqual(claimed(false));
    });

    it("clears the ambiguous mark on confirm", async () => {
      const key = freshSlot();
      await slots().claim(key, "job", T0, LEASE);
      await slots().markAmbiguous(key, "job", T0, LEASE);
      await slots().confirm(key, "job", at(SECOND));
      expect(await slots().claim(key, "job", at(SECOND + WEEK), LEASE)).toEqual(claimed(false));
    });

    it("ignores a confirm from a claim that lost the slot", async () => {
      const key = freshSlot();
      await slots().claim(key, "holder", T0, LEASE);
      await slots().confirm(key, "late", at(SECOND));
      expect(await slots().claim(key, "third", at(2 * SECOND), LEASE)).toMatchObject({
        status: "pending",
        heldBy: "holder",
      });
    });

    it("records a confirmed send even when the slot was freed meanwhile", async () => {
      const key = freshSlot();
      await slots().claim(key, "job", T0, LEASE);
      await slots().release(key, "job");
      await slots().confirm(key, "job", at(SECOND));
      expect(await slots().claim(key, "other", at(2 * SECOND), LEASE)).toEqual({
        status: "sent",
        heldBy: "job",
        sentAt: at(SECOND),
      });
    });

    it("keeps users, portals and open lines apart", async () => {
      const base = freshSlot();
      const keys: SlotKey[] = [
        base,
        { ...base, userId: base.userId + 100_000 },
        { ...base, portal: "other.example" },
        { ...base, openLineCode: "f".repeat(32) },
      ];
      const results = await Promise.all(
        keys.map((key, i) => slots().claim(key, `job-${i}`, T0, LEASE)),
      );
      expect(results).toEqual(keys.map(() => claimed(false)));
    });

    it("lets other failures through unchanged", async () => {
      const missing = makeDynamoSlotStore(client, "no-such-table");
      await expect(missing.claim(freshSlot(), "job", T0, LEASE)).rejects.toBeInstanceOf(
        ResourceNotFoundException,
      );
    });
  });

  describe("receipts", () => {
    const receipts = () => makeDynamoReceiptStore(client, TABLE);
    const byId = (sourceId: string, eventId: string): Receipt => ({
      sourceId,
      eventId,
      byId: true,
    });

    it("records an event once", async () => {
      const eventId = fresh("evt");
      expect(await receipts().record(byId("github", eventId), T0)).toBe("recorded");
      expect(await receipts().record(byId("github", eventId), at(SECOND))).toBe("duplicate");
      expect(await receipts().record(byId("stripe", eventId), at(SECOND))).toBe("recorded");
    });

    it("records exactly one of 20 concurrent puts", async () => {
      const eventId = fresh("evt");
      const results = await Promise.all(
        Array.from({ length: 20 }, () => receipts().record(byId("github", eventId), T0)),
      );
      expect(results.filter((r) => r === "recorded")).toHaveLength(1);
      expect(results.filter((r) => r === "duplicate")).toHaveLength(19);
    });

    it("records again after remove", async () => {
      const eventId = fresh("evt");
      await receipts().record(byId("github", eventId), T0);
      await receipts().remove(byId("github", eventId));
      expect(await receipts().record(byId("github", eventId), T0)).toBe("recorded");
    });

    it("treats a receipt past its 30 days as gone, even before TTL deletes it", async () => {
      const receipt = byId("github", fresh("evt"));
      await receipts().record(receipt, T0);
      expect(await receipts().record(receipt, at(29 * DAY))).toBe("duplicate");
      expect(await receipts().record(receipt, at(30 * DAY + 2 * SECOND))).toBe("recorded");
      expect(await receipts().record(receipt, at(31 * DAY))).toBe("duplicate");
    });

    it("keeps absurdly long event ids apart", async () => {
      const prefix = fresh("x").repeat(2000);
      expect(await receipts().record(byId("hmac", `${prefix}a`), T0)).toBe("recorded");
      expect(await receipts().record(byId("hmac", `${prefix}b`), T0)).toBe("recorded");
      expect(await receipts().record(byId("hmac", `${prefix}a`), T0)).toBe("duplicate");
    });

    it("deduplicates on the content hash whatever the id, in one write per webhook", async () => {
      const contentHash = fresh("sha");
      const replay = (eventId: string): Receipt => ({
        sourceId: "github",
        eventId,
        contentHash,
        byId: false,
      });
      const first = fresh("delivery");
      expect(await receipts().record(replay(first), T0)).toBe("recorded");
      expect(await receipts().record(replay(fresh("delivery")), at(SECOND))).toBe("duplicate");
      // Only the hash was written: no receipt item for the (unsigned) id.
      const byIdItem = await client.send(
        new GetItemCommand({ TableName: TABLE, Key: keys.receipt("github", first) }),
      );
      expect(byIdItem.Item).toBeUndefined();
      expect(await receipts().record(replay("x"), at(30 * DAY + 2 * SECOND))).toBe("recorded");
    });

    it("with byId, a re-signed retry (new hash, same id) is a duplicate too", async () => {
      const eventId = fresh("evt");
      const signed = (contentHash: string): Receipt => ({
        sourceId: "shop",
        eventId,
        contentHash,
        byId: true,
      });
      expect(await receipts().record(signed(fresh("sha")), T0)).toBe("recorded");
      expect(await receipts().record(signed(fresh("sha")), at(SECOND))).toBe("duplicate");
      const replayed = fresh("sha");
      expect(await receipts().record({ ...signed(replayed), eventId: fresh("evt") }, T0)).toBe(
        "recorded",
      );
      expect(await receipts().record({ ...signed(replayed), eventId: fresh("evt") }, T0)).toBe(
        "duplicate",
      );
    });

    it("removes both keys, so the sender's retry is recorded afresh", async () => {
      const receipt: Receipt = {
        sourceId: "shop",
        eventId: fresh("evt"),
        contentHash: fresh("sha"),
        byId: true,
      };
      await receipts().record(receipt, T0);
      await receipts().remove(receipt);
      expect(await receipts().record(receipt, T0)).toBe("recorded");
    });
  });

  describe("outcomes", () => {
    const outcomes = () => makeDynamoOutcomeStore(client, TABLE);
    const outcomeFor = (jobId: string): OutcomeRecord => ({
      jobId,
      sourceId: "github",
      eventId: "delivery-1",
      eventName: "issues.opened",
      outcome: "limited",
      reason: "bitrix USER_MESSAGE_LIMIT",
      userId: 42,
      bitrixCode: "USER_MESSAGE_LIMIT",
      at: at(SECOND),
    });

    it("marks a job in flight once", async () => {
      const jobId = fresh("job");
      expect(await outcomes().begin(jobId, T0)).toBe("started");
      expect(await outcomes().begin(jobId, at(SECOND))).toBe("in-flight");
      expect(await outcomes().get(jobId)).toBeUndefined();
    });

    it("starts exactly one of concurrent begins", async () => {
      const jobId = fresh("job");
      const results = await Promise.all(
        Array.from({ length: 10 }, () => outcomes().begin(jobId, T0)),
      );
      expect(results.filter((r) => r === "started")).toHaveLength(1);
      expect(results.filter((r) => r === "in-flight")).toHaveLength(9);
    });

    it("starts again after abandon", async () => {
      const jobId = fresh("job");
      await outcomes().begin(jobId, T0);
      await outcomes().abandon(jobId);
      expect(await outcomes().begin(jobId, at(SECOND))).toBe("started");
      expect(await outcomes().begin(jobId, at(SECOND))).toBe("in-flight");
    });

    it("answers done once an outcome is recorded, and abandon keeps it", async () => {
      const jobId = fresh("job");
      await outcomes().begin(jobId, T0);
      await outcomes().record(outcomeFor(jobId));
      await outcomes().abandon(jobId);
      expect(await outcomes().begin(jobId, at(2 * SECOND))).toBe("done");
      expect(await outcomes().get(jobId)).toEqual(outcomeFor(jobId));
    });

    it("returns what was recorded, optional fields included or not", async () => {
      const jobId = fresh("job");
      const { userId: _userId, bitrixCode: _bitrixCode, ...bare } = outcomeFor(jobId);
      const suppressed: OutcomeRecord = { ...bare, outcome: "suppressed", reason: "no route" };
      await outcomes().record(suppressed);
      expect(await outcomes().get(jobId)).toEqual(suppressed);
      expect(await outcomes().get(fresh("never"))).toBeUndefined();
    });
  });

  describe("rate limiter", () => {
    const limiter = (portal: string, perSecond: number, burst: number, on = client) =>
      makeDynamoRateLimiter(on, TABLE, { portal, perSecond, burst });

    it("lets a burst through an idle bucket, then one per interval", async () => {
      const bucket = limiter(fresh("portal"), 10, 5);
      const answers = [];
      for (let i = 0; i < 8; i++) answers.push(await bucket.reserve(T0, 10 * SECOND));
      expect(sendTimes(answers)).toEqual(
        [0, 0, 0, 0, 0, 100, 200, 300].map((ms) => at(ms).getTime()),
      );
    });

    it("drains at perSecond: an idle bucket refills", async () => {
      const bucket = limiter(fresh("portal"), 2, 2);
      const first = sendTimes([await bucket.reserve(T0, 0), await bucket.reserve(T0, 0)]);
      expect(first).toEqual([T0.getTime(), T0.getTime()]);
      expect(await bucket.reserve(T0, 0)).toEqual({ retryAfterMs: 500 });
      // Every 500 ms one more request has drained.
      expect(sendTimes([await bucket.reserve(at(500), 0)])).toEqual([at(500).getTime()]);
      expect(await bucket.reserve(at(500), 0)).toEqual({ retryAfterMs: 500 });
      expect(sendTimes([await bucket.reserve(at(1000), 0)])).toEqual([at(1000).getTime()]);
    });

    it("rounds a fractional interval up", async () => {
      const bucket = limiter(fresh("portal"), 3, 1);
      const times = sendTimes([await bucket.reserve(T0, SECOND), await bucket.reserve(T0, SECOND)]);
      expect(times).toEqual([T0.getTime(), at(334).getTime()]);
    });

    it("books the exact schedule from concurrent workers on separate clients", async () => {
      const portal = fresh("portal");
      const other = makeTestClient(endpoint);
      try {
        const [a, b] = [limiter(portal, 10, 4), limiter(portal, 10, 4, other)];
        const answers = await Promise.all(
          Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).reserve(T0, 60 * SECOND)),
        );
        const expected = Array.from({ length: 40 }, (_, k) => Math.max(0, k - 3) * 100);
        expect(sendTimes(answers).sort((x, y) => x - y)).toEqual(
          expected.map((ms) => at(ms).getTime()),
        );
      } finally {
        other.destroy();
      }
    });

    it("never lets any window exceed the leaky bucket, whatever the workers' clocks", async () => {
      const portal = fresh("portal");
      const [perSecond, burst, interval] = [20, 6, 50];
      const other = makeTestClient(endpoint);
      try {
        const [a, b] = [
          limiter(portal, perSecond, burst),
          limiter(portal, perSecond, burst, other),
        ];
        // Four rounds 1.5 s apart (the bucket goes idle in between) of 20 concurrent requests from
        // workers whose clocks disagree by up to 20 ms, arriving in any order.
        const sent: number[] = [];
        for (let round = 0; round < 4; round++) {
          const nows = Array.from({ length: 20 }, (_, i) =>
            at(round * 1500 + ((i * 7919) % 41) - 20),
          );
          const answers = await Promise.all(
            nows.map((now, i) => (i % 2 ? a : b).reserve(now, 60 * SECOND)),
          );
          for (const [i, sendAt] of sendTimes(answers).entries()) {
            expect(sendAt).toBeGreaterThanOrEqual(nows[i]?.getTime() ?? 0);
            sent.push(sendAt);
          }
        }
        // A bucket of `burst` draining one per I holds the k-j+1 sends in [s_j, s_k] only if
        // s_k - s_j >= (k - j + 1 - burst) * I, for every pair of the sorted send times.
        const sorted = [...sent].sort((x, y) => x - y);
        let violations = 0;
        for (let k = 0; k < sorted.length; k++) {
          for (let j = 0; j < k; j++) {
            const span = (sorted[k] ?? 0) - (sorted[j] ?? 0);
            if (span < (k - j + 1 - burst) * interval) violations++;
          }
        }
        expect(violations).toBe(0);
        // And not stricter than it: the first round opens with a whole burst by T0 + 20 ms,
        // while the request after it waits until at least T0 - 20 + I.
        expect(sent.filter((sendAt) => sendAt < at(30).getTime())).toHaveLength(burst);
      } finally {
        other.destroy();
      }
    });

    it("reserves nothing when the wait would exceed maxWait", async () => {
      const bucket = limiter(fresh("portal"), 10, 2);
      await bucket.reserve(T0, 0);
      await bucket.reserve(T0, 0);
      expect(await bucket.reserve(T0, 0)).toEqual({ retryAfterMs: 100 });
      expect(await bucket.reserve(T0, 50)).toEqual({ retryAfterMs: 50 });
      // The refused requests left the schedule untouched: the next slot is still T0 + I.
      expect(sendTimes([await bucket.reserve(T0, 100)])).toEqual([at(100).getTime()]);
    });

    it("pushes every worker back after penalize, and never pulls them forward", async () => {
      const portal = fresh("portal");
      const other = makeTestClient(endpoint);
      try {
        const bucket = limiter(portal, 10, 3);
        expect(sendTimes([await bucket.reserve(T0, 0)])).toEqual([T0.getTime()]);
        await bucket.penalize(T0, 5 * SECOND);
        await bucket.penalize(T0, SECOND);

        const elsewhere = limiter(portal, 10, 3, other);
        expect(await elsewhere.reserve(T0, 0)).toEqual({ retryAfterMs: 5 * SECOND });
        const times = sendTimes([
          await elsewhere.reserve(T0, 10 * SECOND),
          await bucket.reserve(T0, 10 * SECOND),
        ]);
        expect(times).toEqual([at(5 * SECOND).getTime(), at(5 * SECOND + 100).getTime()]);
      } finally {
        other.destroy();
      }
    });

    it("rejects a bucket that cannot drain", () => {
      expect(() => limiter("p", 0, 5)).toThrow(RangeError);
      expect(() => limiter("p", 2, 0)).toThrow(RangeError);
    });
  });
});

function claimed(ambiguous: boolean): ClaimResult {
  return { status: "claimed", ambiguous };
}
