import { createHmac, randomUUID } from "node:crypto";
import {
  type AttributeValue,
  ConditionalCheckFailedException,
  type ConsumedCapacity,
  DynamoDBClient,
  GetItemCommand,
  ScanCommand,
} from "@aws-sdk/client-dynamodb";
import { TABLE_INDEXES, TABLE_PARTITION_KEY } from "../functions/adapters/dynamo/table";
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

/** DynamoDB read requests: each consumes read request units (RRU), counted by DynamoDB's rules. */
const READ_COMMANDS = new Set([
  "GetItemCommand",
  "BatchGetItemCommand",
  "QueryCommand",
  "ScanCommand",
  "TransactGetItemsCommand",
]);

/** Reads that search an index or the table rather than fetch items by key. */
const SEARCH_COMMANDS = new Set(["QueryCommand", "ScanCommand"]);

/** The DynamoDB writes and read request units one piece of work took. */
export interface Counted {
  writes: number;
  readUnits: number;
}

/**
 * Read request units (on-demand RRU) per kind of message, as DynamoDB charges them: a consistent
 * read of an item up to 4 KB is 1, an eventually consistent one 0.5, found or not; a Query is
 * the size of what it read, rounded up to 4 KB, and at least one such unit even when it finds
 * nothing. A conditional write whose condition fails consumes write units only, and the item it
 * returns (`ReturnValuesOnConditionCheckFailure`) no read units.
 */
export interface LedgerReadUnits {
  /** Ingest of a webhook whose route matches. */
  ingestPerWebhook: number;
  /** Deliver of a message sent on its own. */
  sentAlone: number;
  /** Deliver of messages sent together in one `batch` request, and per message. */
  sentInBatch: { messages: number; readUnits: number; perMessage: number };
  /** Deliver of an event whose user's slot is taken. */
  deferred: number;
  /** Ingest of a webhook the sender sent again. */
  duplicateWebhook: number;
  /**
   * A digest of k events, by k: the deferral of its events, the sweep that finds it due, and its
   * flush.
   */
  digest: { events: number; deferrals: number; sweep: number; flush: number }[];
  /** A sweep run with nothing due: one Query per partition of the `due` index. */
  idleSweep: { queries: number; readUnits: number };
}

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
  /** Read request units of the same work (and of an idle sweep). */
  reads: LedgerReadUnits;
}

/**
 * Counts the DynamoDB writes and read request units of the weekly ledger per kind of message,
 * through the real ingest, deliver and sweep use cases on dynalite, with a counting client
 * (middleware on `send`, {@link countOn}) and a Bitrix24 that accepts everything. The clock is
 * fake, so a week passes at once.
 */
export async function measureLedgerWrites(digestSizes = [1, 5, 20]): Promise<LedgerWrites> {
  const dynamo = await startDynalite();
  const connection = {
    endpoint: dynamo.endpoint,
    region: "local",
    credentials: dynamo.credentials,
  };
  const client = new DynamoDBClient(connection);
  // Reads for the counting middleware itself, never counted.
  const uncounted = new DynamoDBClient(connection);
  const total = countOn(client, uncounted);
  let queries = 0;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === "QueryCommand") queries++;
      return next(args);
    },
    { step: "initialize", name: "countQueries" },
  );
  const counted = async (work: () => Promise<unknown>): Promise<Counted> => {
    const before = { ...total };
    await work();
    return { writes: total.writes - before.writes, readUnits: total.readUnits - before.readUnits };
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

    // The sweeper's run of almost every minute: nothing due.
    const queriesBefore = queries;
    const idle = await counted(() => sweep());
    const idleSweep = { queries: queries - queriesBefore, readUnits: idle.readUnits };

    const first = webhook(1);
    const ingestPerWebhook = await counted(() => ingest(first));
    const sentAlone = await counted(deliverAll);
    const sentIndexEntries = await indexEntriesOfOutcomes(uncounted, tableName);
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

    const digest: { events: number; deferrals: Counted; sweep: Counted; flush: Counted }[] = [];
    for (const [index, events] of digestSizes.entries()) {
      const userId = 100 + index;
      await ingest(webhook(userId));
      await deliverAll();
      for (let i = 0; i < events; i++) await ingest(webhook(userId));
      const deferrals = await counted(deliverAll);
      now += 8 * 24 * 3600 * 1000; // past the week and its margin
      const sweepCounted = await counted(() => sweep());
      const flush = await counted(deliverAll);
      digest.push({ events, deferrals, sweep: sweepCounted, flush });
    }
    // The kinds counted the same way for writes and for read units.
    const byKind = (of: keyof Counted) => ({
      ingestPerWebhook: ingestPerWebhook[of],
      sentAlone: sentAlone[of],
      deferred: deferred[of],
      duplicateWebhook: duplicateWebhook[of],
    });
    const batchOf = (of: keyof Counted) => ({
      messages: together.length,
      perMessage: inBatch[of] / together.length,
    });
    return {
      ...byKind("writes"),
      sentIndexEntries,
      sentInBatch: { ...batchOf("writes"), writes: inBatch.writes },
      digest: digest.map((d) => ({
        events: d.events,
        sweep: d.sweep.writes,
        flush: d.flush.writes,
      })),
      reads: {
        ...byKind("readUnits"),
        sentInBatch: { ...batchOf("readUnits"), readUnits: inBatch.readUnits },
        digest: digest.map((d) => ({
          events: d.events,
          deferrals: d.deferrals.readUnits,
          sweep: d.sweep.readUnits,
          flush: d.flush.readUnits,
        })),
        idleSweep,
      },
    };
  } finally {
    client.destroy();
    uncounted.destroy();
    await dynamo.close();
  }
}

/**
 * Counts, on `client`, the DynamoDB writes sent (a conditional one whose condition failed
 * included) and the read request units consumed, as DynamoDB bills them
 * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html).
 * Each read asks for `ReturnConsumedCapacity: "TOTAL"`, which the code under test never sees
 * (the answer's `ConsumedCapacity` is taken off again); the request is otherwise the code's own.
 * Where dynalite answers otherwise than DynamoDB, the count follows DynamoDB:
 * - a Query or Scan that finds nothing: dynalite says 0 units; DynamoDB charges it "based on read
 *   consistency and the number of partitions searched ... even if no data exists" (the page
 *   above), so at least one unit of its consistency (0.5 eventually consistent, 1 strongly);
 * - a conditional write whose condition fails: dynalite does not return the item
 *   (`ReturnValuesOnConditionCheckFailure: "ALL_OLD"`), so the adapter would read it
 *   (`itemThatFailed`), a read DynamoDB never gets: it returns the item, and "No read capacity
 *   units are consumed" (the parameter's reference, e.g. DeleteItem's:
 *   https://docs.aws.amazon.com/sdk-for-kotlin/api/latest/dynamodb/aws.sdk.kotlin.services.dynamodb.model/-delete-item-request/return-values-on-condition-check-failure.html).
 *   The item is put on the error here from `uncounted`, as DynamoDB would answer. The failed
 *   write itself consumes write units only ("still consumes write capacity units", the page
 *   above): counted as a write.
 * What dynalite already does as DynamoDB: a missing item read by key costs a full read (1
 * consistent, 0.5 eventually consistent), alone or in a BatchGetItem, each item of a
 * BatchGetItem rounded up to 4 KB on its own, a Query rounded up to 4 KB in total.
 */
export function countOn(client: DynamoDBClient, uncounted: DynamoDBClient): Counted {
  const total: Counted = { writes: 0, readUnits: 0 };
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const command = context.commandName ?? "";
      if (WRITE_COMMANDS.has(command)) total.writes++;
      if (!READ_COMMANDS.has(command)) return next(args);
      const input = args.input as { ConsistentRead?: boolean; ReturnConsumedCapacity?: string };
      const answer = await next({ ...args, input: { ...input, ReturnConsumedCapacity: "TOTAL" } });
      const output = answer.output as { ConsumedCapacity?: ConsumedCapacity | ConsumedCapacity[] };
      total.readUnits += readUnits(command, input.ConsistentRead === true, output.ConsumedCapacity);
      if (input.ReturnConsumedCapacity === undefined) delete output.ConsumedCapacity;
      return answer;
    },
    { step: "initialize", name: "countWritesAndReads" },
  );
  client.middlewareStack.add(
    (next) => async (args) => {
      try {
        return await next(args);
      } catch (error) {
        await returnItemThatFailed(uncounted, args.input as FailedWriteInput, error);
        throw error;
      }
    },
    { step: "initialize", name: "returnItemOnConditionCheckFailure" },
  );
  return total;
}

/** The read units of one answer: BatchGetItem's `ConsumedCapacity` is a list, the others' one. */
function readUnits(
  command: string,
  consistent: boolean,
  consumed: ConsumedCapacity | ConsumedCapacity[] | undefined,
): number {
  const answered = [consumed ?? []].flat().reduce((sum, c) => sum + (c.CapacityUnits ?? 0), 0);
  return SEARCH_COMMANDS.has(command) ? Math.max(answered, consistent ? 1 : 0.5) : answered;
}

type FailedWriteInput = {
  TableName?: string;
  Key?: Record<string, AttributeValue>;
  Item?: Record<string, AttributeValue>;
  ReturnValuesOnConditionCheckFailure?: string;
};

/** Puts the item a conditional write failed on onto its error, as DynamoDB returns it. */
async function returnItemThatFailed(
  uncounted: DynamoDBClient,
  input: FailedWriteInput,
  error: unknown,
): Promise<void> {
  if (!(error instanceof ConditionalCheckFailedException) || error.Item) return;
  if (input.ReturnValuesOnConditionCheckFailure !== "ALL_OLD") return;
  const keyValue = input.Key?.[TABLE_PARTITION_KEY] ?? input.Item?.[TABLE_PARTITION_KEY];
  if (!keyValue) return;
  const { Item } = await uncounted.send(
    new GetItemCommand({
      TableName: input.TableName,
      Key: { [TABLE_PARTITION_KEY]: keyValue },
      ConsistentRead: true,
    }),
  );
  if (Item) error.Item = Item;
}

/** How many index keys the table's outcome items carry, each: the `events` index's, or none. */
async function indexEntriesOfOutcomes(client: DynamoDBClient, tableName: string): Promise<number> {
  const { Items = [] } = await client.send(new ScanCommand({ TableName: tableName }));
  const outcomes = Items.filter((item) => item.pk?.S?.startsWith("OUTCOME#"));
  if (outcomes.length !== 1) throw new Error(`expected one outcome, found ${outcomes.length}`);
  const [outcome] = outcomes;
  return outcome?.[TABLE_INDEXES.events.partitionKey] === undefined ? 0 : 1;
}
