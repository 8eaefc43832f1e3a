/**
 * DynamoDB writes per message, counted by the bench's counting client through the real ingest,
 * deliver and sweep use cases (`measureLedgerWrites`, bench/ledger-writes.ts). Stated once:
 * test/integration/write-budget.test.ts holds the code to exactly these counts, and `npm run cost`
 * (scripts/cost-model.ts) prices them, so a change to the ledger's writes fails that test until
 * it is written here, and then shows in the bill and the README.
 */
export const WRITES_PER_MESSAGE = {
  /** Ingest of a routed webhook: the receipt, written pending, then marked queued. */
  receipt: 2,
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
