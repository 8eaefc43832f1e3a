import { SQSClient } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { awsClientOptions, INGEST_AWS_BUDGET } from "../../functions/adapters/aws";
import { makeDynamoOutcomeStore } from "../../functions/adapters/dynamo/outcomes";
import { makeDynamoReceiptStore } from "../../functions/adapters/dynamo/receipts";
import { makeSqsQueue } from "../../functions/adapters/sqs-queue";
import { ServiceUnavailableError } from "../../functions/core/errors";
import { makeIngest } from "../../functions/core/ingest";
import type { QueueMessage } from "../../functions/core/job";
import { silentLog } from "../../functions/core/log";
import { noMetrics } from "../../functions/core/metrics";
import type { JobQueue } from "../../functions/core/ports";
import { compileRoutes } from "../../functions/core/routes";
import { ensureTable } from "../../functions/local/ensure-table";
import { TEST_SECRETS, testConfig } from "../support/bridge";
import { type LocalDynamo, makeTestClient, startDynalite } from "../support/dynamo-servers";
import { startFakeSqs } from "../support/fake-sqs";
import { latch } from "../support/latch";
import { standardWebhookRequest } from "../support/signers";

describe("ingest when the queue fails", () => {
  let dynamo: LocalDynamo;
  const table = "hookline-ingest";
  beforeAll(async () => {
    dynamo = await startDynalite();
    await ensureTable(makeTestClient(dynamo.endpoint), table);
  });
  afterAll(() => dynamo?.close());

  function ingestWith(queue: JobQueue, clock = { now: () => new Date() }) {
    const client = makeTestClient(dynamo.endpoint);
    const config = testConfig();
    return makeIngest({
      config,
      secretsFor: async (source) =>
        source.secret.map((ref) => TEST_SECRETS[ref.slice(4) as keyof typeof TEST_SECRETS]),
      router: compileRoutes(config),
      receipts: makeDynamoReceiptStore(client, table),
      queue,
      outcomes: makeDynamoOutcomeStore(client, table),
      clock,
      log: silentLog,
      metrics: noMetrics,
    });
  }

  it("answers 503 and forgets the receipt, so the sender's retry is accepted, not a duplicate", async () => {
    const request = standardWebhookRequest(TEST_SECRETS.APP_SECRET, {
      type: "order.paid",
      data: { bitrixUserId: 5 },
    });
    const webhook = { sourceId: "app", headers: request.headers, body: Buffer.from(request.body) };

    const broken: JobQueue = { enqueue: async () => Promise.reject(new Error("queue down")) };
    await expect(ingestWith(broken)(webhook)).rejects.toBeInstanceOf(ServiceUnavailableError);

    const queued: QueueMessage[] = [];
    const working: JobQueue = { enqueue: async (jobs) => void queued.push(...jobs) };
    const retried = await ingestWith(working)(webhook);
    expect(retried).toMatchObject({ statusCode: 202, body: { status: "accepted", messages: 1 } });
    expect(queued.map((job) => job.userId)).toEqual([5]);

    const again = await ingestWith(working)(webhook);
    expect(again).toMatchObject({ statusCode: 200, body: { status: "duplicate" } });
  });

  it("an event whose enqueue never finished (the Lambda died while SQS hung) is queued by the sender's retry, not answered duplicate", async () => {
    const request = standardWebhookRequest(TEST_SECRETS.APP_SECRET, {
      type: "order.paid",
      data: { bitrixUserId: 6 },
    });
    const webhook = { sourceId: "app", headers: request.headers, body: Buffer.from(request.body) };
    let now = Date.now();
    const clock = { now: () => new Date(now) };

    // The first attempt writes its receipt, then SQS hangs and the Lambda is killed: its
    // enqueue never returns, nothing runs after it.
    const started = latch();
    const hanging: JobQueue = {
      enqueue: () => {
        started.open();
        return new Promise<void>(() => {});
      },
    };
    void ingestWith(hanging, clock)(webhook);
    await started.opened;

    const queued: QueueMessage[] = [];
    const working: JobQueue = { enqueue: async (jobs) => void queued.push(...jobs) };
    // A retry while the first attempt may still be running: try again later, not `duplicate`.
    now += 1000;
    await expect(ingestWith(working, clock)(webhook)).rejects.toBeInstanceOf(
      ServiceUnavailableError,
    );
    expect(queued).toEqual([]);

    // The sender's retry a minute later (the first attempt is long dead) queues the event.
    now += 60_000;
    const retried = await ingestWith(working, clock)(webhook);
    expect(retried).toMatchObject({ statusCode: 202, body: { status: "accepted", messages: 1 } });
    expect(queued.map((job) => job.userId)).toEqual([6]);

    now += 60_000;
    const again = await ingestWith(working, clock)(webhook);
    expect(again).toMatchObject({ statusCode: 200, body: { status: "duplicate" } });
    expect(queued).toHaveLength(1);
  });

  it("with SQS hanging, ingest gives up by itself and answers 503; the sender's retry queues the event", async () => {
    const sqs = await startFakeSqs();
    const client = new SQSClient({
      ...awsClientOptions(INGEST_AWS_BUDGET),
      endpoint: sqs.endpoint,
      region: "us-east-1",
      credentials: { accessKeyId: "local", secretAccessKey: "local" },
    });
    try {
      const queue = makeSqsQueue(client, sqs.queueUrl("hookline"));
      const request = standardWebhookRequest(TEST_SECRETS.APP_SECRET, {
        type: "order.paid",
        data: { bitrixUserId: 7 },
      });
      const webhook = {
        sourceId: "app",
        headers: request.headers,
        body: Buffer.from(request.body),
      };
      // Every try of the enqueue hangs; the last one after SQS had stored the batch.
      sqs.hang({ count: INGEST_AWS_BUDGET.maxAttempts - 1 });
      sqs.hang({ apply: true });
      await expect(ingestWith(queue)(webhook)).rejects.toBeInstanceOf(ServiceUnavailableError);

      const retried = await ingestWith(queue)(webhook);
      expect(retried).toMatchObject({ statusCode: 202, body: { status: "accepted", messages: 1 } });
      // Two copies of one job: deliver settles a job id once.
      const jobIds = sqs.messages.map((m) => (JSON.parse(m.body) as { jobId: string }).jobId);
      expect(jobIds).toHaveLength(2);
      expect(new Set(jobIds).size).toBe(1);
      expect(await ingestWith(queue)(webhook)).toMatchObject({ body: { status: "duplicate" } });
    } finally {
      client.destroy();
      await sqs.close();
    }
  }, 60_000);

  it("answers 503 when the receipt store cannot be reached", async () => {
    const config = testConfig();
    const unreachable = makeTestClient("http://127.0.0.1:9");
    const ingest = makeIngest({
      config,
      secretsFor: async () => [TEST_SECRETS.APP_SECRET],
      router: compileRoutes(config),
      receipts: makeDynamoReceiptStore(unreachable, table),
      queue: { enqueue: async () => {} },
      outcomes: makeDynamoOutcomeStore(unreachable, table),
      clock: { now: () => new Date() },
      log: silentLog,
      metrics: noMetrics,
    });
    const request = standardWebhookRequest(TEST_SECRETS.APP_SECRET, {
      type: "order.paid",
      data: { bitrixUserId: 5 },
    });
    await expect(
      ingest({ sourceId: "app", headers: request.headers, body: Buffer.from(request.body) }),
    ).rejects.toBeInstanceOf(ServiceUnavailableError);
  });
});
