import { createHmac, randomUUID } from "node:crypto";
import { DynamoDBClient, ScanCommand } from "@aws-sdk/client-dynamodb";
import { TABLE_INDEXES } from "../functions/adapters/dynamo/table";
import { makeSecretResolver } from "../functions/adapters/secrets";
import {
  makeDeliverDeps,
  makeIngestDeps,
  makeSweepDeps,
  type Wiring,
} from "../functions/adapters/wiring";
import type { Clock } from "../functions/core/clock";
import type { PortalConfig } from "../functions/core/config";
import { makeDeliver } from "../functions/core/deliver";
import { makeIngest } from "../functions/core/ingest";
import type { QueueMessage } from "../functions/core/job";
import { silentLog } from "../functions/core/log";
import { noMetrics } from "../functions/core/metrics";
import type { BitrixClient } from "../functions/core/ports";
import { makeSweep } from "../functions/core/sweep";
import { startDynalite } from "../functions/local/dynalite-server";
import { ensureTable } from "../functions/local/ensure-table";
import { TEST_SECRETS, testConfig } from "../test/support/bridge";

/** DynamoDB write requests, conditional ones whose condition failed included. */
const WRITE_COMMANDS = new Set([
  "PutItemCommand",
  "UpdateItemCommand",
  "DeleteItemCommand",
  "BatchWriteItemCommand",
  "TransactWriteItemsCommand",
]);

export interface LedgerWrites {
  /** Ingest of a webhook whose route matches: the receipt. */
  ingestPerWebhook: number;
  /** Deliver of a message sent on its own: rate limiter, the claim with the intent, outcome. */
  sentAlone: number;
  /** Index entries a sent message's outcome makes (`events`: none on a stack, docs/cost.md). */
  sentIndexEntries: number;
  /**
   * Deliver of messages sent together in one `batch` request, per message: each one's claim
   * with its intent, and outcome, and a share of the request's one rate-limiter write.
   */
  sentInBatch: { messages: number; writes: number; perMessage: number };
  /** Deliver of an event whose user's slot is taken: the failed claim, the marker, the deferral. */
  deferred: number;
  /** Ingest of a webhook the sender sent again. */
  duplicateWebhook: number;
  /** The sweep and the flush of a digest, by number of events in it. */
  digest: { events: number; sweep: number; flush: number }[];
}

/**
 * Counts the DynamoDB writes of the weekly ledger per kind of message, through the real ingest,
 * deliver and sweep use cases on dynalite, with a counting client (a middleware on `send`) and
 * a Bitrix24 that accepts everything. The clock is fake, so a week passes at once.
 */
export async function measureLedgerWrites(digestSizes = [1, 5, 20]): Promise<LedgerWrites> {
  const dynamo = await startDynalite();
  const client = new DynamoDBClient({
    endpoint: dynamo.endpoint,
    region: "local",
    credentials: dynamo.credentials,
  });
  let writes = 0;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (WRITE_COMMANDS.has(context.commandName ?? "")) writes++;
      return next(args);
    },
    { step: "initialize", name: "countWrites" },
  );
  const counted = async (work: () => Promise<unknown>): Promise<number> => {
    const before = writes;
    await work();
    return writes - before;
  };

  try {
    const tableName = "hookline-bench";
    await ensureTable(client, tableName);
    let now = Date.parse("2030-01-07T09:00:00Z");
    const clock: Clock = { now: () => new Date(now) };
    const config = testConfig();
    const wiring: Wiring = {
      config,
      dynamo: client,
      tableName,
      resolveSecret: makeSecretResolver({ env: TEST_SECRETS }),
      clock,
      log: silentLog,
      metrics: noMetrics,
    };
    const queued: QueueMessage[] = [];
    const queue = { enqueue: async (jobs: readonly QueueMessage[]) => void queued.push(...jobs) };
    const bitrix: BitrixClient = {
      sendNetworkMessage: async () => ({ kind: "sent" }),
      sendSystemNotification: async () => ({ kind: "sent" }),
      sendBatch: async (_line, messages) => messages.map(() => ({ kind: "sent" as const })),
    };
    const ingest = makeIngest(makeIngestDeps(wiring, queue));
    const deliver = makeDeliver({
      ...(await makeDeliverDeps(wiring, config.portals[0] as PortalConfig, bitrix)),
      sleep: async () => {},
    });
    const sweep = makeSweep(makeSweepDeps(wiring, queue));

    const webhook = (userId: number, id = randomUUID()) => {
      const body = JSON.stringify({ id, event: "note", userId, text: `note ${id.slice(0, 8)}` });
      const signature = createHmac("sha256", TEST_SECRETS.SHOP_SECRET).update(body).digest("hex");
      return {
        sourceId: "shop",
        headers: { "content-type": "application/json", "x-shop-signature": `sha256=${signature}` },
        body: Buffer.from(body),
      };
    };
    const deliverAll = async () => {
      while (queued.length > 0) {
        const message = queued.shift() as QueueMessage;
        await deliver({ message, receiveCount: 1, queuedAt: now, deadline: now + 60_000 });
      }
    };

    const first = webhook(1);
    const ingestPerWebhook = await counted(() => ingest(first));
    const sentAlone = await counted(deliverAll);
    const sentIndexEntries = await indexEntriesOfOutcomes(client, tableName);
    const duplicateWebhook = await counted(() => ingest(first));
    await ingest(webhook(1));
    const deferred = await counted(deliverAll);
    // That deferred event goes out in its digest before the digests below are counted.
    now += 8 * 24 * 3600 * 1000;
    await sweep();
    await deliverAll();

    // Ten events for ten users under way at once: one batch request.
    for (let i = 0; i < 10; i++) await ingest(webhook(500 + i));
    const together = queued.splice(0, queued.length);
    const inBatch = await counted(() =>
      Promise.all(
        together.map((message) =>
          deliver({ message, receiveCount: 1, queuedAt: now, deadline: now + 60_000 }),
        ),
      ),
    );
    const sentInBatch = {
      messages: together.length,
      writes: inBatch,
      perMessage: inBatch / together.length,
    };

    const digest: LedgerWrites["digest"] = [];
    for (const [index, events] of digestSizes.entries()) {
      const userId = 100 + index;
      await ingest(webhook(userId));
      await deliverAll();
      for (let i = 0; i < events; i++) await ingest(webhook(userId));
      await deliverAll();
      now += 8 * 24 * 3600 * 1000; // past the week and its margin
      const sweepWrites = await counted(() => sweep());
      const flush = await counted(deliverAll);
      digest.push({ events, sweep: sweepWrites, flush });
    }
    return {
      ingestPerWebhook,
      sentAlone,
      sentIndexEntries,
      sentInBatch,
      deferred,
      duplicateWebhook,
      digest,
    };
  } finally {
    client.destroy();
    await dynamo.close();
  }
}

/** How many index keys the table's outcome items carry, each: the `events` index's, or none. */
async function indexEntriesOfOutcomes(client: DynamoDBClient, tableName: string): Promise<number> {
  const { Items = [] } = await client.send(new ScanCommand({ TableName: tableName }));
  const outcomes = Items.filter((item) => item.pk?.S?.startsWith("OUTCOME#"));
  if (outcomes.length !== 1) throw new Error(`expected one outcome, found ${outcomes.length}`);
  const [outcome] = outcomes;
  return outcome?.[TABLE_INDEXES.events.partitionKey] === undefined ? 0 : 1;
}
