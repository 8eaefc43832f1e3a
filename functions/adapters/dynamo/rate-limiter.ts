import { type DynamoDBClient, UpdateItemCommand } from "@aws-sdk/client-dynamodb";
import type { RateLimiter } from "../../core/ports";
import { conditionFailed, type Item, itemThatFailed, keys, num } from "./table";

export interface RateLimitOptions {
  /** Portal whose bucket this is: one `RATE#<portal>` item. */
  portal: string;
  /** How fast the bucket drains (Bitrix24: 2/s standard, 5/s Enterprise). */
  perSecond: number;
  /** How many requests an idle bucket takes at once (Bitrix24: 50 standard, 250 Enterprise). */
  burst: number;
}

/** A round repeats only if the bucket looked busy, then idle; tat never moves back, so rarely. */
const MAX_ROUNDS = 5;

/**
 * The portal's leaky bucket shared by every worker: GCRA over one item holding `tat`, the
 * theoretical arrival time (epoch ms). Each reservation moves `tat` on by one interval
 * I = 1000 / perSecond with one conditional update; a request may go at tat - tau, where
 * tau = (burst - 1) * I lets `burst` requests through an idle bucket at once.
 *
 * @example
 * const limiter = makeDynamoRateLimiter(client, table, { portal, perSecond: 2, burst: 50 });
 * const slot = await limiter.reserve(clock.now(), 5_000);
 * if ("sendAt" in slot) await sleep(slot.sendAt.getTime() - Date.now());
 */
export function makeDynamoRateLimiter(
  client: DynamoDBClient,
  tableName: string,
  { portal, perSecond, burst }: RateLimitOptions,
): RateLimiter {
  if (!(perSecond > 0)) throw new RangeError(`perSecond must be positive, got ${perSecond}`);
  if (!Number.isInteger(burst) || burst < 1) {
    throw new RangeError(`burst must be a positive integer, got ${burst}`);
  }
  // Whole milliseconds, rounded up: never faster than the portal allows.
  const interval = Math.ceil(1000 / perSecond);
  const tau = (burst - 1) * interval;
  const key = keys.rate(portal);

  /** What this process last saw of the bucket: a hint that saves writes while the portal is down. */
  let knownTat = Number.NEGATIVE_INFINITY;
  const seeTat = (tat: number) => {
    if (Number.isFinite(tat)) knownTat = Math.max(knownTat, tat);
  };

  /** Idle bucket (no tat, or tat already past): the request goes now. */
  async function takeIdle(nowMs: number): Promise<{ failures: number } | undefined> {
    try {
      const { Attributes } = await client.send(
        new UpdateItemCommand({
          TableName: tableName,
          Key: key,
          UpdateExpression: "SET tat = :next",
          ConditionExpression: "attribute_not_exists(tat) OR tat < :now",
          ExpressionAttributeValues: { ":now": num(nowMs), ":next": num(nowMs + interval) },
          ReturnValues: "ALL_NEW",
        }),
      );
      seeTat(nowMs + interval);
      return { failures: Number(Attributes?.failures?.N ?? 0) };
    } catch (error) {
      if (conditionFailed(error)) return undefined;
      throw error;
    }
  }

  /** Busy bucket: queue behind the others, if the wait fits in `maxWaitMs`. */
  async function queueBehind(
    nowMs: number,
    maxWaitMs: number,
  ): Promise<{ sendAt: Date; failures: number } | { retryAfterMs: number } | undefined> {
    try {
      const { Attributes } = await client.send(
        new UpdateItemCommand({
          TableName: tableName,
          Key: key,
          UpdateExpression: "SET tat = tat + :interval",
          ConditionExpression: "tat >= :now AND tat <= :latest",
          ExpressionAttributeValues: {
            ":now": num(nowMs),
            ":latest": num(nowMs + tau + maxWaitMs),
            ":interval": num(interval),
          },
          ReturnValues: "ALL_NEW",
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
        }),
      );
      // The old tat was newTat - I; the request conforms from old tat - tau on.
      const newTat = Number(Attributes?.tat?.N);
      seeTat(newTat);
      return {
        sendAt: new Date(Math.max(nowMs, newTat - interval - tau)),
        failures: Number(Attributes?.failures?.N ?? 0),
      };
    } catch (error) {
      const failed = conditionFailed(error);
      if (!failed) throw error;
      const tat = readTat(await itemThatFailed(client, tableName, key, failed));
      seeTat(tat);
      const retryAfterMs = tat - tau - maxWaitMs - nowMs;
      // Booked too far ahead: nothing reserved. Otherwise the bucket went idle meanwhile.
      return retryAfterMs > 0 ? { retryAfterMs } : undefined;
    }
  }

  return {
    async reserve(now, maxWaitMs) {
      const nowMs = now.getTime();
      for (let round = 0; round < MAX_ROUNDS; round++) {
        const idle = await takeIdle(nowMs);
        if (idle) return { sendAt: new Date(nowMs), failures: idle.failures };
        const answer = await queueBehind(nowMs, Math.max(0, Math.floor(maxWaitMs)));
        if (answer) return answer;
      }
      throw new Error(`rate limiter for ${portal} kept racing after ${MAX_ROUNDS} rounds`);
    },

    async penalize(now, ms) {
      // With tat at now + tau + ms, the next request conforms at now + ms.
      const target = now.getTime() + tau + Math.max(0, Math.ceil(ms));
      seeTat(target);
      const counted = await conditional(
        client.send(
          new UpdateItemCommand({
            TableName: tableName,
            Key: key,
            UpdateExpression: "SET tat = :target ADD failures :one",
            // Never moves tat backwards: a larger penalty or more bookings stand.
            ConditionExpression: "attribute_not_exists(tat) OR tat < :target",
            ExpressionAttributeValues: { ":target": num(target), ":one": num(1) },
          }),
        ),
      );
      if (!counted) {
        await client.send(
          new UpdateItemCommand({
            TableName: tableName,
            Key: key,
            UpdateExpression: "ADD failures :one",
            ExpressionAttributeValues: { ":one": num(1) },
          }),
        );
      }
    },

    async recovered() {
      await client.send(
        new UpdateItemCommand({
          TableName: tableName,
          Key: key,
          UpdateExpression: "REMOVE failures",
        }),
      );
    },

    heldBackUntil: () => knownTat - tau,
  };
}

/** `true` when the write happened, `false` when its condition failed; other errors propagate. */
async function conditional(write: Promise<unknown>): Promise<boolean> {
  try {
    await write;
    return true;
  } catch (error) {
    if (conditionFailed(error)) return false;
    throw error;
  }
}

/** The stored tat; a missing item or tat reads as an idle bucket. */
const readTat = (item: Item | undefined): number =>
  Number(item?.tat?.N ?? Number.NEGATIVE_INFINITY);
