import { createHash } from "node:crypto";
import {
  type AttributeValue,
  BatchGetItemCommand,
  ConditionalCheckFailedException,
  type DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  type PutItemCommand,
  QueryCommand,
  type QueryCommandInput,
  type UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import { INDEX_SHARDS } from "../../core/config-defaults";

/**
 * hookline keeps everything in one table: partition key `pk` (string), no sort key, and a
 * TTL attribute `expiresAt` (epoch seconds).
 * Items: `RECEIPT#…`, `SLOT#…`, `RATE#…`, `OUTCOME#…` (deferred outcomes are digest entries),
 * `TOKEN#…` (a portal's OAuth tokens).
 */
export const TABLE_PARTITION_KEY = "pk";
export const TABLE_TTL_ATTRIBUTE = "expiresAt";

/**
 * The table's sparse global secondary indexes. Only deferred events (waiting for a digest)
 * carry the attributes of `due` and `digest`, so both stay as small as the digest backlog; only
 * outcome items carry those of `events`.
 * - `due`: every deferred event by the time its digest may go out; the sweeper queries
 *   `dueShard = "due#<n>" AND dueAt <= now` for every shard n.
 * - `digest`: one user's deferred events, oldest first; the flush reads them consistently from
 *   the table by key.
 */
export const TABLE_INDEXES = {
  due: {
    indexName: "due",
    partitionKey: "dueShard",
    sortKey: "dueAt",
    /** `due#0` … `due#<shards - 1>`, by job id (`shardOf`). */
    shards: INDEX_SHARDS.due,
    /** The sweeper needs only which digest is due. */
    include: ["digestKey"],
  },
  digest: {
    indexName: "digest",
    partitionKey: "digestKey",
    sortKey: "receivedMs",
    /** Keyed by user: spread by itself. */
    shards: 0,
    include: [] as string[],
  },
  /**
   * Every outcome item (no other kind) by the time of its latest state, for `hookline events`:
   * `eventsShard = "events#<n>" AND atMs >= since` on every shard, newest first, merged. The outcome's own fields are
   * projected (not the rendered message), so a listing needs no read of the table.
   */
  events: {
    indexName: "events",
    partitionKey: "eventsShard",
    sortKey: "atMs",
    shards: INDEX_SHARDS.events,
    include: [
      "jobId",
      "sourceId",
      "eventId",
      "eventName",
      "outcome",
      "reason",
      "at",
      "userId",
      "bitrixCode",
      "digestId",
      "digestKey",
      "dueAt",
      "exhausted",
    ],
  },
} as const;

export type Item = Record<string, AttributeValue>;

type ShardedIndex = typeof TABLE_INDEXES.due | typeof TABLE_INDEXES.events;

/**
 * The partition key value of the sharded index `index` for an item of job `jobId`: `<name>#<n>`,
 * n from an FNV-1a hash of the id, so every state of one outcome stays in one shard.
 */
export function shardOf(index: ShardedIndex, jobId: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < jobId.length; i++) {
    hash ^= jobId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return `${index.indexName}#${hash % index.shards}`;
}

/**
 * Every partition key value a reader of `index` queries: each shard, and the single partition
 * (`due`, `events`) that tables written before the sharding still have items in.
 */
export const allShards = (index: ShardedIndex): string[] => [
  index.indexName,
  ...Array.from({ length: index.shards }, (_, n) => `${index.indexName}#${n}`),
];

const DAY_MS = 24 * 60 * 60 * 1000;
export const daysMs = (days: number): number => days * DAY_MS;

/** Epoch seconds for the TTL attribute, rounded up so an item never expires early. */
export const ttlSeconds = (epochMs: number): AttributeValue => ({
  N: String(Math.ceil(epochMs / 1000)),
});

export const num = (value: number): AttributeValue => ({ N: String(value) });
export const str = (value: string): AttributeValue => ({ S: value });

// DynamoDB keys are at most 2048 bytes; ids come from senders, so an absurdly long one is hashed.
const MAX_ID_BYTES = 512;
const safeId = (id: string): string =>
  Buffer.byteLength(id, "utf8") <= MAX_ID_BYTES
    ? id
    : `sha256:${createHash("sha256").update(id, "utf8").digest("hex")}`;

/** The partition keys of every item kind. */
export const keys = {
  receipt: (sourceId: string, eventId: string): Item =>
    pk(`RECEIPT#${sourceId}#${safeId(eventId)}`),
  /** A receipt by the SHA-256 of the signed bytes (sources with unsigned ids). */
  content: (sourceId: string, sha256: string): Item => pk(`CONTENT#${sourceId}#${sha256}`),
  slot: (portal: string, openLineCode: string, userId: number): Item =>
    pk(`SLOT#${safeId(portal)}#${openLineCode}#${userId}`),
  rate: (portal: string): Item => pk(`RATE#${safeId(portal)}`),
  outcome: (jobId: string): Item => pk(`OUTCOME#${safeId(jobId)}`),
  token: (portal: string): Item => pk(`TOKEN#${safeId(portal)}`),
};

const pk = (value: string): Item => ({ [TABLE_PARTITION_KEY]: { S: value } });

/** The exception when `error` is a failed condition, so adapters can turn it into an answer. */
export const conditionFailed = (error: unknown): ConditionalCheckFailedException | undefined =>
  error instanceof ConditionalCheckFailedException ? error : undefined;

/**
 * Sends a conditional write: `true` when it applied, `false` when its condition failed; any other
 * error is thrown. The one place for the try/catch every conditional write needs.
 *
 * @example if (!(await applied(client, new UpdateItemCommand({ …, ConditionExpression })))) …
 */
export async function applied(
  client: DynamoDBClient,
  command: UpdateItemCommand | PutItemCommand | DeleteItemCommand,
): Promise<boolean> {
  return (await conditional(client, command)).applied;
}

/**
 * {@link applied} for a write whose answer matters either way: the item it wrote
 * (`ReturnValues`), or the failed condition, to read the item that failed it with
 * {@link itemThatFailed}.
 *
 * @example
 * const write = await conditional(client, new UpdateItemCommand({ …, ReturnValues: "ALL_NEW" }));
 * if (!write.applied) return readOld(await itemThatFailed(client, table, key, write.failed));
 */
export async function conditional(
  client: DynamoDBClient,
  command: UpdateItemCommand | PutItemCommand | DeleteItemCommand,
): Promise<
  | { applied: true; attributes: Item | undefined }
  | { applied: false; failed: ConditionalCheckFailedException }
> {
  try {
    const output = (await client.send(command as UpdateItemCommand)) as { Attributes?: Item };
    return { applied: true, attributes: output.Attributes };
  } catch (error) {
    const failed = conditionFailed(error);
    if (failed) return { applied: false, failed };
    throw error;
  }
}

/**
 * The item that made a conditional write fail: from `ReturnValuesOnConditionCheckFailure`, or,
 * where the server does not return it (dynalite), from a consistent read. Only for classifying
 * the answer, never for deciding a write. `undefined` when the item is gone by now.
 */
export async function itemThatFailed(
  client: DynamoDBClient,
  tableName: string,
  key: Item,
  error: ConditionalCheckFailedException,
): Promise<Item | undefined> {
  if (error.Item) return error.Item;
  const { Item } = await client.send(
    new GetItemCommand({ TableName: tableName, Key: key, ConsistentRead: true }),
  );
  return Item;
}

/**
 * The pages of a query, first to last, as they are read: a reader stops when it has enough
 * (`break`), and no further page is requested.
 *
 * @example for await (const items of queryPages(client, { TableName, IndexName, … })) …
 */
export async function* queryPages(
  client: DynamoDBClient,
  input: Omit<QueryCommandInput, "ExclusiveStartKey">,
): AsyncGenerator<Item[]> {
  let startKey: Item | undefined;
  do {
    const page = await client.send(new QueryCommand({ ...input, ExclusiveStartKey: startKey }));
    yield page.Items ?? [];
    startKey = page.LastEvaluatedKey;
  } while (startKey);
}

/** Reads asked for in this turn of the event loop, per client and table: key → who waits. */
type Waiting = { resolve: (item: Item | undefined) => void; reject: (error: unknown) => void };
const readsThisTurn = new WeakMap<DynamoDBClient, Map<string, Map<string, Waiting[]>>>();

/**
 * One item by its key, read consistently. Reads asked for in the same turn of the event loop go
 * out together as one BatchGetItem: deliver's outcome and slot reads, side by side, are one
 * request on its cold path, not two. A read asked for alone is a GetItem, and so is each key a
 * batch leaves unprocessed (with the SDK's own retries).
 *
 * @example const [outcome, slot] = await Promise.all([readItem(client, t, a), readItem(client, t, b)]);
 */
export function readItem(
  client: DynamoDBClient,
  tableName: string,
  key: Item,
): Promise<Item | undefined> {
  const tables = readsThisTurn.get(client) ?? new Map<string, Map<string, Waiting[]>>();
  readsThisTurn.set(client, tables);
  let asked = tables.get(tableName);
  if (!asked) {
    const batch = new Map<string, Waiting[]>();
    tables.set(tableName, batch);
    queueMicrotask(() => {
      tables.delete(tableName);
      void readTogether(client, tableName, batch);
    });
    asked = batch;
  }
  const id = keyId(key);
  return new Promise((resolve, reject) => {
    const waiting = asked.get(id);
    if (waiting) waiting.push({ resolve, reject });
    else asked.set(id, [{ resolve, reject }]);
  });
}

const keyId = (key: Item): string => key[TABLE_PARTITION_KEY]?.S ?? "";

async function readTogether(
  client: DynamoDBClient,
  tableName: string,
  asked: Map<string, Waiting[]>,
): Promise<void> {
  const settle = (id: string, item: Item | undefined) => {
    for (const waiting of asked.get(id) ?? []) waiting.resolve(item);
    asked.delete(id);
  };
  const alone = (id: string) =>
    client
      .send(new GetItemCommand({ TableName: tableName, Key: pk(id), ConsistentRead: true }))
      .then(({ Item }) => settle(id, Item));
  try {
    const ids = [...asked.keys()];
    if (ids.length === 1) return await alone(ids[0] as string);
    const found = new Map<string, Item>();
    for (let start = 0; start < ids.length; start += BATCH_GET_KEYS) {
      const answer = await client.send(
        new BatchGetItemCommand({
          RequestItems: {
            [tableName]: {
              Keys: ids.slice(start, start + BATCH_GET_KEYS).map(pk),
              ConsistentRead: true,
            },
          },
        }),
      );
      for (const item of answer.Responses?.[tableName] ?? []) found.set(keyId(item), item);
      const unprocessed = new Set(
        (answer.UnprocessedKeys?.[tableName]?.Keys ?? []).map((key) => keyId(key)),
      );
      for (const id of ids.slice(start, start + BATCH_GET_KEYS)) {
        if (!unprocessed.has(id)) settle(id, found.get(id));
      }
      await Promise.all([...unprocessed].map(alone));
    }
  } catch (error) {
    for (const waiting of [...asked.values()].flat()) waiting.reject(error);
  }
}

/** Keys per BatchGetItem: DynamoDB's own limit. */
const BATCH_GET_KEYS = 100;

/**
 * Every item of these keys that exists, in no particular order: one BatchGetItem per 100 keys,
 * unprocessed keys asked again. `consistent` reads, or only the `projection`'s attributes.
 */
export async function getAll(
  client: DynamoDBClient,
  tableName: string,
  itemKeys: readonly Item[],
  read: { consistent?: boolean; projection?: string } = {},
): Promise<Item[]> {
  const items: Item[] = [];
  for (let start = 0; start < itemKeys.length; start += BATCH_GET_KEYS) {
    let request: Item[] = itemKeys.slice(start, start + BATCH_GET_KEYS);
    while (request.length > 0) {
      const answer = await client.send(
        new BatchGetItemCommand({
          RequestItems: {
            [tableName]: {
              Keys: request,
              ...(read.consistent && { ConsistentRead: true }),
              ...(read.projection && { ProjectionExpression: read.projection }),
            },
          },
        }),
      );
      items.push(...(answer.Responses?.[tableName] ?? []));
      request = answer.UnprocessedKeys?.[tableName]?.Keys ?? [];
    }
  }
  return items;
}
