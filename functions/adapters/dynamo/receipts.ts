import { DeleteItemCommand, type DynamoDBClient, PutItemCommand } from "@aws-sdk/client-dynamodb";
import type { ReceiptStore } from "../../core/ports";
import { conditionFailed, daysMs, keys, num, str, ttlSeconds } from "./table";

/** How long a receipt keeps a redelivered event from being processed twice. */
const RECEIPT_DAYS = 30;

/**
 * Event receipts as `RECEIPT#<sourceId>#<eventId>` items: one conditional put per event. A receipt
 * past its 30 days counts as absent even while TTL has not deleted it yet.
 *
 * @example const receipts = makeDynamoReceiptStore(client, "hookline");
 * if ((await receipts.record("github", deliveryId, now)) === "duplicate") return;
 */
export function makeDynamoReceiptStore(client: DynamoDBClient, tableName: string): ReceiptStore {
  return {
    async record(sourceId, eventId, receivedAt) {
      const receivedMs = receivedAt.getTime();
      try {
        await client.send(
          new PutItemCommand({
            TableName: tableName,
            Item: {
              ...keys.receipt(sourceId, eventId),
              sourceId: str(sourceId),
              receivedAt: str(receivedAt.toISOString()),
              expiresAt: ttlSeconds(receivedMs + daysMs(RECEIPT_DAYS)),
            },
            ConditionExpression: "attribute_not_exists(pk) OR expiresAt < :now",
            ExpressionAttributeValues: { ":now": num(Math.floor(receivedMs / 1000)) },
          }),
        );
        return "recorded";
      } catch (error) {
        if (conditionFailed(error)) return "duplicate";
        throw error;
      }
    },

    async remove(sourceId, eventId) {
      await client.send(
        new DeleteItemCommand({ TableName: tableName, Key: keys.receipt(sourceId, eventId) }),
      );
    },
  };
}
