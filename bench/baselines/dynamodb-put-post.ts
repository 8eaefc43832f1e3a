/**
 * P2's reference for deliver: the ingest reference plus one HTTP POST of a message to the
 * Bitrix24 simulator (`imopenlines.network.message.add` on BITRIX_WEBHOOK_URL). With `fetch`, as
 * an ordinary function makes it (the budget's reference), or with `via: "http"` over node:http, as
 * hookline's client makes it since it stopped using `fetch` (functions/adapters/http-exchange.ts):
 * no undici to load, so the ratio to it is hookline's own work alone. Node loads undici only when
 * `fetch` is first called, so the node:http runs never load it.
 */
import { request } from "node:http";
import { DynamoDBClient, PutItemCommand } from "@aws-sdk/client-dynamodb";

const client = new DynamoDBClient({});

interface BenchEvent {
  runId: string;
  userId: number;
  code: string;
  via?: "fetch" | "http";
}

export const handler = async (event: BenchEvent) => {
  await client.send(
    new PutItemCommand({
      TableName: process.env.HOOKLINE_TABLE,
      Item: { pk: { S: `BENCH#${event.runId}` }, at: { N: String(Date.now()) } },
    }),
  );
  const url = `${process.env.BITRIX_WEBHOOK_URL}imopenlines.network.message.add`;
  const body = JSON.stringify({ CODE: event.code, USER_ID: event.userId, MESSAGE: "bench" });
  if (event.via === "http") return postOverHttp(url, body);
  const answer = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
  });
  return { statusCode: answer.status, body: await answer.text() };
};

function postOverHttp(url: string, body: string) {
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
}
