import { describe, expect, it } from "vitest";
import { measureLedgerWrites } from "../../bench/ledger-writes";

/**
 * The ledger's DynamoDB write budget (docs/ledger.md), counted, not timed: a counting client through
 * the real ingest, deliver and sweep use cases on dynalite.
 */
describe("DynamoDB writes per message", () => {
  it("stay within the ledger's budget", async () => {
    const writes = await measureLedgerWrites([1, 5, 20]);
    // At most 5 for a message sent on its own: claim, rate limiter, intent (docs/ledger.md, "What
    // counts as evidence"), confirm, outcome.
    expect(writes.sentAlone).toBeLessThanOrEqual(5);
    // Sent together in one batch request, each message still has its own claim, intent, confirm
    // and outcome; the request's one rate-limiter write is shared (docs/ledger.md).
    const { sentInBatch } = writes;
    expect(sentInBatch.messages).toBe(10);
    expect(sentInBatch.writes).toBeLessThanOrEqual(4 * sentInBatch.messages + 1);
    // At most 3 for a deferred event (the failed claim, the slot's pending-digest marker, the
    // deferral), 1 for a duplicate webhook.
    expect(writes.deferred).toBeLessThanOrEqual(3);
    expect(writes.duplicateWebhook).toBe(1);
    // A digest for k events: a constant plus at most one write per event.
    const constant = (entry: (typeof writes.digest)[number]) =>
      entry.sweep + entry.flush - entry.events;
    for (const entry of writes.digest) expect(constant(entry)).toBeLessThanOrEqual(5);
    const [small, , large] = writes.digest;
    expect(small && large && constant(large) === constant(small)).toBe(true);
  });
});
