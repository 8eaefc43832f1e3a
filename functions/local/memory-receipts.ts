import { RECEIPT_PENDING_MS } from "../adapters/dynamo/receipts";
import type { Receipt, ReceiptState, ReceiptStore } from "../core/ports";

/** As the DynamoDB store: how long a receipt keeps a redelivered event from being processed twice. */
const RECEIPT_DAYS = 30;
const DAY_MS = 24 * 60 * 60 * 1000;

interface Held {
  state: "pending" | "queued";
  /** Epoch seconds, rounded up, as the DynamoDB store's `expiresAt`. */
  expiresAt: number;
  pendingUntil: number;
}

/**
 * Event receipts in the local run's memory, with the rules of the DynamoDB store
 * (`functions/adapters/dynamo/receipts.ts`, docs/ingest-receipts.md): one key per content hash and
 * one per event id, each taken only when absent, past its 30 days, or pending past
 * {@link RECEIPT_PENDING_MS}; only a queued receipt makes a duplicate. Each check-and-set runs
 * without an `await` in between, so it is atomic in one process, as the conditional put is in
 * DynamoDB. The same contract tests run against both (test/integration/stores.test.ts).
 *
 * The local run uses it with its embedded DynamoDB, which lives in memory too: receipts die with
 * the process either way. Nothing outside ingest reads receipts (not the CLI, not the inbox), so
 * they need not be in the table the CLI reads. Receipts past their 30 days are dropped as new ones
 * arrive (the Map keeps insertion order, and a receipt taken over moves to the end), so memory is
 * bounded by 30 days of events, as the table's TTL bounds it on AWS.
 *
 * @example const receipts = makeMemoryReceiptStore();
 * if ((await receipts.record(receipt, now)) === "duplicate") return;
 */
export function makeMemoryReceiptStore(): ReceiptStore & { readonly size: number } {
  const held = new Map<string, Held>();

  const dropExpired = (nowSeconds: number) => {
    for (const [key, receipt] of held) {
      if (receipt.expiresAt >= nowSeconds) return;
      held.delete(key);
    }
  };

  const put = (key: string, receivedAt: Date): ReceiptState => {
    const receivedMs = receivedAt.getTime();
    const nowSeconds = Math.floor(receivedMs / 1000);
    const old = held.get(key);
    const free =
      old === undefined ||
      old.expiresAt < nowSeconds ||
      (old.state === "pending" && old.pendingUntil <= receivedMs);
    if (!free) return old.state === "pending" ? "pending" : "duplicate";
    held.delete(key);
    held.set(key, {
      state: "pending",
      expiresAt: Math.ceil((receivedMs + RECEIPT_DAYS * DAY_MS) / 1000),
      pendingUntil: receivedMs + RECEIPT_PENDING_MS,
    });
    dropExpired(nowSeconds);
    return "recorded";
  };

  const keysOf = (receipt: Receipt) => ({
    content:
      receipt.contentHash === undefined
        ? undefined
        : `CONTENT#${receipt.sourceId}#${receipt.contentHash}`,
    id:
      receipt.byId || receipt.contentHash === undefined
        ? `RECEIPT#${receipt.sourceId}#${receipt.eventId}`
        : undefined,
  });
  const both = (receipt: Receipt) => {
    const { content, id } = keysOf(receipt);
    return [content, id].filter((key) => key !== undefined);
  };

  return {
    get size() {
      return held.size;
    },

    async record(receipt, receivedAt) {
      const { content, id } = keysOf(receipt);
      if (content) {
        const state = put(content, receivedAt);
        if (state !== "recorded") return state;
      }
      // As in DynamoDB, a hash recorded just now stays pending when the id turns out taken: the
      // sender's retry finds it pending (come back later), then takes it over.
      return id ? put(id, receivedAt) : "recorded";
    },

    async queued(receipt) {
      for (const key of both(receipt)) {
        const receipt = held.get(key);
        if (receipt) receipt.state = "queued";
      }
    },

    async remove(receipt) {
      for (const key of both(receipt)) held.delete(key);
    },
  };
}
