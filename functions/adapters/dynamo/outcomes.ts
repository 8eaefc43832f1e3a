import {
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import type { EventJob, RenderedMessage } from "../../core/job";
import { OUTCOMES, type Outcome, type OutcomeRecord, outcomeRecord } from "../../core/outcome";
import type { OutcomeStore, PendingEvent, SlotKey } from "../../core/ports";
import {
  allShards,
  applied,
  conditional,
  daysMs,
  getAll,
  type Item,
  itemThatFailed,
  keys,
  num,
  readItem,
  shardOf,
  str,
  TABLE_INDEXES,
  ttlSeconds,
} from "./table";

const OUTCOME_DAYS = 30;
/** One digest never reads more than this many pending events (far above `digest.maxEvents`). */
const MAX_PENDING_READ = 500;

// `outcome` is fine, `state` is not used here; `at` is not reserved either.
/** A final outcome may be written over no outcome, a state on the way, or an exhausted `failed`. */
const FINAL_OR_NEW =
  "attribute_not_exists(outcome) OR outcome IN (:deferred, :notified) OR exhausted = :true";
/**
 * A deferral may be written over no outcome, a deferral, or an exhausted `failed`, never over a
 * `notified` (the event is in the digest already, and the mark that it was notified stays).
 */
const DEFERRED_OR_NEW = "attribute_not_exists(outcome) OR outcome = :deferred OR exhausted = :true";
const STATE_VALUES = {
  ":deferred": str("deferred"),
  ":notified": str("notified"),
  ":true": { BOOL: true },
} as const;

/** `portal#openLine#user`: the digest index key, and how the sweeper names a due digest. */
export const digestKeyOf = (key: SlotKey): string =>
  `${key.portal}#${key.openLineCode}#${key.userId}`;

function slotKeyOf(digestKey: string): SlotKey | undefined {
  const match = /^(.*)#([^#]+)#(\d+)$/.exec(digestKey);
  if (!match?.[1] || !match[2] || !match[3]) return undefined;
  return { portal: match[1], openLineCode: match[2], userId: Number(match[3]) };
}

/**
 * Outcomes as `OUTCOME#<jobId>` items, written once per state with conditional writes:
 * `deferred` → final, never final → another final (but an exhausted `failed`, which a redrive may
 * retry). A deferred item is also the event's place in its user's digest: it carries the rendered
 * message and the attributes of the sparse `due` and `digest` indexes; the final write drops them.
 * The same item holds the in-flight marker of sends without a weekly limit.
 *
 * @example const outcomes = makeDynamoOutcomeStore(client, "hookline");
 * await outcomes.defer(job, slotKey, freeAt, "weekly slot used", now);
 */
export function makeDynamoOutcomeStore(
  client: DynamoDBClient,
  tableName: string,
  options: OutcomeStoreOptions = {},
): OutcomeStore {
  const listSent = options.listSent ?? true;
  const recordItem = (record: OutcomeRecord) =>
    outcomeItem(record, listSent || record.outcome !== "sent");
  async function read(jobId: string): Promise<OutcomeRecord | undefined> {
    const item = await readItem(client, tableName, keys.outcome(jobId));
    return item?.outcome ? fromItem(item) : undefined;
  }

  /** A conditional put of a state; on a failed condition, the record that stands instead. */
  async function put(
    item: Item,
    record: OutcomeRecord,
    condition = FINAL_OR_NEW,
  ): Promise<OutcomeRecord> {
    const key = keys.outcome(record.jobId);
    const values =
      condition === FINAL_OR_NEW
        ? STATE_VALUES
        : { ":deferred": STATE_VALUES[":deferred"], ":true": STATE_VALUES[":true"] };
    const write = await conditional(
      client,
      new PutItemCommand({
        TableName: tableName,
        Item: { ...key, ...item },
        ConditionExpression: condition,
        ExpressionAttributeValues: values,
        ReturnValuesOnConditionCheckFailure: "ALL_OLD",
      }),
    );
    if (write.applied) return record;
    const old = await itemThatFailed(client, tableName, key, write.failed);
    return old?.outcome ? fromItem(old) : put(item, record, condition);
  }

  async function begin(
    job: EventJob,
    token: string,
    now: Date,
    leaseMs: number,
  ): Promise<"started" | "busy" | "interrupted" | "done"> {
    const key = keys.outcome(job.jobId);
    const nowMs = now.getTime();
    const write = await conditional(
      client,
      new UpdateItemCommand({
        TableName: tableName,
        Key: key,
        UpdateExpression:
          "SET attemptToken = :token, attemptUntil = :until, jobId = :jobId, expiresAt = :expiresAt",
        ConditionExpression:
          "(attribute_not_exists(outcome) OR exhausted = :true) AND attribute_not_exists(attemptToken)",
        ExpressionAttributeValues: {
          ":token": str(token),
          ":until": num(nowMs + leaseMs),
          ":jobId": str(job.jobId),
          ":true": { BOOL: true },
          ":expiresAt": ttlSeconds(nowMs + daysMs(OUTCOME_DAYS)),
        },
        ReturnValuesOnConditionCheckFailure: "ALL_OLD",
      }),
    );
    if (write.applied) return "started";
    const old = await itemThatFailed(client, tableName, key, write.failed);
    if (!old) return begin(job, token, now, leaseMs);
    if (old.outcome && !old.exhausted?.BOOL) return "done";
    // Our own token: the SDK re-sent this write after it had applied. The marker is ours.
    if (old.attemptToken?.S === token) return "started";
    return Number(old.attemptUntil?.N) > nowMs ? "busy" : "interrupted";
  }

  /** The deferred ones of these outcome items, read consistently, oldest first. */
  async function readPending(itemKeys: readonly Item[]): Promise<PendingEvent[]> {
    const items = await getAll(client, tableName, itemKeys, { consistent: true });
    return items
      .filter((item) => item.outcome?.S === "deferred" || item.outcome?.S === "notified")
      .map(pendingEvent)
      .sort((a, b) => Date.parse(a.receivedAt) - Date.parse(b.receivedAt) || cmp(a.jobId, b.jobId));
  }

  return {
    begin,

    finish(record) {
      return put(recordItem(record), record);
    },

    defer(job, slot, dueAt, reason, now) {
      const record = outcomeRecord(job, { outcome: "deferred", reason, dueAt, at: now });
      const item: Item = {
        ...recordItem(record),
        receivedAt: str(job.receivedAt),
        receivedMs: num(Date.parse(job.receivedAt)),
        digestKey: str(digestKeyOf(slot)),
        dueShard: str(shardOf(TABLE_INDEXES.due, job.jobId)),
        dueAt: num(dueAt.getTime()),
        ...messageItem(job),
      };
      return put(item, record, DEFERRED_OR_NEW);
    },

    async notified(jobId, tag, at, reason) {
      const key = keys.outcome(jobId);
      // Only the state changes: the item stays in the digest (its index keys, message, dueAt).
      const write = await conditional(
        client,
        new UpdateItemCommand({
          TableName: tableName,
          Key: key,
          UpdateExpression:
            "SET outcome = :notified, reason = :reason, notifiedAt = :at, notifyTag = :tag, #at = :at, atMs = :atMs",
          ConditionExpression: "outcome = :deferred",
          // AT is a reserved word in update expressions (a put's item names are not checked).
          ExpressionAttributeNames: { "#at": "at" },
          ExpressionAttributeValues: {
            ":notified": STATE_VALUES[":notified"],
            ":deferred": STATE_VALUES[":deferred"],
            ":reason": str(reason),
            ":at": str(at.toISOString()),
            ":atMs": num(at.getTime()),
            ":tag": str(tag),
          },
          ReturnValues: "ALL_NEW",
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
        }),
      );
      // Not applied: final already (its digest went out), notified by another copy, or never deferred.
      const standing = write.applied
        ? write.attributes
        : await itemThatFailed(client, tableName, key, write.failed);
      return standing?.outcome ? fromItem(standing) : undefined;
    },

    async reschedule(jobIds, dueAt, reason) {
      await Promise.all(
        // A job final meanwhile (sent in a digest another worker finished): nothing to move.
        jobIds.map((jobId) =>
          applied(
            client,
            new UpdateItemCommand({
              TableName: tableName,
              Key: keys.outcome(jobId),
              UpdateExpression: "SET dueAt = :dueAt, reason = :reason, expiresAt = :expiresAt",
              ConditionExpression: "outcome IN (:deferred, :notified)",
              ExpressionAttributeValues: {
                ":dueAt": num(dueAt.getTime()),
                ":expiresAt": ttlSeconds(dueAt.getTime() + daysMs(OUTCOME_DAYS)),
                ":reason": str(reason),
                ":deferred": STATE_VALUES[":deferred"],
                ":notified": STATE_VALUES[":notified"],
              },
            }),
          ),
        ),
      );
    },

    async pending(slot) {
      const index = TABLE_INDEXES.digest;
      const keysFound: Item[] = [];
      let startKey: Item | undefined;
      do {
        const page = await client.send(
          new QueryCommand({
            TableName: tableName,
            IndexName: index.indexName,
            KeyConditionExpression: `${index.partitionKey} = :digestKey`,
            ExpressionAttributeValues: { ":digestKey": str(digestKeyOf(slot)) },
            ExclusiveStartKey: startKey,
            Limit: MAX_PENDING_READ,
          }),
        );
        for (const item of page.Items ?? []) if (item.pk) keysFound.push({ pk: item.pk });
        startKey = page.LastEvaluatedKey;
      } while (startKey && keysFound.length < MAX_PENDING_READ);

      // The index is eventually consistent: read each event from the table itself.
      return readPending(keysFound);
    },

    pendingByIds(jobIds) {
      return readPending([...new Set(jobIds)].map((jobId) => keys.outcome(jobId)));
    },

    async due(now, limit) {
      const index = TABLE_INDEXES.due;
      // Every shard, oldest due first in each: up to `limit` events from each, merged.
      const shards = await Promise.all(
        allShards(index).map(async (shard) => {
          const found: { digestKey: string; dueAt: number }[] = [];
          let startKey: Item | undefined;
          do {
            const page = await client.send(
              new QueryCommand({
                TableName: tableName,
                IndexName: index.indexName,
                KeyConditionExpression: `${index.partitionKey} = :shard AND ${index.sortKey} <= :now`,
                ExpressionAttributeValues: { ":shard": str(shard), ":now": num(now.getTime()) },
                ExclusiveStartKey: startKey,
                Limit: limit,
              }),
            );
            for (const item of page.Items ?? []) {
              const digestKey = item.digestKey?.S;
              if (digestKey) found.push({ digestKey, dueAt: Number(item.dueAt?.N ?? 0) });
            }
            startKey = page.LastEvaluatedKey;
          } while (startKey && found.length < limit);
          return found;
        }),
      );
      const counts = new Map<string, number>();
      const oldestFirst = shards
        .flat()
        .sort((a, b) => a.dueAt - b.dueAt)
        .slice(0, limit);
      for (const { digestKey } of oldestFirst) {
        counts.set(digestKey, (counts.get(digestKey) ?? 0) + 1);
      }
      return [...counts].flatMap(([digestKey, events]) => {
        const key = slotKeyOf(digestKey);
        return key ? [{ key, events }] : [];
      });
    },

    get: read,

    async getMany(jobIds) {
      const itemKeys = [...new Set(jobIds)].map(keys.outcome);
      const items = await getAll(client, tableName, itemKeys, { consistent: true });
      const found = new Map<string, OutcomeRecord>();
      for (const item of items) {
        if (item.outcome?.S === undefined) continue;
        const record = fromItem(item);
        found.set(record.jobId, record);
      }
      return found;
    },

    async allowResend(jobIds) {
      const marked: string[] = [];
      for (const jobId of jobIds) {
        const marks = await applied(
          client,
          new UpdateItemCommand({
            TableName: tableName,
            Key: keys.outcome(jobId),
            // An `unknown` a redrive may replace, as it may an exhausted `failed`.
            // A partner portal's interrupted marker goes too: the resend writes a new one.
            UpdateExpression: "SET exhausted = :true REMOVE attemptToken, attemptUntil",
            ConditionExpression: "outcome = :unknown",
            ExpressionAttributeValues: { ":true": { BOOL: true }, ":unknown": str("unknown") },
          }),
        );
        if (marks) marked.push(jobId);
      }
      return marked;
    },

    async marker(jobId) {
      const { Item } = await client.send(
        new GetItemCommand({
          TableName: tableName,
          Key: keys.outcome(jobId),
          ConsistentRead: true,
        }),
      );
      const until = Item?.attemptToken?.S ? Item.attemptUntil?.N : undefined;
      return until === undefined ? undefined : { until: new Date(Number(until)) };
    },

    async abandon(jobId, token) {
      // Not applied: not ours any more (an outcome was recorded, or the marker was taken over).
      await applied(
        client,
        new UpdateItemCommand({
          TableName: tableName,
          Key: keys.outcome(jobId),
          UpdateExpression: "REMOVE attemptToken, attemptUntil",
          ConditionExpression: "attemptToken = :token",
          ExpressionAttributeValues: { ":token": str(token) },
        }),
      );
    },
  };
}

/**
 * When each of these jobs reached its user as a system notification, for those that did
 * (`hookline events`). The `events` index does not project these attributes (a deployed index's
 * projection cannot change in place), so they are read from the table: one BatchGetItem per 100.
 */
export async function readNotifications(
  client: DynamoDBClient,
  tableName: string,
  jobIds: readonly string[],
): Promise<Map<string, { notifiedAt: Date; notifyTag?: string }>> {
  const found = new Map<string, { notifiedAt: Date; notifyTag?: string }>();
  const itemKeys = [...new Set(jobIds)].map(keys.outcome);
  const projection = "jobId, notifiedAt, notifyTag";
  for (const item of await getAll(client, tableName, itemKeys, { projection })) {
    const jobId = item.jobId?.S;
    const notifiedAt = item.notifiedAt?.S;
    if (jobId === undefined || notifiedAt === undefined) continue;
    found.set(jobId, {
      notifiedAt: new Date(notifiedAt),
      ...(item.notifyTag?.S !== undefined && { notifyTag: item.notifyTag.S }),
    });
  }
  return found;
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export interface OutcomeStoreOptions {
  /**
   * `sent` outcomes get `events` index keys too (default). `false` on a deployed stack: the index
   * holds what needs an operator's look (deferred, notified, failed, unknown, suppressed), one
   * index write less per sent message (docs/cost.md); `hookline events --event` still finds any.
   */
  listSent?: boolean;
}

function outcomeItem(record: OutcomeRecord, listed: boolean): Item {
  const item: Item = {
    jobId: str(record.jobId),
    sourceId: str(record.sourceId),
    eventId: str(record.eventId),
    eventName: str(record.eventName),
    outcome: str(record.outcome),
    reason: str(record.reason),
    at: str(record.at.toISOString()),
    // The `events` index: outcomes by the time of their latest state (`hookline events`).
    ...(listed && {
      eventsShard: str(shardOf(TABLE_INDEXES.events, record.jobId)),
      atMs: num(record.at.getTime()),
    }),
    expiresAt: ttlSeconds(
      Math.max(record.at.getTime(), record.dueAt?.getTime() ?? 0) + daysMs(OUTCOME_DAYS),
    ),
  };
  if (record.userId !== undefined) item.userId = num(record.userId);
  if (record.bitrixCode !== undefined) item.bitrixCode = str(record.bitrixCode);
  if (record.digestId !== undefined) item.digestId = str(record.digestId);
  if (record.exhausted) item.exhausted = { BOOL: true };
  if (record.notifiedAt !== undefined) item.notifiedAt = str(record.notifiedAt.toISOString());
  if (record.notifyTag !== undefined) item.notifyTag = str(record.notifyTag);
  return item;
}

function messageItem(message: RenderedMessage): Item {
  const item: Item = { message: str(message.message) };
  if (message.attach !== undefined) item.attach = str(JSON.stringify(message.attach));
  if (message.keyboard !== undefined) item.keyboard = str(JSON.stringify(message.keyboard));
  if (message.urlPreview !== undefined) item.urlPreview = { BOOL: message.urlPreview };
  return item;
}

function pendingEvent(item: Item): PendingEvent {
  const message: RenderedMessage = {
    userId: Number(item.userId?.N),
    message: text(item, "message"),
  };
  if (item.attach?.S !== undefined) message.attach = JSON.parse(item.attach.S);
  if (item.keyboard?.S !== undefined) message.keyboard = JSON.parse(item.keyboard.S);
  if (item.urlPreview?.BOOL !== undefined) message.urlPreview = item.urlPreview.BOOL;
  return {
    jobId: text(item, "jobId"),
    sourceId: text(item, "sourceId"),
    eventId: text(item, "eventId"),
    eventName: text(item, "eventName"),
    receivedAt: text(item, "receivedAt"),
    message,
    ...(item.dueAt?.N !== undefined && { dueAt: new Date(Number(item.dueAt.N)) }),
    ...(item.notifiedAt?.S !== undefined && { notifiedAt: new Date(item.notifiedAt.S) }),
    ...(item.notifyTag?.S !== undefined && { notifyTag: item.notifyTag.S }),
  };
}

/** An outcome item (from the table or the `events` index) as a record. */
export function fromItem(item: Item): OutcomeRecord {
  const record: OutcomeRecord = {
    jobId: text(item, "jobId"),
    sourceId: text(item, "sourceId"),
    eventId: text(item, "eventId"),
    eventName: text(item, "eventName"),
    outcome: outcomeOf(text(item, "outcome")),
    reason: text(item, "reason"),
    at: new Date(text(item, "at")),
  };
  if (item.userId?.N !== undefined) record.userId = Number(item.userId.N);
  if (item.bitrixCode?.S !== undefined) record.bitrixCode = item.bitrixCode.S;
  if (item.digestId?.S !== undefined) record.digestId = item.digestId.S;
  if (item.dueAt?.N !== undefined) record.dueAt = new Date(Number(item.dueAt.N));
  if (item.exhausted?.BOOL) record.exhausted = true;
  if (item.notifiedAt?.S !== undefined) record.notifiedAt = new Date(item.notifiedAt.S);
  if (item.notifyTag?.S !== undefined) record.notifyTag = item.notifyTag.S;
  return record;
}

function text(item: Item, name: string): string {
  const value = item[name]?.S;
  if (value === undefined) throw new Error(`outcome item lacks the string attribute ${name}`);
  return value;
}

function outcomeOf(value: string): Outcome {
  const outcome = OUTCOMES.find((known) => known === value);
  if (!outcome) throw new Error(`outcome item has an unknown outcome: ${value}`);
  return outcome;
}
