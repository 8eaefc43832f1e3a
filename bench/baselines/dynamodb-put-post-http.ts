/**
 * P2's reference for deliver with its POST over `node:http` instead of `fetch`, as hookline's
 * Bitrix24 client makes it (functions/adapters/http-exchange.ts): no undici to load, so the ratio
 * to it is hookline's own work (its reads, bucket turn, claim and outcome) and nothing else.
 */
import { request } from "node:http";
import { DynamoDBClient, PutItemCommand } from "@aws-sdk/client-dynamodb";

const client = new DynamoDBClient({});

export const handler = async (event: { runId: string; userId: number; code: string }) => {
  await client.send(
    new PutItemCommand({
      TableName: process.env.HOOKLINE_TABLE,
      Item: { pk: { S: `BENCH#${event.runId}` }, at: { N: String(Date.now()) } },
    }),
  );
  const body = JSON.stringify({ CODE: event.code, USER_ID: event.userId, MESSAGE: "bench" });
  const url = `${process.env.BITRIX_WEBHOOK_URL}imopenlines.network.message.add`;
  return new Promise<{ statusCode: number; body: string }>((resolve, reject) => {
    const headers = { "content-type": "application/json", "content-length": `${body.length}` };
    const post = request(url, { method: "POST", headers }, (answer) => {
      const chunks: Buffer[] = [];
      answer.on("data", (chunk: Buffer) => chunks.push(chunk));
      answer.on("error", reject);
      answer.on("end", () =>
        resolve({ statusCode: answer.statusCode ?? 0, body: Buffer.concat(chunks).toString() }),
      );
    });
    post.on("error", reject);
    post.end(body);
  });
};
