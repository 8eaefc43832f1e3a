import { randomUUID } from "node:crypto";
import { type DynamoDBClient, GetItemCommand, PutItemCommand } from "@aws-sdk/client-dynamodb";
import type { Receipt, ReceiptState, ReceiptStore } from "../../core/ports";
import {
  conditional,
  daysMs,
  type Item,
  itemThatFailed,
  keys,
  num,
  str,
  ttlSeconds,
} from "./table";

/** How long a receipt keeps a redelivered or replayed event from being processed twice. */
const RECEIPT_DAYS = 30;

const RECORDED: ReceiptState = { state: "recorded" };
const QUEUED: ReceiptState = { state: "queued" };

/**
 * Event receipts as `CONTENT#<sourceId>#<sha256>` and `RECEIPT#<sourceId>#<eventId>` items, each
 * written once with one conditional put (`state` `received`), before the event's jobs are queued,
 * and never updated (docs/ingest-receipts.md). A webhook that finds one is told who recorded it
 * (`received`); deliver's outcomes, not the receipt, say whether its jobs were queued. Receipts of
 * the two-write scheme that were marked `queued`, or have no `state` (older still), are plain
 * duplicates; one left `pending` counts as `received`. A receipt past its 30 days counts as
 * absent even while TTL has not deleted it yet.
 *
 * Writes per webhook: one, for a new event and for a duplicate (whose put fails its condition),
 * except for an HMAC source with a signed timestamp, whose hash and id are both receipts (two).
 * A receipt with a body hash (the id an unsigned header) carries it on both items; a duplicate of
 * its content also reads the item of the id the content item names (a read, not a write).
 *
 * @example const receipts = makeDynamoReceiptStore(client, "hookline");
 * if ((await receipts.record(receipt, now)).state === "recorded") await queue.enqueue(jobs);
 */
export function makeDynamoReceiptStore(client: DynamoDBClient, tableName: string): ReceiptStore {
  const put = async (key: Item, receipt: Receipt, receivedAt: Date): Promise<ReceiptState> => {
    const receivedMs = receivedAt.getTime();
    // Tells our own put, re-sent by the SDK after it had applied, from another attempt's.
    const attempt = randomUUID();
    const write = await conditional(
      client,
      new PutItemCommand({
        TableName: tableName,
        Item: {
          ...key,
          sourceId: str(receipt.sourceId),
          eventId: str(receipt.eventId),
          eventName: str(receipt.eventName),
          receivedAt: str(receivedAt.toISOString()),
          expiresAt: ttlSeconds(receivedMs + daysMs(RECEIPT_DAYS)),
          state: str("received"),
          attempt: str(attempt),
          ...(receipt.bodyHash !== undefined && { bodyHash: str(receipt.bodyHash) }),
        },
        ConditionExpression: "attribute_not_exists(pk) OR expiresAt < :now",
        ExpressionAttributeValues: { ":now": num(Math.floor(receivedMs / 1000)) },
        ReturnValuesOnConditionCheckFailure: "ALL_OLD",
      }),
    );
    if (write.applied) return RECORDED;
    const item = await itemThatFailed(client, tableName, key, write.failed);
    if (item?.attempt?.S === attempt) return RECORDED;
    return found(item, receipt, receivedAt);
  };
  const keysOf = (receipt: Receipt) => ({
    content:
      receipt.contentHash === undefined
        ? undefined
        : keys.content(receipt.sourceId, receipt.contentHash),
    id:
      receipt.byId || receipt.contentHash === undefined
        ? keys.receipt(receipt.sourceId, receipt.eventId)
        : undefined,
  });

  /**
   * The content item names the id it was first received under, which is unsigned: the body hash
   * on that id's item says whether this body is that event's. None there (no item, or an old
   * one): the content item's own stands.
   */
  const withIdsBody = async (state: Received, sourceId: string): Promise<ReceiptState> => {
    const { Item } = await client.send(
      new GetItemCommand({
        TableName: tableName,
        Key: keys.receipt(sourceId, state.first.eventId),
        ConsistentRead: true,
        ProjectionExpression: "bodyHash",
      }),
    );
    const bodyHash = Item?.bodyHash?.S;
    return bodyHash === undefined ? state : { ...state, bodyHash };
  };

  return {
    async record(receipt, receivedAt) {
      const { content, id } = keysOf(receipt);
      if (content) {
        const state = await put(content, receipt, receivedAt);
        if (state.state === "received" && receipt.bodyHash !== undefined) {
          return withIdsBody(state, receipt.sourceId);
        }
        if (state.state !== "recorded" || !id) return state;
      }
      // A hash recorded just before a store error stays: the sender's retry finds it `received`.
      return id ? put(id, receipt, receivedAt) : RECORDED;
    },
  };
}

/**
 * What the receipt that failed the put says. One gone by now (TTL) is treated as received by this
 * very request: the caller then queues what has no outcome, which is never wrong (copies settle).
 */
function found(item: Item | undefined, receipt: Receipt, receivedAt: Date): ReceiptState {
  if (item === undefined) {
    return {
      state: "received",
      first: { eventId: receipt.eventId, eventName: receipt.eventName, receivedAt },
    };
  }
  const state = item.state?.S;
  if (state === undefined || state === "queued") return QUEUED;
  const first = item.receivedAt?.S;
  const bodyHash = item.bodyHash?.S;
  return {
    state: "received",
    first: {
      eventId: item.eventId?.S ?? receipt.eventId,
      // A `pending` receipt of the two-write scheme has no name: this request's stands in.
      eventName: item.eventName?.S ?? receipt.eventName,
      receivedAt: first === undefined ? receivedAt : new Date(first),
    },
    // None on a receipt written before body hashes were kept: treated as this request's.
    ...(bodyHash !== undefined && { bodyHash }),
  };
}

type Received = Extract<ReceiptState, { state: "received" }>;
