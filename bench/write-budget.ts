/**
 * DynamoDB writes per message, counted by the bench's counting client through the real ingest,
 * deliver and sweep use cases (`measureLedgerWrites`, bench/ledger-writes.ts). Stated once:
 * test/integration/write-budget.test.ts holds the code to exactly these counts, and `npm run cost`
 * (scripts/cost-model.ts) prices them, so a change to the ledger's writes fails that test until
 * it is written here, and then shows in the bill and the README.
 */
export const WRITES_PER_MESSAGE = {
  /** Ingest of a routed webhook: the receipt, written once (docs/ingest-receipts.md). */
  receipt: 1,
  /**
   * A message sent on its own: the rate limiter, the claim carrying the intent, the outcome (its
   * intent stays the slot's record of the week: no confirm). In a batch of n: 2 + 1/n.
   */
  sentAlone: 3,
  /**
   * Index entries a sent message's outcome makes on a stack: none (its `events` index lists what
   * needs a look, docs/cost.md), so a sent message writes no index. Deferred outcomes are listed.
   */
  sentIndexEntries: 0,
  /** An event whose user's slot is taken: the failed claim, the pending-digest marker, the deferral. */
  deferred: 3,
  /** A webhook the sender sent again: the receipt's failed conditional put. */
  duplicateWebhook: 1,
  /** A digest's sweep and flush, besides one write per event in it. */
  digestFixed: 5,
  /** Each event a digest carries. */
  digestPerEvent: 1,
} as const;

/**
 * DynamoDB read request units (on-demand RRU) per message, measured by the same counting client
 * (`measureLedgerWrites`, bench/ledger-writes.ts: each read's `ConsumedCapacity`, by DynamoDB's
 * rules where dynalite's differ) and held exactly to the code by the same test. A consistent read
 * of an item up to 4 KB is 1 unit, found or not; a Query of an index 0.5 (eventually consistent),
 * even when it finds nothing.
 */
export const READ_UNITS_PER_MESSAGE = {
  /** Ingest of a routed webhook: none (the receipt is one conditional put). */
  receipt: 0,
  /**
   * A message sent on its own: the event's outcome and the user's slot in one consistent
   * BatchGetItem (2). The slot's pending-digest marker says whether a digest waits: no Query of
   * the `digest` index (docs/ledger.md, "The pending-digest marker").
   */
  sentAlone: 2,
  /** Per message sent in a batch request: as alone, and its outcome read again beside the bucket turn. */
  sentInBatch: 3,
  /**
   * An event whose user's slot is taken: as a message sent alone, and the slot holder's outcome
   * (1). Its failed claim returns the slot item, no read units.
   */
  deferred: 3,
  /** A webhook the sender sent again: a consistent read of its job's outcome. */
  duplicateWebhook: 1,
  /** A digest's flush, besides its events: the Query of the user's `digest` index. */
  digestFixed: 0.5,
  /**
   * Each event a digest carries, read by key (consistent) twice: found through the index, and
   * again once the flush holds the slot.
   */
  digestPerEvent: 2,
  /**
   * A sweep run: one Query of the `due` index per shard and one of its unsharded partition (the
   * tables written before the sharding), 0.5 each even when nothing is due.
   */
  sweep: 2.5,
} as const;
