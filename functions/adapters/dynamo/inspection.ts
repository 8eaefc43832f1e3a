import {
  type AttributeValue,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import type { OutcomeRecord } from "../../core/outcome";
import type { SlotKey } from "../../core/ports";
import { fromItem, readNotifications } from "./outcomes";
import { allShards, getAll, type Item, keys, queryPages, TABLE_INDEXES } from "./table";

/** Which outcomes `recentOutcomes` reads: all pass when a filter is unset. */
export interface OutcomeQuery {
  source?: string;
  userId?: number;
  outcome?: string;
  /** Only outcomes written at or after this time. */
  since: Date;
  /** Enough outcomes to name this many events (an event has one outcome per route). */
  limit: number;
}

/** A user's weekly slot as the slot store keeps it (functions/adapters/dynamo/slots.ts). */
export interface SlotView {
  /** `free` (no item, or no state), `pending` (an attempt holds a lease) or `sent`. */
  state: "free" | "pending" | "sent";
  sentAt?: Date;
  /** When the next message may go: the week after `sentAt`, plus the margin. */
  freeAt?: Date;
  /** Only while `pending`. */
  leaseUntil?: Date;
  holderJob?: string;
  /** An attempt whose fate is unknown may have landed then (ambiguity evidence). */
  maybeSentAt?: Date;
  limitedTries?: number;
  digestId?: string;
}

/** What an operator reads of the table, and the local run's slot reset. */
export interface LedgerInspection {
  /**
   * Outcomes from the `events` index, newest first: each shard is read newest first until it
   * alone names `limit` events, so a few pages of each shard at most, never a scan.
   */
  recentOutcomes(query: OutcomeQuery): Promise<OutcomeRecord[]>;
  /**
   * The outcomes of these jobs, listed in the `events` index or not (a deployed stack lists no
   * `sent` ones, docs/cost.md): one BatchGetItem per 100, newest first.
   */
  outcomesOf(jobIds: readonly string[]): Promise<OutcomeRecord[]>;
  /** When each of these jobs reached its user as a system notification, for those that did. */
  notifications(
    jobIds: readonly string[],
  ): Promise<Map<string, { notifiedAt: Date; notifyTag?: string }>>;
  /** The slot, read consistently. */
  slot(key: SlotKey): Promise<SlotView>;
  /**
   * Forgets the slot's week: deletes the slot item but keeps its pending-digest marker (written
   * straight back), so a newer event still joins the waiting digest (docs/ledger.md, "The
   * pending-digest marker"); `true` when there was an item.
   */
  clearSlot(key: SlotKey): Promise<boolean>;
}

/** Items read per page; a page is filtered after it is read, so a little more than `limit`. */
const PAGE = 100;

/**
 * The reads behind `hookline events` and `hookline slot`, so the CLI goes through the table's
 * owners and never learns its items' layout.
 *
 * @example const outcomes = await makeDynamoInspection(client, "hookline").recentOutcomes({ since, limit: 50 });
 */
export function makeDynamoInspection(client: DynamoDBClient, tableName: string): LedgerInspection {
  return {
    recentOutcomes: async (query) => {
      const shards = await Promise.all(
        allShards(TABLE_INDEXES.events).map((shard) => readShard(client, tableName, shard, query)),
      );
      return shards.flat().sort((a, b) => b.at.getTime() - a.at.getTime());
    },
    outcomesOf: async (jobIds) => {
      const items = await getAll(client, tableName, [...new Set(jobIds)].map(keys.outcome));
      return items
        .filter((item) => item.outcome?.S !== undefined)
        .map(fromItem)
        .sort((a, b) => b.at.getTime() - a.at.getTime());
    },
    notifications: (jobIds) => readNotifications(client, tableName, jobIds),
    slot: async (key) => {
      const { Item } = await client.send(
        new GetItemCommand({ TableName: tableName, Key: slotKey(key), ConsistentRead: true }),
      );
      const view = slotView(Item);
      // A lone send keeps its intent as the week's record (docs/ledger.md, "Writes per message"):
      // its holder's outcome says whether it landed.
      const intent = Item?.sendingAt?.N !== undefined && !Item.settled?.BOOL;
      if (view.state !== "pending" || !intent || !view.holderJob) return view;
      const holder = await client.send(
        new GetItemCommand({
          TableName: tableName,
          Key: keys.outcome(view.holderJob),
          ConsistentRead: true,
        }),
      );
      const landed = holder.Item && fromItem(holder.Item);
      if (landed?.outcome !== "sent") return view;
      const { leaseUntil: _, ...rest } = view;
      return { ...rest, state: "sent", sentAt: landed.at };
    },
    clearSlot: async (key) => {
      const { Attributes } = await client.send(
        new DeleteItemCommand({ TableName: tableName, Key: slotKey(key), ReturnValues: "ALL_OLD" }),
      );
      const marker = Attributes?.pendingJobs;
      const expiresAt = Attributes?.expiresAt;
      if (marker?.SS && marker.SS.length > 0) {
        // ADD: a union with anything written since the delete. (A claim between the two writes
        // could still go ahead of the digest; this is the local run's operator tool.)
        await client.send(
          new UpdateItemCommand({
            TableName: tableName,
            Key: slotKey(key),
            UpdateExpression: `ADD pendingJobs :jobs${expiresAt ? " SET expiresAt = if_not_exists(expiresAt, :at)" : ""}`,
            ExpressionAttributeValues: { ":jobs": marker, ...(expiresAt && { ":at": expiresAt }) },
          }),
        );
      }
      return Attributes !== undefined;
    },
  };
}

const slotKey = (key: SlotKey): Item => keys.slot(key.portal, key.openLineCode, key.userId);

/** One shard of the `events` index, newest first, until it names `query.limit` events. */
async function readShard(
  client: DynamoDBClient,
  tableName: string,
  shard: string,
  query: OutcomeQuery,
): Promise<OutcomeRecord[]> {
  const index = TABLE_INDEXES.events;
  const conditions: string[] = [];
  const values: Record<string, AttributeValue> = {
    ":since": { N: String(query.since.getTime()) },
    ":shard": { S: shard },
  };
  if (query.source !== undefined) {
    conditions.push("sourceId = :source");
    values[":source"] = { S: query.source };
  }
  if (query.userId !== undefined) {
    conditions.push("userId = :user");
    values[":user"] = { N: String(query.userId) };
  }
  if (query.outcome !== undefined) {
    conditions.push("outcome = :outcome");
    values[":outcome"] = { S: query.outcome };
  }
  const records: OutcomeRecord[] = [];
  const named = new Set<string>();
  for await (const items of queryPages(client, {
    TableName: tableName,
    IndexName: index.indexName,
    KeyConditionExpression: `${index.partitionKey} = :shard AND ${index.sortKey} >= :since`,
    ...(conditions.length > 0 ? { FilterExpression: conditions.join(" AND ") } : {}),
    ExpressionAttributeValues: values,
    ScanIndexForward: false,
    Limit: PAGE,
  })) {
    for (const item of items) {
      const record = fromItem(item);
      records.push(record);
      named.add(`${record.sourceId}\u0000${record.eventId}`);
    }
    if (named.size >= query.limit) break;
  }
  return records;
}

function slotView(item: Item | undefined): SlotView {
  const time = (name: string): Date | undefined => {
    const value = item?.[name]?.N;
    return value === undefined || Number(value) <= 0 ? undefined : new Date(Number(value));
  };
  const state = item?.state?.S;
  const view: SlotView = { state: state === "pending" || state === "sent" ? state : "free" };
  const fields: [keyof SlotView, Date | string | number | undefined][] = [
    ["sentAt", time("sentAt")],
    ["freeAt", time("freeAt")],
    ["leaseUntil", state === "pending" ? time("leaseUntil") : undefined],
    ["holderJob", item?.holderJob?.S],
    ["maybeSentAt", time("maybeSentAt")],
    ["digestId", item?.digestId?.S],
    ["limitedTries", item?.limitedTries?.N === undefined ? undefined : Number(item.limitedTries.N)],
  ];
  for (const [name, value] of fields)
    if (value !== undefined) Object.assign(view, { [name]: value });
  return view;
}
