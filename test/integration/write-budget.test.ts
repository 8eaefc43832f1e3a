import { beforeAll, describe, expect, it } from "vitest";
import { type LedgerWrites, measureLedgerWrites } from "../../bench/ledger-writes";
import { READ_UNITS_PER_MESSAGE, WRITES_PER_MESSAGE } from "../../bench/write-budget";
import { INDEX_SHARDS } from "../../functions/core/config-defaults";

/**
 * The ledger's DynamoDB write budget (docs/ledger.md) and its read request units, counted, not
 * timed: a counting client through the real ingest, deliver and sweep use cases on dynalite.
 */
let writes: LedgerWrites;

beforeAll(async () => {
  writes = await measureLedgerWrites([1, 5, 20]);
}, 60_000);

describe("DynamoDB writes per message", () => {
  it("are the counts the cost model prices (bench/write-budget.ts), within the ledger's budget", () => {
    // Exactly the stated counts: fewer writes must lower the bill (`npm run cost`), so a change
    // either way fails here until bench/write-budget.ts says it.
    const counted = {
      receipt: writes.ingestPerWebhook,
      sentAlone: writes.sentAlone,
      sentIndexEntries: writes.sentIndexEntries,
      deferred: writes.deferred,
      duplicateWebhook: writes.duplicateWebhook,
    };
    expect(counted).toEqual({
      receipt: WRITES_PER_MESSAGE.receipt,
      sentAlone: WRITES_PER_MESSAGE.sentAlone,
      sentIndexEntries: WRITES_PER_MESSAGE.sentIndexEntries,
      deferred: WRITES_PER_MESSAGE.deferred,
      duplicateWebhook: WRITES_PER_MESSAGE.duplicateWebhook,
    });
    // The ledger's budget (docs/ledger.md, "Writes per message"): at most 3 for a message sent on
    // its own (rate limiter, the claim carrying the intent, outcome), at most 3 for a deferred
    // event (the failed claim, the slot's pending-digest marker, the deferral), 1 for a duplicate
    // webhook.
    expect(writes.sentAlone).toBeLessThanOrEqual(3);
    // Sent together in one batch request, each message still has its own claim with its intent,
    // and its outcome; the request's one rate-limiter write is shared (docs/ledger.md).
    const { sentInBatch } = writes;
    expect(sentInBatch.messages).toBe(10);
    expect(sentInBatch.writes).toBeLessThanOrEqual(2 * sentInBatch.messages + 1);
    expect(writes.deferred).toBeLessThanOrEqual(3);
    expect(writes.duplicateWebhook).toBe(1);
    // A digest for k events: a constant plus one write per event.
    for (const entry of writes.digest) {
      expect(entry.sweep + entry.flush).toBe(
        WRITES_PER_MESSAGE.digestFixed + WRITES_PER_MESSAGE.digestPerEvent * entry.events,
      );
    }
    expect(WRITES_PER_MESSAGE.digestFixed).toBeLessThanOrEqual(5);
  });
});

describe("DynamoDB read request units per message", () => {
  it("are the units the cost model prices (bench/write-budget.ts), exactly", () => {
    const { reads } = writes;
    const r = READ_UNITS_PER_MESSAGE;
    // Exactly the stated units, as the writes: a read more or less fails here until
    // bench/write-budget.ts says it, and then shows in `npm run cost`.
    expect({
      receipt: reads.ingestPerWebhook,
      sentAlone: reads.sentAlone,
      sentInBatch: reads.sentInBatch.perMessage,
      deferred: reads.deferred,
      duplicateWebhook: reads.duplicateWebhook,
      sweep: reads.idleSweep.readUnits,
    }).toEqual({
      receipt: r.receipt,
      sentAlone: r.sentAlone,
      sentInBatch: r.sentInBatch,
      deferred: r.deferred,
      duplicateWebhook: r.duplicateWebhook,
      sweep: r.sweep,
    });
    expect(reads.sentInBatch.messages).toBe(10);
    // A sweep queries each shard of the `due` index and its unsharded partition, and DynamoDB
    // charges each Query that finds nothing half a unit (dynalite would say 0).
    expect(reads.idleSweep.queries).toBe(INDEX_SHARDS.due + 1);
    expect(r.sweep).toBe(0.5 * reads.idleSweep.queries);
    for (const entry of reads.digest) {
      const k = entry.events;
      // Each deferral costs the same however many events already wait: the marker, read with
      // the slot, says one waits (the digest index is not read).
      expect(entry.deferrals).toBe(k * r.deferred);
      // The sweep that finds a digest due costs what an idle one does (its index entries are
      // small); the flush a constant and two reads per event.
      expect(entry.sweep - reads.idleSweep.readUnits + entry.flush).toBe(
        r.digestFixed + r.digestPerEvent * k,
      );
    }
  });
});
