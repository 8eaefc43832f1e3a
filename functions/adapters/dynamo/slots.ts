import {
  DeleteItemCommand,
  type DynamoDBClient,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import type { ClaimResult, SlotKey, SlotStore } from "../../core/ports";
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

/** Bitrix24 allows one message per user per rolling 7 days from an open line. */
const WEEK_MS = daysMs(7);
/** A pending slot outlives its lease by a day: a late redelivery still finds its ambiguous mark. */
const PENDING_TTL_MARGIN_MS = daysMs(1);
/** Re-claims when the blocking item vanished before we could read it (released, expired). */
const MAX_CLAIM_ATTEMPTS = 3;

// `state` is a DynamoDB reserved word.
const names = { "#state": "state" };

/**
 * Weekly slots as `SLOT#<portal>#<openLineCode>#<userId>` items. States: `pending` (claimId,
 * leaseUntil in ms) and `sent` (claimId, sentAt in ms). `ambiguousFor` names the claim whose send
 * had an unknown fate, so only that claim hears about it when it takes the slot again.
 *
 * Every expiry is compared with `now` in the condition itself: TTL deletes items days late.
 *
 * @example const slots = makeDynamoSlotStore(client, "hookline");
 * const taken = await slots.claim({ portal, openLineCode, userId }, job.jobId, now, 120_000);
 */
export function makeDynamoSlotStore(client: DynamoDBClient, tableName: string): SlotStore {
  const slotKey = (key: SlotKey): Item => keys.slot(key.portal, key.openLineCode, key.userId);

  /** One conditional write; `undefined` when it failed but nothing blocks the slot any more. */
  async function tryClaim(
    key: Item,
    claimId: string,
    now: Date,
    leaseMs: number,
  ): Promise<ClaimResult | undefined> {
    const nowMs = now.getTime();
    const leaseUntil = nowMs + leaseMs;
    try {
      const { Attributes } = await client.send(
        new UpdateItemCommand({
          TableName: tableName,
          Key: key,
          UpdateExpression:
            "SET #state = :pending, claimId = :claimId, leaseUntil = :leaseUntil, " +
            "expiresAt = :expiresAt REMOVE sentAt",
          ConditionExpression: [
            "attribute_not_exists(pk)",
            "(#state = :sent AND sentAt <= :weekAgo)",
            "(#state = :pending AND (leaseUntil <= :now OR claimId = :claimId))",
          ].join(" OR "),
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: {
            ":pending": str("pending"),
            ":sent": str("sent"),
            ":claimId": str(claimId),
            ":now": num(nowMs),
            ":weekAgo": num(nowMs - WEEK_MS),
            ":leaseUntil": num(leaseUntil),
            ":expiresAt": ttlSeconds(leaseUntil + PENDING_TTL_MARGIN_MS),
          },
          ReturnValues: "ALL_NEW",
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
        }),
      );
      return { status: "claimed", ambiguous: Attributes?.ambiguousFor?.S === claimId };
    } catch (error) {
      const failed = conditionFailed(error);
      if (!failed) throw error;
      const holder = await itemThatFailed(client, tableName, key, failed);
      return holder && blockingClaim(holder, claimId, now);
    }
  }

  return {
    async claim(key, claimId, now, leaseMs) {
      for (let attempt = 1; attempt <= MAX_CLAIM_ATTEMPTS; attempt++) {
        const result = await tryClaim(slotKey(key), claimId, now, leaseMs);
        if (result) return result;
      }
      throw new Error(`weekly slot claim kept racing after ${MAX_CLAIM_ATTEMPTS} attempts`);
    },

    async confirm(key, claimId, sentAt) {
      const sentMs = sentAt.getTime();
      try {
        await client.send(
          new UpdateItemCommand({
            TableName: tableName,
            Key: slotKey(key),
            UpdateExpression:
              "SET #state = :sent, claimId = :claimId, sentAt = :sentAt, expiresAt = :expiresAt " +
              "REMOVE leaseUntil, ambiguousFor",
            // A free slot (the item expired or was released meanwhile) records our real send too.
            ConditionExpression: "attribute_not_exists(pk) OR claimId = :claimId",
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: {
              ":sent": str("sent"),
              ":claimId": str(claimId),
              ":sentAt": num(sentMs),
              ":expiresAt": ttlSeconds(sentMs + WEEK_MS),
            },
          }),
        );
      } catch (error) {
        // Another claim took the slot after our lease ran out; Bitrix24 will limit its send.
        if (!conditionFailed(error)) throw error;
      }
    },

    async release(key, claimId) {
      try {
        await client.send(
          new DeleteItemCommand({
            TableName: tableName,
            Key: slotKey(key),
            ConditionExpression: "claimId = :claimId AND #state = :pending",
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: { ":claimId": str(claimId), ":pending": str("pending") },
          }),
        );
      } catch (error) {
        // Someone else holds the slot now: it is not ours to give back.
        if (!conditionFailed(error)) throw error;
      }
    },

    async markAmbiguous(key, claimId, now, leaseMs) {
      const leaseUntil = now.getTime() + leaseMs;
      try {
        await client.send(
          new UpdateItemCommand({
            TableName: tableName,
            Key: slotKey(key),
            UpdateExpression:
              "SET ambiguousFor = :claimId, leaseUntil = :leaseUntil, expiresAt = :expiresAt",
            ConditionExpression: "claimId = :claimId AND #state = :pending",
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: {
              ":claimId": str(claimId),
              ":pending": str("pending"),
              ":leaseUntil": num(leaseUntil),
              ":expiresAt": ttlSeconds(leaseUntil + PENDING_TTL_MARGIN_MS),
            },
          }),
        );
      } catch (error) {
        // Our lease ran out and another claim took over; its own send will meet the limit.
        if (!conditionFailed(error)) throw error;
      }
    },
  };
}

/**
 * Why a claim failed, from the item that blocked it. `undefined` when the item (read after the
 * failed write) would not block this claim any more, so the claim may be written again.
 */
function blockingClaim(item: Item, claimId: string, now: Date): ClaimResult | undefined {
  const state = item.state?.S;
  const heldBy = item.claimId?.S ?? "";
  if (state === "sent") {
    const sentAt = Number(item.sentAt?.N);
    return sentAt > now.getTime() - WEEK_MS
      ? { status: "sent", heldBy, sentAt: new Date(sentAt) }
      : undefined;
  }
  if (state === "pending") {
    const leaseUntil = Number(item.leaseUntil?.N);
    return leaseUntil > now.getTime() && heldBy !== claimId
      ? { status: "pending", heldBy, leaseUntil: new Date(leaseUntil) }
      : undefined;
  }
  throw new Error(`weekly slot item has an unknown state: ${String(state)}`);
}
