import {
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  ResourceNotFoundException,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeDynamoInspection } from "../../functions/adapters/dynamo/inspection";
import { makeDynamoOutcomeStore } from "../../functions/adapters/dynamo/outcomes";
import { makeDynamoRateLimiter } from "../../functions/adapters/dynamo/rate-limiter";
import { makeDynamoReceiptStore } from "../../functions/adapters/dynamo/receipts";
import { makeDynamoSlotStore } from "../../functions/adapters/dynamo/slots";
import { keys, shardOf, TABLE_INDEXES } from "../../functions/adapters/dynamo/table";
import type { EventJob } from "../../functions/core/job";
import { type OutcomeRecord, outcomeRecord } from "../../functions/core/outcome";
import {
  type ClaimResult,
  DIGEST_HOLDER,
  type Receipt,
  type ReceiptStore,
  type SlotAttempt,
  type SlotHolder,
  type SlotKey,
} from "../../functions/core/ports";
import { ensureTable } from "../../functions/local/ensure-table";
import { makeMemoryReceiptStore } from "../../functions/local/memory-receipts";
import {
  type LocalDynamo,
  makeTestClient,
  startDynalite,
  startDynamoDbLocal,
} from "../support/dynamo-servers";
import { isSlotClaim, resendingApplied } from "../support/ledger-sdk-resend";

const TABLE = "hookline-test";
const T0 = new Date("2030-01-07T09:00:00.000Z");
const SECOND = 1000;
const DAY = 24 * 60 * 60 * SECOND;
const WEEK = 7 * DAY;
const LEASE = 60 * SECOND;
const MARGIN = 300 * SECOND;
/** How long ambiguity evidence is kept: a retry window and the dead-letter retention. */
const EVIDENCE = 15 * DAY;
const LINE = "0123456789abcdef0123456789ABCDEF";
const SLOT_TIMES = { weekMs: WEEK, weekMarginMs: MARGIN, evidenceMs: EVIDENCE };

const at = (ms: number): Date => new Date(T0.getTime() + ms);
const eventFor = (jobId: string, over: Partial<EventJob> = {}): EventJob => ({
  v: 3,
  kind: "event",
  jobId,
  sourceId: "github",
  eventId: `delivery-${jobId}`,
  eventName: "issues.opened",
  receivedAt: T0.toISOString(),
  userId: 42,
  message: `message of ${jobId}`,
  whenLimited: "digest",
  ...over,
});
/** A final outcome of `jobId`: sent, unless `over` says otherwise. */
const finalFor = (jobId: string, over: Partial<OutcomeRecord> = {}): OutcomeRecord => ({
  jobId,
  sourceId: "github",
  eventId: `delivery-${jobId}`,
  eventName: "issues.opened",
  outcome: "sent",
  reason: "sent",
  userId: 42,
  at: at(SECOND),
  ...over,
});
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
    const slots = () => makeDynamoSlotStore(client, TABLE, SLOT_TIMES);
    /** The slot store over a client whose SDK re-sends a claim that had applied. */
    const resendingSlots = () =>
      makeDynamoSlotStore(resendingApplied(client, isSlotClaim), TABLE, SLOT_TIMES);
    const job = (jobId: string): SlotHolder => ({ jobId });
    /** Claims and expects the slot. */
    const take = async (key: SlotKey, holder: SlotHolder, now: Date): Promise<SlotAttempt> => {
      const result = await slots().claim(key, holder, now, LEASE);
      if (result.status !== "claimed")
        throw new Error(`expected a claim, got ${JSON.stringify(result)}`);
      return result.attempt;
    };
    const freeAfter = (sentAt: Date) => new Date(sentAt.getTime() + WEEK + MARGIN);

    it("lets exactly one of 50 concurrent claims win; the rest see its live lease", async () => {
      const key = freshSlot();
      const holders = Array.from({ length: 50 }, (_, i) => `job-${i}`);
      const results = await Promise.all(
        holders.map((id) => slots().claim(key, job(id), T0, LEASE)),
      );
      const winners = results.flatMap((result) =>
        result.status === "claimed" ? [result.attempt.holder.jobId] : [],
      );
      expect(winners).toHaveLength(1);
      for (const result of results) {
        if (result.status === "claimed") continue;
        expect(result).toEqual({ status: "busy", heldBy: winners[0], leaseUntil: at(LEASE) });
      }
    });

    it("blocks another copy of the same job while the lease is live", async () => {
      const key = freshSlot();
      const first = await take(key, job("job"), T0);
      expect(first).toMatchObject({
        key,
        holder: job("job"),
        leaseUntil: at(LEASE),
        limitedTries: 0,
      });
      expect(first.maybeSentAt).toBeUndefined();
      expect(await slots().claim(key, job("job"), at(LEASE - 1), LEASE)).toEqual({
        status: "busy",
        heldBy: "job",
        leaseUntil: at(LEASE),
      });
    });

    it("takes back our own run-out lease as ambiguous once it recorded its intent: it may have landed by the lease's end", async () => {
      const key = freshSlot();
      const crashed = await take(key, job("job"), T0);
      expect(await slots().markSending(crashed, at(SECOND))).toBe(true);
      const again = await take(key, job("job"), at(LEASE));
      expect(again.token).not.toBe(crashed.token);
      expect(again.maybeSentAt).toEqual(at(LEASE));
      expect(again.leaseUntil).toEqual(at(2 * LEASE));
    });

    it("takes back our own run-out lease without intent as a clean retry: nothing went on the wire", async () => {
      const key = freshSlot();
      await take(key, job("job"), T0);
      const again = await take(key, job("job"), at(LEASE));
      expect(again.maybeSentAt).toBeUndefined();
    });

    it("lets another holder take a crashed claim without intent when its lease ends", async () => {
      const key = freshSlot();
      await take(key, job("crashed"), T0);
      const next = await take(key, job("other"), at(LEASE));
      expect(next.maybeSentAt).toBeUndefined();
    });

    it("owns a claim whose write the SDK re-sent after it applied (its own token on the item)", async () => {
      const key = freshSlot();
      const resending = resendingSlots();
      const claim = await resending.claim(key, job("job"), T0, LEASE);
      expect(claim.status).toBe("claimed");
    });

    describe("the quick way: a claim that carries the intent (claimSending)", () => {
      it("takes a free slot with its intent in one write: used until a week after the lease", async () => {
        const key = freshSlot();
        expect(await slots().freeToSend(key, "job", T0)).toBe(true);
        const attempt = await slots().claimSending(key, job("job"), T0, LEASE);
        expect(attempt).toMatchObject({ key, holder: job("job"), leaseUntil: at(LEASE) });
        expect(await slots().freeToSend(key, "other", at(SECOND))).toBe(false);
        // A live lease whose intent is recorded: busy, and used until then if it landed.
        expect(await slots().claim(key, job("other"), at(SECOND), LEASE)).toEqual({
          status: "busy",
          heldBy: "job",
          leaseUntil: at(LEASE),
          usedUntil: freeAfter(at(LEASE)),
        });
        // Unconfirmed, it holds the week; the next claim after it knows our own free time.
        expect(await slots().claimSending(key, job("other"), at(LEASE + SECOND), LEASE)).toBe(
          undefined,
        );
        const next = await take(key, job("other"), freeAfter(at(LEASE)));
        expect(next.previousFreeAt).toEqual(freeAfter(at(LEASE)));
      });

      it("never takes a slot a digest waits on (its pending-digest marker): the careful way joins it", async () => {
        const key = freshSlot();
        await slots().notePending(key, "older", at(WEEK));
        expect(await slots().freeToSend(key, "newer", T0)).toBe(false);
        expect(await slots().claimSending(key, job("newer"), T0, LEASE)).toBeUndefined();
        const careful = await take(key, job("newer"), T0);
        expect(careful.pendingJobs).toEqual(["older"]);
      });

      it("never takes a slot the quick way that an attempt carrying the same job let go: its outcome may be just written", async () => {
        const key = freshSlot();
        const first = await take(key, job("job"), T0);
        await slots().release(first, at(SECOND));
        expect(await slots().claimSending(key, job("job"), at(2 * SECOND), LEASE)).toBeUndefined();
        // Another job may; and the careful way (which reads the outcome again) may too.
        expect(await slots().claimSending(key, job("other"), at(2 * SECOND), LEASE)).toBeDefined();
        const digest = freshSlot();
        const flush = await take(
          digest,
          { jobId: DIGEST_HOLDER, digest: { id: "d1", jobIds: ["a", "b"] } },
          T0,
        );
        await slots().release(flush, at(SECOND));
        expect(await slots().claimSending(digest, job("b"), at(2 * SECOND), LEASE)).toBeUndefined();
        expect((await slots().claim(digest, job("b"), at(2 * SECOND), LEASE)).status).toBe(
          "claimed",
        );
      });

      it("owns a quick claim whose write the SDK re-sent after it applied, without taking its own item for a previous send", async () => {
        const key = freshSlot();
        const resending = resendingSlots();
        const attempt = await resending.claimSending(key, job("job"), T0, LEASE);
        expect(attempt).toMatchObject({ holder: job("job"), limitedTries: 0 });
        expect(attempt?.previousFreeAt).toBeUndefined();
      });
    });

    it("keeps another holder out of a crashed attempt's slot until its week could be over", async () => {
      const key = freshSlot();
      const crashed = await take(key, job("crashed"), T0);
      await slots().markSending(crashed, T0);
      expect(await slots().claim(key, job("other"), at(LEASE + SECOND), LEASE)).toEqual({
        status: "taken",
        heldBy: "crashed",
        freeAt: freeAfter(at(LEASE)),
      });
      const next = await take(key, job("other"), freeAfter(at(LEASE)));
      expect(next.maybeSentAt).toBeUndefined();
    });

    it("keeps a confirmed slot until sentAt + week + margin, and says when it was sent", async () => {
      const key = freshSlot();
      const attempt = await take(key, job("first"), T0);
      const sentAt = at(5 * SECOND);
      await slots().confirm(attempt, sentAt);

      const used: ClaimResult = {
        status: "taken",
        heldBy: "first",
        freeAt: freeAfter(sentAt),
        sentAt,
      };
      expect(await slots().claim(key, job("second"), at(10 * LEASE), LEASE)).toEqual(used);
      expect(await slots().claim(key, job("first"), at(10 * LEASE), LEASE)).toEqual(used);
      expect(
        await slots().claim(key, job("second"), new Date(freeAfter(sentAt).getTime() - 1), LEASE),
      ).toEqual(used);
      const next = await take(key, job("second"), freeAfter(sentAt));
      // Our own last send: a USER_MESSAGE_LIMIT now would mean the clocks differ.
      expect(next.previousFreeAt).toEqual(freeAfter(sentAt));
    });

    it("frees the slot on release, for the holding attempt's token only", async () => {
      const key = freshSlot();
      const attempt = await take(key, job("owner"), T0);
      await slots().release({ ...attempt, token: "stale-token" }, at(SECOND));
      expect(await slots().claim(key, job("next"), at(SECOND), LEASE)).toMatchObject({
        status: "busy",
        heldBy: "owner",
      });
      await slots().release(attempt, at(SECOND));
      await take(key, job("next"), at(SECOND));
    });

    it("keeps ambiguity evidence through a release and the lease's end", async () => {
      const key = freshSlot();
      const attempt = await take(key, job("job"), T0);
      const marked = await slots().markAmbiguous(attempt, at(2 * SECOND));
      expect(marked.maybeSentAt).toEqual(at(2 * SECOND));
      // A 503 after the unanswered send: the slot is handed back, the evidence is not.
      await slots().release(marked, at(3 * SECOND));
      expect(await slots().claim(key, job("other"), at(4 * SECOND), LEASE)).toEqual({
        status: "taken",
        heldBy: "job",
        freeAt: freeAfter(at(2 * SECOND)),
      });
      const again = await take(key, job("job"), at(5 * SECOND));
      expect(again.maybeSentAt).toEqual(at(2 * SECOND));
    });

    it("keeps the evidence of a crashed attempt (by its lease) and of a marked one, the later", async () => {
      const key = freshSlot();
      const attempt = await take(key, job("job"), T0);
      await slots().markSending(attempt, T0);
      await slots().markAmbiguous(attempt, at(2 * SECOND));
      // Crashed without a release: it may have landed up to its lease's end.
      const again = await take(key, job("job"), at(LEASE));
      expect(again.maybeSentAt).toEqual(at(LEASE));
    });

    it("ignores the writes of an attempt whose lease another attempt took over", async () => {
      const key = freshSlot();
      const stale = await take(key, job("job"), T0);
      const current = await take(key, job("job"), at(LEASE));
      await slots().confirm(stale, at(LEASE + SECOND));
      await slots().release(stale, at(LEASE + SECOND));
      expect(await slots().claim(key, job("other"), at(LEASE + 2 * SECOND), LEASE)).toEqual({
        status: "busy",
        heldBy: "job",
        leaseUntil: current.leaseUntil,
      });
    });

    it("resumes a crashed digest with the events it carried, and names them once it is sent", async () => {
      const key = freshSlot();
      const carried = { id: "digest-1", jobIds: ["a", "b"] };
      const crashed = await take(key, { jobId: DIGEST_HOLDER, digest: carried }, T0);
      await slots().markSending(crashed, T0);
      const resumed = await take(
        key,
        { jobId: DIGEST_HOLDER, digest: { id: "digest-2", jobIds: ["a", "b", "c"] } },
        at(LEASE),
      );
      expect(resumed.holder.digest).toEqual(carried);
      expect(resumed.maybeSentAt).toEqual(at(LEASE));
      await slots().confirm(resumed, at(LEASE + SECOND));
      expect(await slots().claim(key, job("c"), at(LEASE + 2 * SECOND), LEASE)).toEqual({
        status: "taken",
        heldBy: DIGEST_HOLDER,
        freeAt: freeAfter(at(LEASE + SECOND)),
        sentAt: at(LEASE + SECOND),
        digest: carried,
      });
    });

    it("blocks a slot under Bitrix24's record after USER_MESSAGE_LIMIT: not our own send", async () => {
      const key = freshSlot();
      const attempt = await take(key, job("job"), T0);
      await slots().block(attempt, at(DAY), 3);
      const blocked = await slots().claim(key, job("job"), at(SECOND), LEASE);
      expect(blocked).toMatchObject({ status: "taken", freeAt: at(DAY) });
      expect(blocked.status === "taken" && blocked.heldBy).not.toBe("job");
      expect(blocked.status === "taken" && blocked.sentAt).toBeUndefined();
      const next = await take(key, job("other"), at(DAY));
      expect(next.limitedTries).toBe(3);
      expect(next.previousFreeAt).toBeUndefined();
    });

    it("clears the evidence and the tries on confirm", async () => {
      const key = freshSlot();
      const attempt = await take(key, job("job"), T0);
      await slots().block(attempt, at(SECOND), 2);
      const next = await take(key, job("job"), at(SECOND));
      const marked = await slots().markAmbiguous(next, at(2 * SECOND));
      await slots().confirm(marked, at(3 * SECOND));
      const later = await take(key, job("other"), freeAfter(at(3 * SECOND)));
      expect(later.limitedTries).toBe(0);
      expect(later.maybeSentAt).toBeUndefined();
    });

    it("marks a queued flush once, until the mark runs out", async () => {
      const key = freshSlot();
      expect(await slots().markFlushQueued(key, T0, at(LEASE))).toBe(true);
      expect(await slots().markFlushQueued(key, at(SECOND), at(LEASE + SECOND))).toBe(false);
      expect(await slots().markFlushQueued(key, at(LEASE), at(2 * LEASE))).toBe(true);
      // The mark alone does not take the slot.
      await take(key, job("job"), at(LEASE));
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
        keys.map((key, i) => slots().claim(key, job(`job-${i}`), T0, LEASE)),
      );
      expect(results.map((result) => result.status)).toEqual(keys.map(() => "claimed"));
    });

    it("lets other failures through unchanged", async () => {
      const missing = makeDynamoSlotStore(client, "no-such-table", SLOT_TIMES);
      await expect(missing.claim(freshSlot(), job("job"), T0, LEASE)).rejects.toBeInstanceOf(
        ResourceNotFoundException,
      );
    });
  });

  describe("receipts", () => {
    const receipts = () => makeDynamoReceiptStore(client, TABLE);
    receiptContract(receipts, fresh);

    it("a put the SDK sends again after it had applied is still this attempt's", async () => {
      const receipt = { sourceId: "github", eventId: fresh("evt"), eventName: "push", byId: true };
      // The first answer is lost after the put applied; the SDK sends the same put again.
      const resending = makeTestClient(endpoint);
      resending.middlewareStack.add(
        (next) => async (args) => {
          await next(args);
          return next(args);
        },
        { step: "build", name: "sendAppliedPutAgain" },
      );
      expect(await makeDynamoReceiptStore(resending, TABLE).record(receipt, T0)).toEqual({
        state: "recorded",
      });
      expect((await receipts().record(receipt, at(SECOND))).state).toBe("received");
    });

    it("with a content hash and no byId, writes the hash item only", async () => {
      const eventId = fresh("delivery");
      const receipt: Receipt = {
        sourceId: "github",
        eventId,
        eventName: "push",
        contentHash: fresh("sha"),
        byId: false,
      };
      expect((await receipts().record(receipt, T0)).state).toBe("recorded");
      const byIdItem = await client.send(
        new GetItemCommand({ TableName: TABLE, Key: keys.receipt("github", eventId) }),
      );
      expect(byIdItem.Item).toBeUndefined();
    });

    it("reads the receipts of the two-write scheme: queued (or older, with no state) is a duplicate, pending was received", async () => {
      const legacy = async (extra: Record<string, { S: string }>) => {
        const eventId = fresh("evt");
        await client.send(
          new PutItemCommand({
            TableName: TABLE,
            Item: {
              ...keys.receipt("github", eventId),
              eventId: { S: eventId },
              receivedAt: { S: T0.toISOString() },
              expiresAt: { N: String(T0.getTime() / 1000 + 86_400) },
              ...extra,
            },
          }),
        );
        const receipt = { sourceId: "github", eventId, eventName: "push", byId: true };
        return { eventId, found: await receipts().record(receipt, at(SECOND)) };
      };
      expect((await legacy({ state: { S: "queued" } })).found).toEqual({ state: "queued" });
      expect((await legacy({})).found).toEqual({ state: "queued" });
      const pending = await legacy({ state: { S: "pending" } });
      expect(pending.found).toEqual({
        state: "received",
        first: { eventId: pending.eventId, eventName: "push", receivedAt: T0 },
      });
    });
  });

  describe("reads side by side (readItem)", () => {
    /** The client, with the name of each command sent through it. */
    const counted = () => {
      const sent: string[] = [];
      const db = {
        send: (command: { constructor: { name: string } }) => {
          sent.push(command.constructor.name);
          return client.send(command as never);
        },
      } as unknown as DynamoDBClient;
      return { db, sent };
    };

    it("reads an outcome and a slot asked for together in one request, each its own item", async () => {
      const { db, sent } = counted();
      const jobId = fresh("job");
      const slot = freshSlot();
      await makeDynamoOutcomeStore(client, TABLE).finish(finalFor(jobId));
      const [outcome, free, missing] = await Promise.all([
        makeDynamoOutcomeStore(db, TABLE).get(jobId),
        makeDynamoSlotStore(db, TABLE, SLOT_TIMES).freeToSend(slot, jobId, T0),
        makeDynamoOutcomeStore(db, TABLE).get(fresh("none")),
      ]);
      expect(outcome).toEqual(finalFor(jobId));
      expect(free).toBe(true);
      expect(missing).toBeUndefined();
      expect(sent).toEqual(["BatchGetItemCommand"]);
    });

    it("asks for one key once, however often it is read in a turn, and reads alone with GetItem", async () => {
      const { db, sent } = counted();
      const jobId = fresh("job");
      await makeDynamoOutcomeStore(client, TABLE).finish(finalFor(jobId));
      const store = makeDynamoOutcomeStore(db, TABLE);
      const twice = await Promise.all([store.get(jobId), store.get(jobId)]);
      expect(twice).toEqual([finalFor(jobId), finalFor(jobId)]);
      expect(await store.get(jobId)).toEqual(finalFor(jobId));
      expect(sent).toEqual(["GetItemCommand", "GetItemCommand"]);
    });
  });

  describe("outcomes", () => {
    const outcomes = () => makeDynamoOutcomeStore(client, TABLE);

    it("writes a final outcome once: a later, different one does not replace it", async () => {
      const jobId = fresh("job");
      const sent = finalFor(jobId);
      expect(await outcomes().finish(sent)).toEqual(sent);
      const failed = finalFor(jobId, { outcome: "failed", reason: "no", at: at(2 * SECOND) });
      expect(await outcomes().finish(failed)).toEqual(sent);
      expect(await outcomes().get(jobId)).toEqual(sent);
    });

    it("reads several jobs' outcomes in one request, those that exist (a batch's second read)", async () => {
      const [a, b] = [fresh("job"), fresh("job")];
      const failed = finalFor(b, { outcome: "failed", reason: "no" });
      await outcomes().finish(finalFor(a));
      await outcomes().finish(failed);
      const found = await outcomes().getMany([a, b, fresh("none"), a]);
      expect([...found.keys()].sort()).toEqual([a, b].sort());
      expect(found.get(a)).toEqual(finalFor(a));
      expect(found.get(b)).toEqual(failed);
    });

    describe("the second channel's notified state", () => {
      it("notified keeps the event in its user's digest; the digest's sent replaces it", async () => {
        const key = freshSlot();
        const jobId = fresh("job");
        const job = eventFor(jobId, { userId: key.userId, whenLimited: "notify" });
        await outcomes().defer(job, key, at(WEEK), "weekly slot used", at(0));
        const notified = await outcomes().notified(jobId, "hookline:0", at(SECOND), "notified");
        expect(notified).toMatchObject({
          outcome: "notified",
          notifiedAt: at(SECOND),
          notifyTag: "hookline:0",
          dueAt: at(WEEK),
        });
        // Still pending: the digest carries it, marked notified.
        expect(await outcomes().pending(key)).toEqual([
          expect.objectContaining({ jobId, notifiedAt: at(SECOND), notifyTag: "hookline:0" }),
        ]);
        // A redelivery's deferral does not undo the mark; a reschedule moves its due time.
        expect(
          await outcomes().defer(job, key, at(2 * WEEK), "again", at(2 * SECOND)),
        ).toMatchObject({ outcome: "notified" });
        await outcomes().reschedule([jobId], at(3 * WEEK), "slot taken");
        expect(await outcomes().get(jobId)).toMatchObject({
          outcome: "notified",
          dueAt: at(3 * WEEK),
        });
        // A second notified (another copy) stands on the first.
        expect(
          await outcomes().notified(jobId, "hookline:0", at(3 * SECOND), "again"),
        ).toMatchObject({ outcome: "notified", notifiedAt: at(SECOND) });
        // notified is not final: the digest's sent replaces it (and keeps what deliver passes on).
        const sent = finalFor(jobId, {
          userId: key.userId,
          digestId: "digest-1",
          reason: "sent in digest digest-1",
          notifiedAt: at(SECOND),
          notifyTag: "hookline:0",
        });
        expect(await outcomes().finish(sent)).toEqual(sent);
        expect(await outcomes().get(jobId)).toEqual(sent);
        expect(await outcomes().pending(key)).toEqual([]);
      });

      it("notified never replaces a final outcome, nor marks an event that was never deferred", async () => {
        const jobId = fresh("job");
        const sent = finalFor(jobId);
        await outcomes().finish(sent);
        expect(await outcomes().notified(jobId, "t", at(2 * SECOND), "notified")).toEqual(sent);
        expect(await outcomes().notified(fresh("job"), "t", at(2 * SECOND), "x")).toBeUndefined();
      });
    });

    it("lets exactly one of concurrent final writes stand", async () => {
      const jobId = fresh("job");
      const writes = (["sent", "failed", "unknown", "suppressed"] as const).map((outcome) =>
        finalFor(jobId, { outcome, reason: outcome }),
      );
      const standing = await Promise.all(writes.map((record) => outcomes().finish(record)));
      const stored = await outcomes().get(jobId);
      expect(new Set(standing.map((record) => record.outcome))).toEqual(new Set([stored?.outcome]));
    });

    it("moves a deferred event to a final outcome, never back", async () => {
      const jobId = fresh("job");
      const key = freshSlot();
      const deferred = await outcomes().defer(eventFor(jobId), key, at(DAY), "slot taken", T0);
      expect(deferred).toMatchObject({ outcome: "deferred", dueAt: at(DAY), reason: "slot taken" });
      await outcomes().finish(finalFor(jobId));
      const again = await outcomes().defer(eventFor(jobId), key, at(2 * DAY), "again", at(SECOND));
      expect(again.outcome).toBe("sent");
      expect((await outcomes().get(jobId))?.outcome).toBe("sent");
    });

    it("lets a redrive replace an exhausted failed outcome", async () => {
      const jobId = fresh("job");
      await outcomes().finish(finalFor(jobId, { outcome: "failed", exhausted: true }));
      const sent = finalFor(jobId, { at: at(DAY) });
      expect(await outcomes().finish(sent)).toEqual(sent);
    });

    it("lists a user's deferred events oldest first, with their messages, until they are final", async () => {
      const key = freshSlot();
      const [a, b, c] = [fresh("job"), fresh("job"), fresh("job")];
      const attach = [{ MESSAGE: "attached" }];
      await outcomes().defer(
        eventFor(b, { receivedAt: at(2 * SECOND).toISOString(), attach }),
        key,
        at(DAY),
        "taken",
        T0,
      );
      await outcomes().defer(
        eventFor(a, { receivedAt: at(SECOND).toISOString() }),
        key,
        at(DAY),
        "taken",
        T0,
      );
      await outcomes().defer(
        eventFor(c, { receivedAt: at(3 * SECOND).toISOString(), urlPreview: false }),
        key,
        at(DAY),
        "taken",
        T0,
      );
      const pending = await outcomes().pending(key);
      expect(pending.map((event) => event.jobId)).toEqual([a, b, c]);
      expect(pending[1]?.message).toEqual({ userId: 42, message: `message of ${b}`, attach });
      expect(pending[2]?.message.urlPreview).toBe(false);
      expect(pending[0]).toMatchObject({ sourceId: "github", eventName: "issues.opened" });

      await outcomes().finish(finalFor(b, { digestId: "digest-1" }));
      expect((await outcomes().pending(key)).map((event) => event.jobId)).toEqual([a, c]);
      expect(await outcomes().pending(freshSlot())).toEqual([]);
    });

    it("finds the users whose digest is due, and moves events with reschedule", async () => {
      const key = freshSlot();
      const [a, b] = [fresh("job"), fresh("job")];
      await outcomes().defer(eventFor(a), key, at(DAY), "taken", T0);
      await outcomes().defer(eventFor(b), key, at(2 * DAY), "taken", T0);
      const dueFor = async (now: Date) =>
        (await outcomes().due(now, 1000)).filter((digest) => digest.key.userId === key.userId);
      expect(await dueFor(at(DAY - 1))).toEqual([]);
      expect(await dueFor(at(DAY))).toEqual([{ key, events: 1 }]);
      expect(await dueFor(at(2 * DAY))).toEqual([{ key, events: 2 }]);

      await outcomes().reschedule([a, b], at(3 * DAY), "week used");
      expect(await dueFor(at(2 * DAY))).toEqual([]);
      expect((await outcomes().get(a))?.dueAt).toEqual(at(3 * DAY));
      // A final event is not moved back into the digest, and leaves the due index.
      await outcomes().finish(finalFor(b));
      await outcomes().reschedule([b], at(DAY), "late");
      expect((await outcomes().get(b))?.outcome).toBe("sent");
      expect(await dueFor(at(3 * DAY))).toEqual([{ key, events: 1 }]);
    });

    it("spreads the due and events indexes over their shards, reads them all (and a table's old single partition), oldest due first", async () => {
      const key = freshSlot();
      const jobs = Array.from({ length: 24 }, () => fresh("job"));
      for (const [i, jobId] of jobs.entries()) {
        await outcomes().defer(eventFor(jobId), key, at(DAY + i), "taken", T0);
      }
      const shardsUsed = new Set<string>();
      for (const jobId of jobs) {
        const { Item } = await client.send(
          new GetItemCommand({ TableName: TABLE, Key: keys.outcome(jobId), ConsistentRead: true }),
        );
        expect(Item?.dueShard?.S).toBe(shardOf(TABLE_INDEXES.due, jobId));
        expect(Item?.eventsShard?.S).toBe(shardOf(TABLE_INDEXES.events, jobId));
        shardsUsed.add(Item?.dueShard?.S ?? "");
      }
      expect(shardsUsed.size).toBe(TABLE_INDEXES.due.shards);
      // An event deferred before the sharding sits in the old single partition.
      const legacy = fresh("job");
      await outcomes().defer(eventFor(legacy), key, at(DAY - 1), "taken", T0);
      await client.send(
        new UpdateItemCommand({
          TableName: TABLE,
          Key: keys.outcome(legacy),
          UpdateExpression: "SET dueShard = :old",
          ExpressionAttributeValues: { ":old": { S: "due" } },
        }),
      );
      const dueFor = async (now: Date, limit = 1000) =>
        (await outcomes().due(now, limit)).filter((digest) => digest.key.userId === key.userId);
      expect(await dueFor(at(DAY + 30))).toEqual([{ key, events: 25 }]);
      // The limit counts the oldest due events of all shards together.
      expect(await dueFor(at(DAY + 1), 1000)).toEqual([{ key, events: 3 }]);
    });

    it("marks an unguarded send in flight per attempt: busy while live, interrupted after, done once final", async () => {
      const jobId = fresh("job");
      const job = eventFor(jobId);
      expect(await outcomes().begin(job, "token-1", T0, LEASE)).toBe("started");
      expect(await outcomes().begin(job, "token-2", at(LEASE - 1), LEASE)).toBe("busy");
      expect(await outcomes().begin(job, "token-2", at(LEASE), LEASE)).toBe("interrupted");
      await outcomes().abandon(jobId, "token-2"); // not its marker: no effect
      expect(await outcomes().begin(job, "token-3", at(LEASE), LEASE)).toBe("interrupted");
      await outcomes().abandon(jobId, "token-1");
      expect(await outcomes().begin(job, "token-4", at(LEASE), LEASE)).toBe("started");
      expect(await outcomes().get(jobId)).toBeUndefined();

      await outcomes().finish(finalFor(jobId));
      expect(await outcomes().begin(job, "token-5", at(3 * LEASE), LEASE)).toBe("done");
    });

    it("starts exactly one of concurrent begins", async () => {
      const job = eventFor(fresh("job"));
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) => outcomes().begin(job, `token-${i}`, T0, LEASE)),
      );
      expect(results.filter((r) => r === "started")).toHaveLength(1);
      expect(results.filter((r) => r === "busy")).toHaveLength(9);
    });

    it("returns what was recorded, optional fields included or not", async () => {
      const jobId = fresh("job");
      const { userId: _userId, ...bare } = finalFor(jobId);
      const suppressed: OutcomeRecord = { ...bare, outcome: "suppressed", reason: "drop route" };
      await outcomes().finish(suppressed);
      expect(await outcomes().get(jobId)).toEqual(suppressed);

      const full = finalFor(fresh("job"), {
        outcome: "failed",
        bitrixCode: "NOT_FOUND",
        digestId: "digest-9",
        exhausted: true,
      });
      await outcomes().finish(full);
      expect(await outcomes().get(full.jobId)).toEqual(full);
      expect(await outcomes().get(fresh("never"))).toBeUndefined();
    });
  });

  describe("the operator's reads (hookline events, hookline slot)", () => {
    const inspection = () => makeDynamoInspection(client, TABLE);
    /** A fresh job's `sent` outcome for user 42: delivery `n` of `source`, `n` seconds after T0. */
    const sentOf = (
      source: string,
      n: number,
      over: Partial<OutcomeRecord> = {},
    ): OutcomeRecord => ({
      jobId: fresh("job"),
      sourceId: source,
      eventId: `delivery-${n}`,
      eventName: "issues.opened",
      outcome: "sent",
      reason: "sent",
      userId: 42,
      at: at(n * SECOND),
      ...over,
    });
    const slots = () => makeDynamoSlotStore(client, TABLE, SLOT_TIMES);

    it("reads a slot free, pending with its lease, then sent until its week is over", async () => {
      const key = freshSlot();
      expect(await inspection().slot(key)).toEqual({ state: "free" });
      const claim = await slots().claim(key, { jobId: "job" }, T0, LEASE);
      if (claim.status !== "claimed") throw new Error(`expected a claim, got ${claim.status}`);
      expect(await inspection().slot(key)).toMatchObject({
        state: "pending",
        leaseUntil: at(LEASE),
        holderJob: "job",
      });
      await slots().markSending(claim.attempt, at(SECOND));
      await slots().confirm(claim.attempt, at(2 * SECOND));
      expect(await inspection().slot(key)).toMatchObject({
        state: "sent",
        sentAt: at(2 * SECOND),
        freeAt: at(2 * SECOND + WEEK + MARGIN),
      });
    });

    it("reads a lone send kept as its intent as sent once its holder's outcome says so", async () => {
      const key = freshSlot();
      const jobId = fresh("job");
      const attempt = await slots().claimSending(key, { jobId }, T0, LEASE);
      if (!attempt) throw new Error("expected the quick claim");
      expect(await inspection().slot(key)).toMatchObject({ state: "pending", holderJob: jobId });
      const outcomes = makeDynamoOutcomeStore(client, TABLE);
      const event = eventFor(jobId, { userId: key.userId });
      await outcomes.finish(
        outcomeRecord(event, { outcome: "sent", reason: "sent", at: at(SECOND) }),
      );
      const view = await inspection().slot(key);
      expect(view).toMatchObject({
        state: "sent",
        sentAt: at(SECOND),
        holderJob: jobId,
        freeAt: at(LEASE + WEEK + MARGIN),
      });
      expect(view.leaseUntil).toBeUndefined();
    });

    it("clears a slot: true when there was one, and it reads free afterwards", async () => {
      const key = freshSlot();
      expect(await inspection().clearSlot(key)).toBe(false);
      await slots().claim(key, { jobId: "job" }, T0, LEASE);
      expect(await inspection().clearSlot(key)).toBe(true);
      expect(await inspection().slot(key)).toEqual({ state: "free" });
    });

    it("lists outcomes newest first since a time, filtered, with their notifications", async () => {
      const source = fresh("source");
      const outcomes = makeDynamoOutcomeStore(client, TABLE);
      const record = (n: number, over: Partial<OutcomeRecord> = {}) => sentOf(source, n, over);
      const [old, first, failed, second] = [
        record(1),
        record(3),
        record(4, { outcome: "failed", reason: "no" }),
        record(5, { userId: 43 }),
      ] as const;
      for (const each of [old, first, failed, second]) await outcomes.finish(each);
      const since = at(2 * SECOND);
      expect(await inspection().recentOutcomes({ source, since, limit: 10 })).toEqual([
        second,
        failed,
        first,
      ]);
      expect(
        await inspection().recentOutcomes({
          source,
          since,
          limit: 10,
          userId: 42,
          outcome: "sent",
        }),
      ).toEqual([first]);
      expect(await inspection().notifications([first.jobId])).toEqual(new Map());
    });

    it("on a deployed stack (listSent false) lists every outcome but sent; by key it finds all", async () => {
      const source = fresh("source");
      const outcomes = makeDynamoOutcomeStore(client, TABLE, { listSent: false });
      const record = (n: number, over: Partial<OutcomeRecord> = {}) => sentOf(source, n, over);
      const sent = record(1);
      const failed = record(2, { outcome: "failed", reason: "no" });
      const unknown = record(3, { outcome: "unknown", reason: "no answer" });
      for (const each of [sent, failed, unknown]) await outcomes.finish(each);
      // A deferred event is listed, and leaves the index once its digest sent it.
      const key = freshSlot();
      const later = eventFor(fresh("job"), { userId: key.userId, sourceId: source });
      await outcomes.defer(later, key, at(WEEK), "weekly slot used", at(4 * SECOND));
      const since = T0;
      const listed = async () =>
        (await inspection().recentOutcomes({ source, since, limit: 10 })).map((r) => r.outcome);
      expect(await listed()).toEqual(["deferred", "unknown", "failed"]);
      await outcomes.finish({
        ...unknown,
        jobId: later.jobId,
        outcome: "sent",
        reason: "in digest",
        at: at(WEEK),
      });
      expect(await listed()).toEqual(["unknown", "failed"]);
      // Every outcome is still there by key (`hookline events --event`).
      const byKey = await inspection().outcomesOf([
        sent.jobId,
        failed.jobId,
        later.jobId,
        fresh("none"),
      ]);
      expect(byKey.map((r) => [r.jobId, r.outcome])).toEqual([
        [later.jobId, "sent"],
        [failed.jobId, "failed"],
        [sent.jobId, "sent"],
      ]);
    });

    it("reads when a message reached its user as a notification, for those that did", async () => {
      const key = freshSlot();
      const jobId = fresh("job");
      const job = eventFor(jobId, { userId: key.userId, message: "urgent", whenLimited: "notify" });
      const outcomes = makeDynamoOutcomeStore(client, TABLE);
      await outcomes.defer(job, key, at(WEEK), "weekly slot used", T0);
      await outcomes.notified(jobId, "hookline:0", at(SECOND), "notified");
      expect(await inspection().notifications([jobId, fresh("never")])).toEqual(
        new Map([[jobId, { notifiedAt: at(SECOND), notifyTag: "hookline:0" }]]),
      );
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

    it("books a request of several intervals (a batch's operating time) in one reservation", async () => {
      const bucket = limiter(fresh("portal"), 10, 1);
      // 2.5 intervals, rounded up to whole milliseconds: the next request waits 250 ms, not 100.
      const times = sendTimes([
        await bucket.reserve(T0, SECOND, 2.5),
        await bucket.reserve(T0, SECOND, 2.5),
        await bucket.reserve(T0, SECOND),
      ]);
      expect(times).toEqual([T0.getTime(), at(250).getTime(), at(500).getTime()]);
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

    it("counts the portal's failures in a row, and starts again after recovered", async () => {
      const portal = fresh("portal");
      const bucket = limiter(portal, 10, 3);
      expect(await bucket.reserve(T0, 0)).toEqual({ sendAt: T0, failures: 0 });
      await bucket.penalize(T0, SECOND);
      await bucket.penalize(T0, SECOND);
      expect(await bucket.reserve(at(SECOND), 0)).toEqual({ sendAt: at(SECOND), failures: 2 });
      await bucket.recovered();
      expect(await bucket.reserve(at(2 * SECOND), 0)).toEqual({
        sendAt: at(2 * SECOND),
        failures: 0,
      });
    });

    it("knows, without I/O, how long the portal is held back, once it has seen the hold", async () => {
      const portal = fresh("portal");
      const other = makeTestClient(endpoint);
      try {
        const bucket = limiter(portal, 10, 3);
        expect(bucket.heldBackUntil()).toBe(Number.NEGATIVE_INFINITY);
        await bucket.penalize(T0, 5 * SECOND);
        expect(bucket.heldBackUntil()).toBe(at(5 * SECOND).getTime());
        // Another process learns of the hold from its first refused reservation.
        const elsewhere = limiter(portal, 10, 3, other);
        expect(elsewhere.heldBackUntil()).toBe(Number.NEGATIVE_INFINITY);
        expect(await elsewhere.reserve(T0, 0)).toEqual({ retryAfterMs: 5 * SECOND });
        expect(elsewhere.heldBackUntil()).toBe(at(5 * SECOND).getTime());
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

describe("receipts in memory (the local run)", () => {
  // One store for the block, as the DynamoDB tests share one table.
  const store = makeMemoryReceiptStore();
  let unique = 0;
  receiptContract(
    () => store,
    (prefix) => `${prefix}-${++unique}`,
  );
});

/**
 * The receipt store's contract (functions/core/ports.ts), run against the DynamoDB store on each
 * server and against the local run's in-memory store, so one test covers both.
 */
function receiptContract(receipts: () => ReceiptStore, fresh: (prefix: string) => string): void {
  /** What one webhook's receipt found: `recorded`, `received` or `queued`. */
  const receive = async (receipt: Receipt, when: Date) =>
    (await receipts().record(receipt, when)).state;
  const byId = (sourceId: string, eventId: string): Receipt => ({
    sourceId,
    eventId,
    eventName: "push",
    byId: true,
  });
  /** A receipt that also carries the body's hash; `byId` says which of the two deduplicates. */
  const hashed = (
    sourceId: string,
    eventId: string,
    contentHash: string,
    byId: boolean,
    eventName = "push",
  ): Receipt => ({ sourceId, eventId, eventName, contentHash, byId });

  it("records an event once; a later webhook is told who recorded it", async () => {
    const eventId = fresh("evt");
    expect(await receive(byId("github", eventId), T0)).toBe("recorded");
    expect(await receipts().record(byId("github", eventId), at(SECOND))).toEqual({
      state: "received",
      first: { eventId, eventName: "push", receivedAt: T0 },
    });
    expect(await receive(byId("stripe", eventId), at(SECOND))).toBe("recorded");
  });

  it("records exactly one of 20 concurrent puts; the others are told it was received", async () => {
    const eventId = fresh("evt");
    const results = await Promise.all(
      Array.from({ length: 20 }, () => receive(byId("github", eventId), T0)),
    );
    expect(results.filter((r) => r === "recorded")).toHaveLength(1);
    expect(results.filter((r) => r === "received")).toHaveLength(19);
  });

  it("is written once: never taken over, however long ago its request was", async () => {
    const receipt = byId("github", fresh("evt"));
    expect(await receive(receipt, T0)).toBe("recorded");
    for (const later of [SECOND, 60 * SECOND, DAY]) {
      expect(await receipts().record(receipt, at(later))).toMatchObject({
        state: "received",
        first: { receivedAt: T0 },
      });
    }
  });

  it("treats a receipt past its 30 days as gone, even before TTL deletes it", async () => {
    const receipt = byId("github", fresh("evt"));
    await receive(receipt, T0);
    expect(await receive(receipt, at(29 * DAY))).toBe("received");
    expect(await receive(receipt, at(30 * DAY + 2 * SECOND))).toBe("recorded");
    expect(await receive(receipt, at(31 * DAY))).toBe("received");
  });

  it("keeps absurdly long event ids apart", async () => {
    const prefix = fresh("x").repeat(2000);
    expect(await receive(byId("hmac", `${prefix}a`), T0)).toBe("recorded");
    expect(await receive(byId("hmac", `${prefix}b`), T0)).toBe("recorded");
    expect(await receive(byId("hmac", `${prefix}a`), T0)).toBe("received");
  });

  it("deduplicates on the content hash whatever the id or name, naming the first request's", async () => {
    const contentHash = fresh("sha");
    const replay = (eventId: string, eventName = "push"): Receipt =>
      hashed("github", eventId, contentHash, false, eventName);
    const first = fresh("delivery");
    expect(await receive(replay(first), T0)).toBe("recorded");
    expect(await receipts().record(replay(fresh("delivery"), "issues.opened"), at(SECOND))).toEqual(
      { state: "received", first: { eventId: first, eventName: "push", receivedAt: T0 } },
    );
    // Only the hash counts: the (unsigned) id was not recorded, so it is free for another body.
    expect(await receive(byId("github", first), at(SECOND))).toBe("recorded");
    expect(await receive(replay("x"), at(30 * DAY + 2 * SECOND))).toBe("recorded");
  });

  it("answers with the body hash on the id's receipt, to a re-signed retry and to a forged id alike", async () => {
    const eventId = fresh("evt");
    const signed = (contentHash: string, bodyHash: string): Receipt => ({
      ...hashed("shop", eventId, contentHash, true),
      bodyHash,
    });
    expect(await receive(signed(fresh("sha"), "body-a"), T0)).toBe("recorded");
    const retry = await receipts().record(signed(fresh("sha"), "body-a"), at(SECOND));
    expect(retry).toMatchObject({ state: "received", first: { eventId }, bodyHash: "body-a" });
    // Another body's signed bytes under this id: its content is new, the id's receipt answers;
    // sent again, its own content receipt (which names this id) defers to the id's body hash.
    const forged = signed(fresh("sha"), "body-b");
    for (const later of [SECOND, 2 * SECOND]) {
      expect(await receipts().record(forged, at(later))).toMatchObject({
        state: "received",
        first: { eventId, receivedAt: later === SECOND ? T0 : at(SECOND) },
        bodyHash: "body-a",
      });
    }
  });

  it("a receipt written before body hashes were kept answers without one", async () => {
    const eventId = fresh("evt");
    expect(await receive(hashed("shop", eventId, fresh("sha"), true), T0)).toBe("recorded");
    const retry = { ...hashed("shop", eventId, fresh("sha"), true), bodyHash: "body-a" };
    expect(await receipts().record(retry, at(SECOND))).toEqual({
      state: "received",
      first: { eventId, eventName: "push", receivedAt: T0 },
    });
  });

  it("with byId, a re-signed retry (new hash, same id) is found too", async () => {
    const eventId = fresh("evt");
    const signed = (contentHash: string): Receipt => hashed("shop", eventId, contentHash, true);
    expect(await receive(signed(fresh("sha")), T0)).toBe("recorded");
    expect(await receive(signed(fresh("sha")), at(SECOND))).toBe("received");
    const replayed = fresh("sha");
    expect(await receive({ ...signed(replayed), eventId: fresh("evt") }, T0)).toBe("recorded");
    expect(await receive({ ...signed(replayed), eventId: fresh("evt") }, T0)).toBe("received");
  });
}
