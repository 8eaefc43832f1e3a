import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { DynamoDBClient, GetItemCommand } from "@aws-sdk/client-dynamodb";
import { SendMessageBatchCommand, SQSClient } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { awsClientOptions, INGEST_AWS_BUDGET } from "../../functions/adapters/aws";
import { type FakeSqs, startFakeSqs } from "../support/fake-sqs";

/**
 * The AWS clients' timeouts against servers that accept the request and never answer. In the
 * installed @smithy/node-http-handler, `requestTimeout` alone only logs a warning
 * (`throwOnRequestTimeout` turns it into an error): ingest would wait until the Lambda's own
 * timeout killed it, after the receipt was written. The clients must give up by themselves.
 * (A hang is bounded by the test's timeout, never by a measured time.)
 */

const credentials = { accessKeyId: "local", secretAccessKey: "local" };

describe("AWS clients against a server that never answers", () => {
  let sqs: FakeSqs;
  let silent: { endpoint: string; close: () => Promise<void> };
  beforeAll(async () => {
    [sqs, silent] = await Promise.all([startFakeSqs(), startSilentServer()]);
  });
  afterAll(async () => {
    await Promise.allSettled([sqs?.close(), silent?.close()]);
  });

  // Deliver and the sweeper use the same options with a larger budget (WORKER_AWS_BUDGET).
  const budget = INGEST_AWS_BUDGET;
  /** Ingest's client options, pointed at `endpoint`. */
  const ingestOptions = (endpoint: string) => ({
    ...awsClientOptions(budget),
    endpoint,
    region: "us-east-1",
    credentials,
  });

  it("the ingest SQS client gives up on a SendMessageBatch that hangs", async () => {
    sqs.hang({ count: budget.maxAttempts, apply: true });
    const client = new SQSClient(ingestOptions(sqs.endpoint));
    const batch = new SendMessageBatchCommand({
      QueueUrl: sqs.queueUrl("hookline"),
      Entries: [{ Id: "0", MessageBody: "{}" }],
    });
    await expectGivesUp(client, () => client.send(batch));
    // Every try reached SQS and stored the batch: the answer was lost, not the request.
    expect(sqs.messages).toHaveLength(budget.maxAttempts);
  }, 60_000);

  it("the ingest DynamoDB client gives up on a request that hangs", async () => {
    const client = new DynamoDBClient(ingestOptions(silent.endpoint));
    const get = new GetItemCommand({ TableName: "t", Key: { pk: { S: "x" } } });
    await expectGivesUp(client, () => client.send(get));
  }, 60_000);
});

/** Expects `send` to fail with the client's TimeoutError; the client is destroyed either way. */
async function expectGivesUp(client: { destroy(): void }, send: () => Promise<unknown>) {
  try {
    await expect(send()).rejects.toMatchObject({ name: "TimeoutError" });
  } finally {
    client.destroy();
  }
}

/** An HTTP server that reads each request and never answers (until closed). */
async function startSilentServer() {
  const held = new Set<ServerResponse>();
  const server = createServer((request, response) => {
    request.resume();
    held.add(response);
    response.once("close", () => held.delete(response));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const response of held) response.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
