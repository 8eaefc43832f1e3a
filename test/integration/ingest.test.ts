import { createHmac, randomUUID } from "node:crypto";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SQSClient } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { awsClientOptions, INGEST_AWS_BUDGET } from "../../functions/adapters/aws";
import { makeDynamoOutcomeStore } from "../../functions/adapters/dynamo/outcomes";
import { makeDynamoReceiptStore } from "../../functions/adapters/dynamo/receipts";
import { makeSqsDeadLetters, makeSqsQueue } from "../../functions/adapters/sqs-queue";
import { ServiceUnavailableError } from "../../functions/core/errors";
import { makeIngest } from "../../functions/core/ingest";
import { jobIdFor, type QueueMessage } from "../../functions/core/job";
import { silentLog } from "../../functions/core/log";
import { noMetrics } from "../../functions/core/metrics";
import { outcomeRecord } from "../../functions/core/outcome";
import type { JobQueue } from "../../functions/core/ports";
import { compileRoutes } from "../../functions/core/routes";
import { ensureTable } from "../../functions/local/ensure-table";
import { makeMemoryReceiptStore } from "../../functions/local/memory-receipts";
import { INGEST_TABLE_ACTIONS } from "../../lib/table-grants";
import { GITHUB_ROUTE, TEST_SECRETS, testConfig } from "../support/bridge";
import { shopSource } from "../support/config-fixtures";
import { type LocalDynamo, makeTestClient, startDynalite } from "../support/dynamo-servers";
import { type FakeSqs, startFakeSqs } from "../support/fake-sqs";
import { issueOpened } from "../support/lambda-bundles";
import { latch } from "../support/latch";
import { githubRequest, standardWebhookRequest } from "../support/signers";

/** Runs `use` with the fake SQS and an SDK client for it, both closed afterwards. */
async function withFakeSqs(use: (sqs: FakeSqs, client: SQSClient) => Promise<void>) {
  const sqs = await startFakeSqs();
  const client = new SQSClient({
    ...awsClientOptions(INGEST_AWS_BUDGET),
    endpoint: sqs.endpoint,
    region: "us-east-1",
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
  });
  try {
    await use(sqs, client);
  } finally {
    client.destroy();
    await sqs.close();
  }
}

describe("ingest when the queue fails", () => {
  let dynamo: LocalDynamo;
  const table = "hookline-ingest";
  beforeAll(async () => {
    dynamo = await startDynalite();
    await ensureTable(makeTestClient(dynamo.endpoint), table);
  });
  afterAll(() => dynamo?.close());

  function ingestWith(
    queue: JobQueue,
    clock = { now: () => new Date() },
    client = makeTestClient(dynamo.endpoint),
    config = testConfig(),
  ) {
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

  it("answers 503 when the enqueue fails; the sender's retry queues the event under the receipt already written", async () => {
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
    // The event was received before: `duplicate`, answered only once its job is surely queued.
    expect(retried).toMatchObject({ statusCode: 200, body: { status: "duplicate" } });
    expect(queued.map((job) => job.userId)).toEqual([5]);
  });

  it("a retry while the first attempt's enqueue hangs queues the event at once and is answered duplicate, not 503", async () => {
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
    now += 1000;
    const retried = await ingestWith(working, clock)(webhook);
    expect(retried).toMatchObject({ statusCode: 200, body: { status: "duplicate" } });
    expect(queued.map((job) => job.userId)).toEqual([6]);
  });

  it("a duplicate whose every job has an outcome (deliver took them) queues nothing", async () => {
    const request = standardWebhookRequest(TEST_SECRETS.APP_SECRET, {
      type: "order.paid",
      data: { bitrixUserId: 8 },
    });
    const webhook = { sourceId: "app", headers: request.headers, body: Buffer.from(request.body) };
    const queued: QueueMessage[] = [];
    const working: JobQueue = { enqueue: async (jobs) => void queued.push(...jobs) };
    expect(await ingestWith(working)(webhook)).toMatchObject({ statusCode: 202 });
    const [job] = queued;
    if (job?.kind !== "event") throw new Error("no event job queued");

    // Deliver settles the job: its outcome item is the proof the event was queued.
    const client = makeTestClient(dynamo.endpoint);
    await makeDynamoOutcomeStore(client, table).finish(
      outcomeRecord(job, { outcome: "sent", reason: "sent", at: new Date() }),
    );
    expect(await ingestWith(working)(webhook)).toMatchObject({ body: { status: "duplicate" } });
    expect(queued).toHaveLength(1);
  });

  it("a duplicate of an event with two routes reads their outcomes with only what the ingest role may do", async () => {
    // The ingest Lambda's role on the table (lib/table-grants.ts): anything else is refused, as
    // AWS refuses it. Its jobs' outcome reads go out together (readItem).
    const allowed: readonly string[] = INGEST_TABLE_ACTIONS;
    const real = makeTestClient(dynamo.endpoint);
    const client = {
      send(command: { constructor: { name: string } }) {
        const action = command.constructor.name.replace(/Command$/, "");
        if (allowed.includes(action)) return real.send(command as never);
        const refusal = new Error(`not authorized to perform: dynamodb:${action}`);
        refusal.name = "AccessDeniedException";
        return Promise.reject(refusal);
      },
    } as unknown as DynamoDBClient;
    const config = testConfig({
      routes: [1, 2].map((userId) => ({
        source: "app",
        events: ["order.*"],
        userId: String(userId),
        message: "Order {{ payload.data.orderId }}",
      })),
    });
    const queued: QueueMessage[] = [];
    const queue: JobQueue = { enqueue: async (jobs) => void queued.push(...jobs) };
    const ingest = ingestWith(queue, undefined, client, config);
    const request = standardWebhookRequest(TEST_SECRETS.APP_SECRET, {
      type: "order.paid",
      data: { orderId: randomUUID().slice(0, 8) },
    });
    const webhook = { sourceId: "app", headers: request.headers, body: Buffer.from(request.body) };
    expect(await ingest(webhook)).toMatchObject({ statusCode: 202, body: { messages: 2 } });
    // The sender retries (its answer was lost): no outcome proves the jobs were queued yet, so
    // both are queued again, and the sender hears `duplicate`, not a 503 it would get forever.
    expect(await ingest(webhook)).toMatchObject({ statusCode: 200, body: { status: "duplicate" } });
    const ids = queued.map((job) => (job.kind === "event" ? job.jobId : job.kind));
    expect(ids).toHaveLength(4);
    expect(new Set(ids.slice(0, 2)).size).toBe(2);
    expect(ids.slice(2)).toEqual(ids.slice(0, 2));
  });

  it("a captured body replayed under a new delivery id, after the first attempt died past its enqueue, queues the first attempt's job again, never a job of its own", async () => {
    const payload = issueOpened(`replayed ${randomUUID()}`);
    const first = await githubRequest(TEST_SECRETS.GITHUB_SECRET, "issues", payload, "delivery-a");
    const replay = await githubRequest(TEST_SECRETS.GITHUB_SECRET, "issues", payload, "delivery-b");
    expect(replay.body).toBe(first.body);
    const webhook = (request: typeof first) => ({
      sourceId: "github",
      headers: request.headers,
      body: Buffer.from(request.body),
    });
    let now = Date.now();
    const clock = { now: () => new Date(now) };

    // SQS stores the first attempt's job, then the Lambda dies before anything else runs.
    const queued: QueueMessage[] = [];
    const stored = latch();
    const storesThenDies: JobQueue = {
      enqueue: (jobs) => {
        queued.push(...jobs);
        stored.open();
        return new Promise<void>(() => {});
      },
    };
    void ingestWith(storesThenDies, clock)(webhook(first));
    await stored.opened;

    now += 60_000;
    const working: JobQueue = { enqueue: async (jobs) => void queued.push(...jobs) };
    const answer = await ingestWith(working, clock)(webhook(replay));
    // Copies of one job id, which deliver settles once; a second job id would be a second message.
    expect(new Set(queued.map((job) => job.kind === "event" && job.jobId))).toEqual(
      new Set([jobIdFor("github", "delivery-a", GITHUB_ROUTE)]),
    );
    expect(answer).toMatchObject({ statusCode: 200, body: { status: "duplicate" } });
  });

  it("with SQS hanging, ingest gives up by itself and answers 503; the sender's retry queues the event", async () => {
    await withFakeSqs(async (sqs, client) => {
      const queue = makeSqsQueue(async () => client, sqs.queueUrl("hookline"));
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

      // The receipt stays: the retry finds no proof the job was queued and queues it again.
      const retried = await ingestWith(queue)(webhook);
      expect(retried).toMatchObject({ statusCode: 200, body: { status: "duplicate" } });
      // Two copies of one job: deliver settles a job id once.
      const jobIds = sqs.messages.map((m) => (JSON.parse(m.body) as { jobId: string }).jobId);
      expect(jobIds).toHaveLength(2);
      expect(new Set(jobIds).size).toBe(1);
    });
  }, 60_000);

  it("queues a sender's text that SQS refuses raw (U+FFFF, U+FFFE): not a 503 that every retry gets again", async () => {
    await withFakeSqs(async (sqs, client) => {
      const queue = makeSqsQueue(async () => client, sqs.queueUrl("hookline"));
      // A customer's note, written by whoever filled the sender's form: the sender signs it as is.
      const note = "gift \uFFFF wrap \uFFFE";
      const request = standardWebhookRequest(TEST_SECRETS.APP_SECRET, {
        type: "order.paid\uFFFF",
        data: { bitrixUserId: 7, orderId: 12, note },
      });
      const webhook = {
        sourceId: "app",
        headers: request.headers,
        body: Buffer.from(request.body),
      };
      const answer = await ingestWith(queue)(webhook);
      expect(answer).toMatchObject({ statusCode: 202, body: { status: "accepted", messages: 1 } });
      const [job] = sqs.messages.map((m) => JSON.parse(m.body) as QueueMessage);
      expect(job).toMatchObject({ eventName: "order.paid\uFFFF", message: `Order 12: ${note}` });
    });
  });

  it("a dead letter's reason keeps to the text SQS takes: a U+FFFF, or an emoji cut in half at 1,000 characters", async () => {
    await withFakeSqs(async (sqs, client) => {
      const deadLetters = makeSqsDeadLetters(async () => client, sqs.queueUrl("hookline-dlq"));
      await deadLetters.send('{"v":3}', "Bitrix24 said \uFFFF");
      await deadLetters.send('{"v":3}', `${"x".repeat(999)}\u{1F600}`);
      expect(sqs.messages.map((m) => m.attributes?.reason)).toEqual([
        "Bitrix24 said \uFFFD",
        `${"x".repeat(999)}\uFFFD`,
      ]);
    });
  });

  describe.each([
    ["DynamoDB (dynalite)", () => makeDynamoReceiptStore(makeTestClient(dynamo.endpoint), table)],
    ["memory (the local run)", () => makeMemoryReceiptStore()],
  ])("a re-signing HMAC sender's unsigned id header, receipts in %s", (_, makeReceipts) => {
    // Id from an unsigned header, a signed timestamp: each retry is signed anew (receiptFor).
    const config = testConfig({
      sources: [
        shopSource({
          id: "timed",
          secret: "env:SHOP_SECRET",
          prefix: undefined,
          timestampHeader: "x-shop-timestamp",
          eventId: { header: "x-shop-event-id" },
          eventName: { header: "x-shop-event" },
        }),
      ],
      routes: [
        {
          source: "timed",
          events: ["order.paid"],
          userId: "{{ payload.userId }}",
          message: "{{ payload.text }}",
        },
      ],
    });
    /** Signed as the sender signs: HMAC-SHA256 of `<timestamp>.<body>`, hex; id and name unsigned. */
    const timed = (payload: Record<string, unknown>, id: string, name: string, ts: number) => {
      const body = JSON.stringify(payload);
      const signature = createHmac("sha256", TEST_SECRETS.SHOP_SECRET)
        .update(`${ts}.${body}`)
        .digest("hex");
      const headers = {
        "content-type": "application/json",
        "x-shop-signature": signature,
        "x-shop-timestamp": String(ts),
        "x-shop-event-id": id,
        "x-shop-event": name,
      };
      return { sourceId: "timed", headers, body: Buffer.from(body) };
    };

    /** Ingest at one instant over one receipt store; `queued` is what reached the queue. */
    function timedIngest() {
      const queued: QueueMessage[] = [];
      const now = new Date();
      const receipts = makeReceipts();
      const ingest = makeIngest({
        config,
        secretsFor: async () => [TEST_SECRETS.SHOP_SECRET],
        router: compileRoutes(config),
        receipts,
        queue: { enqueue: async (jobs) => void queued.push(...jobs) },
        outcomes: makeDynamoOutcomeStore(makeTestClient(dynamo.endpoint), table),
        clock: { now: () => now },
        log: silentLog,
        metrics: noMetrics,
      });
      const event = { userId: 7, text: `paid ${randomUUID()}` };
      const eventId = `e-${randomUUID()}`;
      const seconds = Math.floor(now.getTime() / 1000);
      return { ingest, receipts, queued, now, seconds, event, eventId };
    }

    it("a captured signed request under the id of an event in flight queues nothing of its own; the sender's re-signed retry still queues the event", async () => {
      const { ingest, queued, seconds, event, eventId } = timedIngest();
      // The event is queued; deliver has not settled it yet, so its receipt has no proof.
      expect(await ingest(timed(event, eventId, "order.paid", seconds))).toMatchObject({
        statusCode: 202,
      });
      const captured = { userId: 666, text: "forged" };
      const ignored = await ingest(timed(captured, `b-${randomUUID()}`, "order.viewed", seconds));
      expect(ignored).toMatchObject({ body: { status: "ignored" } });

      // The attacker resends the ignored request, signature untouched, under the event's id and name.
      // Sent twice: the second finds the content receipt the first wrote, which names the event.
      for (let attempt = 0; attempt < 2; attempt++) {
        const forged = await ingest(timed(captured, eventId, "order.paid", seconds));
        expect(forged).toMatchObject({ statusCode: 200, body: { status: "duplicate" } });
      }
      expect(queued.map((job) => job.kind === "event" && job.message)).toEqual([event.text]);

      // The sender's own retry, signed anew, still queues what has no outcome: a copy.
      const retried = await ingest(timed(event, eventId, "order.paid", seconds + 1));
      expect(retried).toMatchObject({ statusCode: 200, body: { status: "duplicate" } });
      expect(queued.map((job) => job.kind === "event" && job.message)).toEqual([
        event.text,
        event.text,
      ]);
      expect(new Set(queued.map((job) => job.kind === "event" && job.jobId)).size).toBe(1);
    });
    it("a receipt written before body hashes were kept lets the sender's re-signed retry queue the event, as before", async () => {
      const { ingest, receipts, queued, now, seconds, event, eventId } = timedIngest();
      const old = { sourceId: "timed", eventId, eventName: "order.paid", byId: true };
      expect(await receipts.record({ ...old, contentHash: randomUUID() }, now)).toEqual({
        state: "recorded",
      });
      const retried = await ingest(timed(event, eventId, "order.paid", seconds + 1));
      expect(retried).toMatchObject({ statusCode: 200, body: { status: "duplicate" } });
      expect(queued.map((job) => job.kind === "event" && job.message)).toEqual([event.text]);
    });
  });

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
