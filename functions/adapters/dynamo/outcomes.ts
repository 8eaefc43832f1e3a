import {
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import { OUTCOMES, type Outcome, type OutcomeRecord } from "../../core/outcome";
import type { OutcomeStore } from "../../core/ports";
import {
  conditionFailed,
  daysMs,
  type Item,
  itemThatFailed,
  keys,
  num,
  str,
  ttlSeconds,
} from "./table";

const OUTCOME_DAYS = 30;
/** Re-begins when the blocking item changed before we could read it (abandoned, expired). */
const MAX_BEGIN_ATTEMPTS = 3;

// `state` is a DynamoDB reserved word.
const names = { "#state": "state" };

/**
 * Outcomes as `OUTCOME#<jobId>` items. The same item first carries the in-flight marker
 * (`state`: in-flight | abandoned) for unguarded sends; recording the outcome replaces it.
 *
 * @example const outcomes = makeDynamoOutcomeStore(client, "hookline");
 * if ((await outcomes.begin(job.jobId, now)) !== "started") return;
 */
export function makeDynamoOutcomeStore(client: DynamoDBClient, tableName: string): OutcomeStore {
  async function tryBegin(
    jobId: string,
    now: Date,
  ): Promise<"started" | "in-flight" | "done" | undefined> {
    const key = keys.outcome(jobId);
    try {
      await client.send(
        new PutItemCommand({
          TableName: tableName,
          Item: {
            ...key,
            jobId: str(jobId),
            state: str("in-flight"),
            startedAt: str(now.toISOString()),
            expiresAt: ttlSeconds(now.getTime() + daysMs(OUTCOME_DAYS)),
          },
          ConditionExpression: "attribute_not_exists(pk) OR #state = :abandoned",
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: { ":abandoned": str("abandoned") },
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
        }),
      );
      return "started";
    } catch (error) {
      const failed = conditionFailed(error);
      if (!failed) throw error;
      const old = await itemThatFailed(client, tableName, key, failed);
      if (old?.outcome) return "done";
      if (old?.state?.S === "in-flight") return "in-flight";
      return undefined;
    }
  }

  return {
    async record(outcome) {
      await client.send(
        new PutItemCommand({
          TableName: tableName,
          Item: {
            ...keys.outcome(outcome.jobId),
            ...toItem(outcome),
            expiresAt: ttlSeconds(outcome.at.getTime() + daysMs(OUTCOME_DAYS)),
          },
        }),
      );
    },

    async begin(jobId, now) {
      for (let attempt = 1; attempt <= MAX_BEGIN_ATTEMPTS; attempt++) {
        const answer = await tryBegin(jobId, now);
        if (answer) return answer;
      }
      throw new Error(
        `in-flight marker for ${jobId} kept racing after ${MAX_BEGIN_ATTEMPTS} attempts`,
      );
    },

    async abandon(jobId) {
      try {
        await client.send(
          new UpdateItemCommand({
            TableName: tableName,
            Key: keys.outcome(jobId),
            UpdateExpression: "SET #state = :abandoned",
            ConditionExpression: "#state = :inFlight",
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: {
              ":abandoned": str("abandoned"),
              ":inFlight": str("in-flight"),
            },
          }),
        );
      } catch (error) {
        // Already abandoned, or an outcome was recorded: nothing to clear.
        if (!conditionFailed(error)) throw error;
      }
    },

    async get(jobId) {
      const { Item } = await client.send(
        new GetItemCommand({
          TableName: tableName,
          Key: keys.outcome(jobId),
          ConsistentRead: true,
        }),
      );
      // An item with only the in-flight marker is not an outcome yet.
      return Item?.outcome ? fromItem(Item) : undefined;
    },
  };
}

function toItem(outcome: OutcomeRecord): Item {
  const item: Item = {
    jobId: str(outcome.jobId),
    sourceId: str(outcome.sourceId),
    eventId: str(outcome.eventId),
    eventName: str(outcome.eventName),
    outcome: str(outcome.outcome),
    reason: str(outcome.reason),
    at: str(outcome.at.toISOString()),
  };
  if (outcome.userId !== undefined) item.userId = num(outcome.userId);
  if (outcome.bitrixCode !== undefined) item.bitrixCode = str(outcome.bitrixCode);
  return item;
}

function fromItem(item: Item): OutcomeRecord {
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
