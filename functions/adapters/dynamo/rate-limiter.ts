import { type DynamoDBClient, UpdateItemCommand } from "@aws-sdk/client-dynamodb";
import type { RateLimiter } from "../../core/ports";
import { applied, conditional, type Item, itemThatFailed, keys, num } from "./table";

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
  async function takeIdle(nowMs: number, step: number): Promise<{ failures: number } | undefined> {
    const write = await conditional(
      client,
      new UpdateItemCommand({
        TableName: tableName,
        Key: key,
        UpdateExpression: "SET tat = :next",
        ConditionExpression: "attribute_not_exists(tat) OR tat < :now",
        ExpressionAttributeValues: { ":now": num(nowMs), ":next": num(nowMs + step) },
        ReturnValues: "ALL_NEW",
      }),
    );
    if (!write.applied) return undefined;
    seeTat(nowMs + step);
    return { failures: Number(write.attributes?.failures?.N ?? 0) };
  }

  /** Busy bucket: queue behind the others, if the wait fits in `maxWaitMs`. */
  async function queueBehind(
    nowMs: number,
    maxWaitMs: number,
    step: number,
  ): Promise<{ sendAt: Date; failures: number } | { retryAfterMs: number } | undefined> {
    const write = await conditional(
      client,
      new UpdateItemCommand({
        TableName: tableName,
        Key: key,
        UpdateExpression: "SET tat = tat + :step",
        ConditionExpression: "tat >= :now AND tat <= :latest",
        ExpressionAttributeValues: {
          ":now": num(nowMs),
          ":latest": num(nowMs + tau + maxWaitMs),
          ":step": num(step),
        },
        ReturnValues: "ALL_NEW",
        ReturnValuesOnConditionCheckFailure: "ALL_OLD",
      }),
    );
    if (!write.applied) {
      const tat = readTat(await itemThatFailed(client, tableName, key, write.failed));
      seeTat(tat);
      const retryAfterMs = tat - tau - maxWaitMs - nowMs;
      // Booked too far ahead: nothing reserved. Otherwise the bucket went idle meanwhile.
      return retryAfterMs > 0 ? { retryAfterMs } : undefined;
    }
    // The old tat was newTat - step; the request conforms from old tat - tau on.
    const newTat = Number(write.attributes?.tat?.N);
    seeTat(newTat);
    return {
      sendAt: new Date(Math.max(nowMs, newTat - step - tau)),
      failures: Number(write.attributes?.failures?.N ?? 0),
    };
  }

  return {
    async reserve(now, maxWaitMs, cost = 1) {
      const nowMs = now.getTime();
      // A request that books more than one interval (a batch's operating time) moves tat further.
      const step = Math.max(interval, Math.ceil(cost * interval));
      // A bucket this process last saw booked ahead is likely still busy: queue behind first, so
      // a busy bucket costs one write, not a failed idle write and then the booking.
      let busy = knownTat >= nowMs;
      for (let round = 0; round < MAX_ROUNDS; round++) {
        if (!busy) {
          const idle = await takeIdle(nowMs, step);
          if (idle) return { sendAt: new Date(nowMs), failures: idle.failures };
        }
        busy = false;
        const answer = await queueBehind(nowMs, Math.max(0, Math.floor(maxWaitMs)), step);
        if (answer) return answer;
      }
      throw new Error(`rate limiter for ${portal} kept racing after ${MAX_ROUNDS} rounds`);
    },

    async penalize(now, ms) {
      // With tat at now + tau + ms, the next request conforms at now + ms.
      const target = now.getTime() + tau + Math.max(0, Math.ceil(ms));
      seeTat(target);
      const counted = await applied(
        client,
        new UpdateItemCommand({
          TableName: tableName,
          Key: key,
          UpdateExpression: "SET tat = :target ADD failures :one",
          // Never moves tat backwards: a larger penalty or more bookings stand.
          ConditionExpression: "attribute_not_exists(tat) OR tat < :target",
          ExpressionAttributeValues: { ":target": num(target), ":one": num(1) },
        }),
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

/** The stored tat; a missing item or tat reads as an idle bucket. */
const readTat = (item: Item | undefined): number =>
  Number(item?.tat?.N ?? Number.NEGATIVE_INFINITY);
