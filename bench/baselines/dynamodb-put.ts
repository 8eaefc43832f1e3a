/**
 * P2's reference for ingest: a Lambda that imports `@aws-sdk/client-dynamodb` and sends one
 * PutItem, bundled like hookline's functions. Its event names the item to write.
 */
import { DynamoDBClient, PutItemCommand } from "@aws-sdk/client-dynamodb";

const client = new DynamoDBClient({});

export const handler = async (event: { runId: string }) => {
  await client.send(
    new PutItemCommand({
      TableName: process.env.HOOKLINE_TABLE,
      Item: { pk: { S: `BENCH#${event.runId}` }, at: { N: String(Date.now()) } },
    }),
  );
  return { statusCode: 200, body: "{}" };
};
