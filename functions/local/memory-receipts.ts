import type { FirstReceipt, Receipt, ReceiptState, ReceiptStore } from "../core/ports";

/** As the DynamoDB store: how long a receipt keeps a redelivered event from being processed twice. */
const RECEIPT_DAYS = 30;
const DAY_MS = 24 * 60 * 60 * 1000;

interface Held {
  first: FirstReceipt;
  /** Epoch seconds, rounded up, as the DynamoDB store's `expiresAt`. */
  expiresAt: number;
}

/**
 * Event receipts in the local run's memory, with the rules of the DynamoDB store
 * (`functions/adapters/dynamo/receipts.ts`, docs/ingest-receipts.md): one key per content hash and
 * one per event id, each written once, taken only when absent or past its 30 days; a webhook that
 * finds one is told who recorded it (`received`). Each check-and-set runs without an `await` in
 * between, so it is atomic in one process, as the conditional put is in DynamoDB. The same
 * contract tests run against both (test/integration/stores.test.ts).
 *
 * The local run uses it with its embedded DynamoDB, which lives in memory too: receipts die with
 * the process either way. Nothing outside ingest reads receipts (not the CLI, not the inbox), so
 * they need not be in the table the CLI reads. Receipts past their 30 days are dropped as new ones
 * arrive (the Map keeps insertion order, and a receipt written again moves to the end), so memory
 * is bounded by 30 days of events, as the table's TTL bounds it on AWS.
 *
 * @example const receipts = makeMemoryReceiptStore();
 * if ((await receipts.record(receipt, now)).state === "recorded") await queue.enqueue(jobs);
 */
export function makeMemoryReceiptStore(): ReceiptStore & { readonly size: number } {
  const held = new Map<string, Held>();

  const dropExpired = (nowSeconds: number) => {
    for (const [key, receipt] of held) {
      if (receipt.expiresAt >= nowSeconds) return;
      held.delete(key);
    }
  };

  const put = (key: string, receipt: Receipt, receivedAt: Date): ReceiptState => {
    const receivedMs = receivedAt.getTime();
    const nowSeconds = Math.floor(receivedMs / 1000);
    const old = held.get(key);
    if (old !== undefined && old.expiresAt >= nowSeconds) {
      return { state: "received", first: old.first };
    }
    held.delete(key);
    held.set(key, {
      first: { eventId: receipt.eventId, eventName: receipt.eventName, receivedAt },
      expiresAt: Math.ceil((receivedMs + RECEIPT_DAYS * DAY_MS) / 1000),
    });
    dropExpired(nowSeconds);
    return { state: "recorded" };
  };

  return {
    get size() {
      return held.size;
    },

    async record(receipt, receivedAt) {
      if (receipt.contentHash !== undefined) {
        const key = `CONTENT#${receipt.sourceId}#${receipt.contentHash}`;
        const state = put(key, receipt, receivedAt);
        if (state.state !== "recorded" || !receipt.byId) return state;
      }
      return put(`RECEIPT#${receipt.sourceId}#${receipt.eventId}`, receipt, receivedAt);
    },
  };
}
