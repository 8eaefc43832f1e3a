import { randomUUID } from "node:crypto";
import {
  DeleteItemCommand,
  type DynamoDBClient,
  PutItemCommand,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import type { Receipt, ReceiptState, ReceiptStore } from "../../core/ports";
import {
  applied,
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
/**
 * How long a pending receipt belongs to the attempt that wrote it: longer than ingest runs (its
 * Lambda times out after 8 s). A receipt still pending after that lost its attempt before the
 * enqueue finished, and the sender's retry takes it over (docs/ingest-receipts.md).
 */
export const RECEIPT_PENDING_MS = 30_000;

/**
 * Event receipts as `CONTENT#<sourceId>#<sha256>` and `RECEIPT#<sourceId>#<eventId>` items, each
 * written with one conditional put, `state` `pending` until the event's messages are queued, then
 * `queued`. Only a queued receipt makes a webhook a duplicate; a pending one either belongs to an
 * attempt still running (`pending`: retry later) or, past {@link RECEIPT_PENDING_MS}, is taken
 * over. Receipts written before states existed count as queued. A receipt past its 30 days counts
 * as absent even while TTL has not deleted it yet.
 *
 * Writes per webhook: two for a new event (pending, queued) and one for a duplicate, except for
 * an HMAC source with a signed timestamp (hash and id both count: four for a new event).
 *
 * @example const receipts = makeDynamoReceiptStore(client, "hookline");
 * if ((await receipts.record(receipt, now)) === "duplicate") return;
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
          receivedAt: str(receivedAt.toISOString()),
          expiresAt: ttlSeconds(receivedMs + daysMs(RECEIPT_DAYS)),
          state: str("pending"),
          pendingUntil: num(receivedMs + RECEIPT_PENDING_MS),
          attempt: str(attempt),
        },
        ConditionExpression:
          "attribute_not_exists(pk) OR expiresAt < :now OR " +
          "(#state = :pending AND pendingUntil <= :nowMs)",
        ExpressionAttributeNames: { "#state": "state" },
        ExpressionAttributeValues: {
          ":now": num(Math.floor(receivedMs / 1000)),
          ":nowMs": num(receivedMs),
          ":pending": str("pending"),
        },
        ReturnValuesOnConditionCheckFailure: "ALL_OLD",
      }),
    );
    if (write.applied) return "recorded";
    const item = await itemThatFailed(client, tableName, key, write.failed);
    if (item?.attempt?.S === attempt) return "recorded";
    return item?.state?.S === "pending" ? "pending" : "duplicate";
  };
  const remove = (key: Item) =>
    client.send(new DeleteItemCommand({ TableName: tableName, Key: key }));
  // A receipt removed meanwhile (its enqueue failed) stays removed.
  const markQueued = (key: Item) =>
    applied(
      client,
      new UpdateItemCommand({
        TableName: tableName,
        Key: key,
        UpdateExpression: "SET #state = :queued REMOVE pendingUntil, attempt",
        ConditionExpression: "attribute_exists(pk)",
        ExpressionAttributeNames: { "#state": "state" },
        ExpressionAttributeValues: { ":queued": str("queued") },
      }),
    );
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
  const both = (receipt: Receipt) => {
    const { content, id } = keysOf(receipt);
    return [content, id].filter((key) => key !== undefined);
  };

  return {
    async record(receipt, receivedAt) {
      const { content, id } = keysOf(receipt);
      if (content) {
        const state = await put(content, receipt, receivedAt);
        if (state !== "recorded") return state;
      }
      if (!id) return "recorded";
      try {
        return await put(id, receipt, receivedAt);
      } catch (error) {
        // The hash alone must not turn the sender's retry of this very request into a duplicate.
        if (content) await remove(content).catch(() => {});
        throw error;
      }
    },

    async queued(receipt) {
      await Promise.all(both(receipt).map(markQueued));
    },

    async remove(receipt) {
      await Promise.all(both(receipt).map(remove));
    },
  };
}
