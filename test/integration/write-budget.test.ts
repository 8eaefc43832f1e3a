import { describe, expect, it } from "vitest";
import { measureLedgerWrites } from "../../bench/ledger-writes";
import { WRITES_PER_MESSAGE } from "../../bench/write-budget";

/**
 * The ledger's DynamoDB write budget (docs/ledger.md), counted, not timed: a counting client through
 * the real ingest, deliver and sweep use cases on dynalite.
 */
describe("DynamoDB writes per message", () => {
  it("are the counts the cost model prices (bench/write-budget.ts), within the ledger's budget", async () => {
    const writes = await measureLedgerWrites([1, 5, 20]);
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
