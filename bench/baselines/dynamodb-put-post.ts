/**
 * P2's reference for deliver: the ingest reference plus one HTTP POST of a message to the
 * Bitrix24 simulator (`imopenlines.network.message.add` on BITRIX_WEBHOOK_URL), with `fetch`, as
 * an ordinary function makes it (hookline's client used it too until it moved to node:http; the
 * bench runs `dynamodb-put-post-http.ts` beside this one).
 */
import { DynamoDBClient, PutItemCommand } from "@aws-sdk/client-dynamodb";

const client = new DynamoDBClient({});

export const handler = async (event: { runId: string; userId: number; code: string }) => {
  await client.send(
    new PutItemCommand({
      TableName: process.env.HOOKLINE_TABLE,
      Item: { pk: { S: `BENCH#${event.runId}` }, at: { N: String(Date.now()) } },
    }),
  );
  const answer = await fetch(`${process.env.BITRIX_WEBHOOK_URL}imopenlines.network.message.add`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ CODE: event.code, USER_ID: event.userId, MESSAGE: "bench" }),
  });
  return { statusCode: answer.status, body: await answer.text() };
};
