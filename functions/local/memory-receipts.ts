import type { FirstReceipt, Receipt, ReceiptState, ReceiptStore } from "../core/ports";

/** As the DynamoDB store: how long a receipt keeps a redelivered event from being processed twice. */
const RECEIPT_DAYS = 30;
const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * One receipt, as small as it can be: a burst keeps thousands, and the collector copies each
 * while it is young (measured in the local-run bench). The first request's time is kept as a
 * number; its `Date` is made only for the duplicate that asks.
 */
class Held {
  constructor(
    readonly eventId: string,
    readonly eventName: string,
    readonly receivedMs: number,
    /** Epoch seconds, rounded up, as the DynamoDB store's `expiresAt`. */
    readonly expiresAt: number,
    /** `Receipt.bodyHash`: only where the id is an unsigned header of a re-signing sender. */
    readonly bodyHash: string | undefined,
  ) {}

  /** What a webhook that finds this receipt is told. */
  get found(): ReceiptState {
    const { bodyHash } = this;
    return { state: "received", first: this.first, ...(bodyHash !== undefined && { bodyHash }) };
  }

  get first(): FirstReceipt {
    return {
      eventId: this.eventId,
      eventName: this.eventName,
      receivedAt: new Date(this.receivedMs),
    };
  }
}

/** The receipts of one kind of key (content hash or event id) of one source, oldest first. */
type Keys = Map<string, Held>;

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
 * they need not be in the table the CLI reads. The table's `CONTENT#<source>#<hash>` and
 * `RECEIPT#<source>#<id>` keys are a Map per kind and source here, keyed by the hash or the id
 * itself (no key string made per webhook). Receipts past their 30 days are dropped as new ones
 * arrive in the same Map (a Map keeps insertion order, and a receipt written again moves to the
 * end), so memory is bounded by 30 days of events, as the table's TTL bounds it on AWS.
 *
 * @example const receipts = makeMemoryReceiptStore();
 * if ((await receipts.record(receipt, now)).state === "recorded") await queue.enqueue(jobs);
 */
export function makeMemoryReceiptStore(): ReceiptStore & { readonly size: number } {
  const byContent = new Map<string, Keys>();
  const byId = new Map<string, Keys>();

  const keysOf = (kind: Map<string, Keys>, sourceId: string): Keys => {
    let keys = kind.get(sourceId);
    if (keys === undefined) {
      keys = new Map();
      kind.set(sourceId, keys);
    }
    return keys;
  };

  const dropExpired = (keys: Keys, nowSeconds: number) => {
    for (const [key, receipt] of keys) {
      if (receipt.expiresAt >= nowSeconds) return;
      keys.delete(key);
    }
  };

  const put = (keys: Keys, key: string, receipt: Receipt, receivedAt: Date): ReceiptState => {
    const receivedMs = receivedAt.getTime();
    const nowSeconds = Math.floor(receivedMs / 1000);
    const old = keys.get(key);
    if (old !== undefined && old.expiresAt >= nowSeconds) return old.found;
    keys.delete(key);
    const expiresAt = Math.ceil((receivedMs + RECEIPT_DAYS * DAY_MS) / 1000);
    const { eventId, eventName, bodyHash } = receipt;
    keys.set(key, new Held(eventId, eventName, receivedMs, expiresAt, bodyHash));
    dropExpired(keys, nowSeconds);
    return RECORDED;
  };

  const count = (kind: Map<string, Keys>) => {
    let size = 0;
    for (const keys of kind.values()) size += keys.size;
    return size;
  };

  return {
    get size() {
      return count(byContent) + count(byId);
    },

    async record(receipt, receivedAt) {
      if (receipt.contentHash !== undefined) {
        const keys = keysOf(byContent, receipt.sourceId);
        const state = put(keys, receipt.contentHash, receipt, receivedAt);
        // As the DynamoDB store: the body hash on the receipt of the id the content names.
        if (state.state === "received" && receipt.bodyHash !== undefined) {
          const named = byId.get(receipt.sourceId)?.get(state.first.eventId)?.bodyHash;
          return named === undefined ? state : { ...state, bodyHash: named };
        }
        if (state.state !== "recorded" || !receipt.byId) return state;
      }
      return put(keysOf(byId, receipt.sourceId), receipt.eventId, receipt, receivedAt);
    },
  };
}

/** Shared: the answer carries nothing of its own. */
const RECORDED: ReceiptState = Object.freeze({ state: "recorded" });
