import { DeleteItemCommand, type DynamoDBClient, PutItemCommand } from "@aws-sdk/client-dynamodb";
import type { Receipt, ReceiptStore } from "../../core/ports";
import { conditionFailed, daysMs, type Item, keys, num, str, ttlSeconds } from "./table";

/** How long a receipt keeps a redelivered or replayed event from being processed twice. */
const RECEIPT_DAYS = 30;

/**
 * Event receipts as `CONTENT#<sourceId>#<sha256>` and `RECEIPT#<sourceId>#<eventId>` items, each
 * written with one conditional put. A receipt past its 30 days counts as absent even while TTL has
 * not deleted it yet.
 *
 * Writes per webhook: one for a new event and one for a duplicate, except for an HMAC source with
 * a signed timestamp (hash and id both count: two for a new event or a re-signed retry).
 *
 * @example const receipts = makeDynamoReceiptStore(client, "hookline");
 * if ((await receipts.record(receipt, now)) === "duplicate") return;
 */
export function makeDynamoReceiptStore(client: DynamoDBClient, tableName: string): ReceiptStore {
  const put = async (key: Item, receipt: Receipt, receivedAt: Date) => {
    const receivedMs = receivedAt.getTime();
    try {
      await client.send(
        new PutItemCommand({
          TableName: tableName,
          Item: {
            ...key,
            sourceId: str(receipt.sourceId),
            eventId: str(receipt.eventId),
            receivedAt: str(receivedAt.toISOString()),
            expiresAt: ttlSeconds(receivedMs + daysMs(RECEIPT_DAYS)),
          },
          ConditionExpression: "attribute_not_exists(pk) OR expiresAt < :now",
          ExpressionAttributeValues: { ":now": num(Math.floor(receivedMs / 1000)) },
        }),
      );
      return "recorded" as const;
    } catch (error) {
      if (conditionFailed(error)) return "duplicate" as const;
      throw error;
    }
  };
  const remove = (key: Item) =>
    client.send(new DeleteItemCommand({ TableName: tableName, Key: key }));
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

  return {
    async record(receipt, receivedAt) {
      const { content, id } = keysOf(receipt);
      if (content && (await put(content, receipt, receivedAt)) === "duplicate") return "duplicate";
      if (!id) return "recorded";
      try {
        return await put(id, receipt, receivedAt);
      } catch (error) {
        // The hash alone must not turn the sender's retry of this very request into a duplicate.
        if (content) await remove(content).catch(() => {});
        throw error;
      }
    },

    async remove(receipt) {
      const { content, id } = keysOf(receipt);
      await Promise.all([content, id].filter((key) => key !== undefined).map(remove));
    },
  };
}
