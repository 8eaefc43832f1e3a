import { randomUUID } from "node:crypto";
import { type DynamoDBClient, UpdateItemCommand } from "@aws-sdk/client-dynamodb";
import {
  type ClaimResult,
  DIGEST_HOLDER,
  type DigestContents,
  type SlotAttempt,
  type SlotHolder,
  type SlotKey,
  type SlotStore,
  type SlotVerdict,
} from "../../core/ports";
import {
  applied,
  conditional,
  type Item,
  itemThatFailed,
  keys,
  num,
  readItem,
  str,
  ttlSeconds,
} from "./table";

export interface SlotStoreOptions {
  /** Bitrix24's window (`bitrix.weekSeconds`) and our margin on top of it, in ms. */
  weekMs: number;
  weekMarginMs: number;
  /** How long ambiguity evidence must outlive its attempt: retry window + dead-letter retention. */
  evidenceMs: number;
}

/** A fresh claim's condition: free, week over, or another holder's abandoned attempt past its week. */
const FRESH =
  "attribute_not_exists(#state) OR (freeAt <= :now AND (#state = :sent OR holderJob <> :job))";

/** Re-claims when the blocking item changed before we could read it. */
const MAX_CLAIM_ATTEMPTS = 4;

// `state` is a DynamoDB reserved word.
const names = { "#state": "state" };
const PENDING = str("pending");
const SENT = str("sent");
/** The holder of a slot that Bitrix24 reported as used (USER_MESSAGE_LIMIT) by someone else. */
export const BITRIX24_RECORD = "bitrix24";

/**
 * Weekly slots as `SLOT#<portal>#<openLineCode>#<userId>` items, the ledger's guard.
 *
 * - `pending`: `holder` (the attempt's token), `holderJob`, `leaseUntil`. A live lease blocks
 *   every other attempt, another copy of the same job included. `sendingAt` is the attempt's
 *   intent, written right before its request goes on the wire: only an attempt that wrote it may
 *   have landed. When the lease runs out, only the same holder may take it back; with an unsettled
 *   intent that counts as ambiguous, without one it is a clean retry. `maybeSentAt` keeps that
 *   evidence across releases, lease expiry and redrives.
 * - `sent`: `sentAt` and `freeAt` = sentAt + week + margin.
 * - no `state`: free (the item may still carry `limitedTries` or a queued-flush mark).
 *
 * `freeAt` is kept on every state: for a pending slot it is the latest time its attempt could
 * have landed plus a week and the margin (its lease end while no intent was written), so another
 * holder may take a slot that was abandoned.
 *
 * @example
 * const slots = makeDynamoSlotStore(client, "hookline", { weekMs, weekMarginMs, evidenceMs });
 * const claim = await slots.claim(key, { jobId: job.jobId }, now, 120_000);
 */
export function makeDynamoSlotStore(
  client: DynamoDBClient,
  tableName: string,
  options: SlotStoreOptions,
): SlotStore {
  const { weekMs, weekMarginMs, evidenceMs } = options;
  const slotKey = (key: SlotKey): Item => keys.slot(key.portal, key.openLineCode, key.userId);
  const freeAfter = (ms: number) => ms + weekMs + weekMarginMs;
  /** A pending item lives until its evidence no longer matters. */
  const pendingTtl = (leaseUntil: number) => ttlSeconds(freeAfter(leaseUntil) + evidenceMs);

  /** A fresh claim: free, week over, or another holder's abandoned attempt past its week. */
  async function claimFresh(
    key: SlotKey,
    holder: SlotHolder,
    token: string,
    now: number,
    leaseMs: number,
    sending = false,
  ): Promise<ClaimResult | { status: "reclaim"; old: Item } | undefined> {
    const leaseUntil = now + leaseMs;
    const digest = holder.digest;
    const write = await conditional(
      client,
      new UpdateItemCommand({
        TableName: tableName,
        Key: slotKey(key),
        UpdateExpression: [
          "SET #state = :pending, holder = :token, holderJob = :job, leaseUntil = :leaseUntil,",
          // With the intent (`claimSending`): used from now until a week after the lease.
          sending
            ? "sendingAt = :now, freeAt = :freeAt, expiresAt = :expiresAt"
            : "freeAt = :leaseUntil, expiresAt = :expiresAt",
          digest ? ", digestId = :digestId, digestJobs = :digestJobs" : "",
          ` REMOVE sentAt, maybeSentAt, settled, ${sending ? "" : "sendingAt, "}answered`,
          // A digest's claim ends the sweeper's queued-flush mark: the next sweep may queue again.
          digest ? ", flushQueuedUntil" : ", digestId, digestJobs",
        ].join(" "),
        // The quick way also needs no digest waiting, and no attempt carrying this job to have
        // let the slot go (it wrote its outcome just before: only the careful way reads it).
        ConditionExpression: sending
          ? `(${FRESH}) AND attribute_not_exists(pendingJobs) AND NOT contains(releasedJobs, :job)`
          : FRESH,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: {
          ":pending": PENDING,
          ":sent": SENT,
          ":token": str(token),
          ":job": str(holder.jobId),
          ":now": num(now),
          ":leaseUntil": num(leaseUntil),
          ":expiresAt": pendingTtl(leaseUntil),
          ...(sending && { ":freeAt": num(freeAfter(leaseUntil)) }),
          ...(digest && {
            ":digestId": str(digest.id),
            ":digestJobs": { L: digest.jobIds.map(str) },
          }),
        },
        ReturnValues: "ALL_OLD",
        ReturnValuesOnConditionCheckFailure: "ALL_OLD",
      }),
    );
    let old = write.applied ? write.attributes : undefined;
    let resent = false;
    if (!write.applied) {
      const item = await itemThatFailed(client, tableName, slotKey(key), write.failed);
      if (!item) return undefined;
      // `claimSending` does not wait or look why: the careful path does.
      if (item.holder?.S !== token) return sending ? undefined : blocking(item, holder.jobId, now);
      // Our own token: the SDK re-sent this write after it had applied. The claim is ours; the
      // item it replaced is lost (no previous free time below), its marks kept.
      old = item;
      resent = true;
    }
    // Our own last send (not a block after another app's message) frees at a time we know, and
    // so does a lone send that landed with its intent as its only record (docs/ledger.md, "Writes
    // per message"); a released claim (an event that joined the digest) kept that time.
    const ownSend =
      !resent &&
      ((old?.state?.S === "sent" && old.holderJob?.S !== BITRIX24_RECORD) ||
        (old?.state?.S === "pending" && old.sendingAt?.N !== undefined && !old.settled?.BOOL));
    const kept = old?.state ? undefined : old?.previousFreeAt?.N;
    const previousFreeAt = ownSend
      ? new Date(Number(old?.freeAt?.N))
      : kept !== undefined && Number(kept) > now - weekMs
        ? new Date(Number(kept))
        : undefined;
    return {
      status: "claimed",
      attempt: {
        key,
        holder,
        token,
        leaseUntil: new Date(leaseUntil),
        ...(previousFreeAt && { previousFreeAt }),
        limitedTries: tries(old),
        ...pendingOf(old),
      },
    };
  }

  /** Our own holder's attempt ran out unconfirmed: take it back as ambiguous, as it stood. */
  async function reclaimOwn(
    key: SlotKey,
    holder: SlotHolder,
    token: string,
    now: number,
    leaseMs: number,
    old: Item,
  ): Promise<ClaimResult | undefined> {
    const leaseUntil = now + leaseMs;
    const oldLease = Number(old.leaseUntil?.N);
    // A released attempt said when it may have landed; one that wrote its intent and never
    // settled may have landed by its lease. A claim that never reached the wire is no evidence.
    const interrupted = old.sendingAt?.N !== undefined && !old.settled?.BOOL;
    const maybeSentAt = Math.max(Number(old.maybeSentAt?.N ?? 0), interrupted ? oldLease : 0);
    const evidence = maybeSentAt > 0;
    const digest = digestOf(old);
    const reclaimed = await applied(
      client,
      new UpdateItemCommand({
        TableName: tableName,
        Key: slotKey(key),
        UpdateExpression:
          (evidence
            ? "SET holder = :token, leaseUntil = :leaseUntil, maybeSentAt = :maybeSentAt, " +
              "freeAt = :freeAt, expiresAt = :expiresAt REMOVE settled, sendingAt"
            : "SET holder = :token, leaseUntil = :leaseUntil, freeAt = :leaseUntil, " +
              "expiresAt = :expiresAt REMOVE settled, sendingAt, maybeSentAt") +
          (holder.jobId === DIGEST_HOLDER ? ", flushQueuedUntil" : ""),
        ConditionExpression: "#state = :pending AND holder = :oldToken AND leaseUntil <= :now",
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: {
          ":pending": PENDING,
          ":token": str(token),
          ":oldToken": str(old.holder?.S ?? ""),
          ":now": num(now),
          ":leaseUntil": num(leaseUntil),
          ":expiresAt": pendingTtl(leaseUntil),
          ...(evidence && {
            ":maybeSentAt": num(maybeSentAt),
            ":freeAt": num(freeAfter(Math.max(leaseUntil, maybeSentAt))),
          }),
        },
      }),
    );
    if (!reclaimed) return undefined; // another copy was quicker: look again
    return {
      status: "claimed",
      attempt: {
        key,
        // A digest resumes with the events the crashed attempt carried, not with newer ones.
        holder: digest ? { ...holder, digest } : holder,
        token,
        leaseUntil: new Date(leaseUntil),
        ...(evidence && { maybeSentAt: new Date(maybeSentAt) }),
        limitedTries: tries(old),
        ...pendingOf(old),
        ...answeredOf(old),
      },
    };
  }

  /** A write conditional on still holding the attempt's lease token. */
  async function asHolder(
    attempt: SlotAttempt,
    update: string,
    values: Item,
    remove = "",
  ): Promise<boolean> {
    const expression = `${update}${remove ? ` REMOVE ${remove}` : ""}`;
    // `false`: our lease ran out and another attempt of the same holder took it: theirs to settle.
    return applied(
      client,
      new UpdateItemCommand({
        TableName: tableName,
        Key: slotKey(attempt.key),
        UpdateExpression: expression,
        ConditionExpression: "holder = :token",
        ...(expression.includes("#state") && { ExpressionAttributeNames: names }),
        ExpressionAttributeValues: { ":token": str(attempt.token), ...values },
      }),
    );
  }

  return {
    async claim(key, holder, now, leaseMs) {
      const nowMs = now.getTime();
      for (let round = 1; round <= MAX_CLAIM_ATTEMPTS; round++) {
        const token = randomUUID();
        const result = await claimFresh(key, holder, token, nowMs, leaseMs);
        if (result?.status === "reclaim") {
          const reclaimed = await reclaimOwn(key, holder, token, nowMs, leaseMs, result.old);
          if (reclaimed) return reclaimed;
        } else if (result) {
          return result;
        }
      }
      throw new Error(`weekly slot claim kept racing after ${MAX_CLAIM_ATTEMPTS} attempts`);
    },

    async claimSending(key, holder, now, leaseMs) {
      const result = await claimFresh(key, holder, randomUUID(), now.getTime(), leaseMs, true);
      return result?.status === "claimed" ? result.attempt : undefined;
    },

    async freeToSend(key, jobId, now) {
      const item = await readItem(client, tableName, slotKey(key));
      if (!item?.state) return item?.pendingJobs === undefined;
      const freeAt = Number(item.freeAt?.N ?? 0);
      const fresh =
        freeAt <= now.getTime() && (item.state.S === "sent" || item.holderJob?.S !== jobId);
      return fresh && item.pendingJobs === undefined;
    },

    async confirm(attempt, sentAt, settled = []) {
      const sentMs = sentAt.getTime();
      const clear = settled.length > 0;
      await asHolder(
        attempt,
        "SET #state = :sent, sentAt = :sentAt, freeAt = :freeAt, expiresAt = :expiresAt",
        {
          ":sent": SENT,
          ":sentAt": num(sentMs),
          ":freeAt": num(freeAfter(sentMs)),
          ":expiresAt": ttlSeconds(freeAfter(sentMs) + weekMs),
          ...(clear && { ":settled": { SS: [...new Set(settled)] } }),
        },
        "holder, leaseUntil, maybeSentAt, settled, sendingAt, answered, limitedTries, previousFreeAt, " +
          "releasedJobs" +
          (clear ? " DELETE pendingJobs :settled" : ""),
      );
    },

    async notePending(key, jobId, until) {
      await client.send(
        new UpdateItemCommand({
          TableName: tableName,
          Key: slotKey(key),
          UpdateExpression:
            "ADD pendingJobs :job SET expiresAt = if_not_exists(expiresAt, :expiresAt)",
          ExpressionAttributeValues: {
            ":job": { SS: [jobId] },
            ":expiresAt": ttlSeconds(freeAfter(until.getTime())),
          },
        }),
      );
    },

    async markSending(attempt, now) {
      // From here on the request may land: the slot is used until a week after the lease. It
      // names the digest this request carries (a resumed slot may send a newer one), and keeps
      // only the evidence this attempt holds (a predecessor's, past its week, is dropped).
      const lease = attempt.leaseUntil.getTime();
      const digest = attempt.holder.digest;
      return asHolder(
        attempt,
        `SET sendingAt = :now, freeAt = :freeAt${digest ? ", digestId = :digestId, digestJobs = :digestJobs" : ""}`,
        {
          ":now": num(now.getTime()),
          ":freeAt": num(freeAfter(Math.max(lease, attempt.maybeSentAt?.getTime() ?? 0))),
          ...(digest && {
            ":digestId": str(digest.id),
            ":digestJobs": { L: digest.jobIds.map(str) },
          }),
        },
        attempt.maybeSentAt ? "" : "maybeSentAt",
      );
    },

    async markAnswered(attempt, now, leaseMs, verdict) {
      const lease = Math.max(attempt.leaseUntil.getTime(), now.getTime() + leaseMs);
      return asHolder(
        attempt,
        "SET settled = :true, leaseUntil = :lease, answered = :verdict",
        {
          ":true": { BOOL: true },
          ":lease": num(lease),
          ":verdict": {
            M: {
              outcome: str(verdict.outcome),
              reason: str(verdict.reason),
              ...(verdict.code !== undefined && { code: str(verdict.code) }),
            },
          },
        },
        "sendingAt",
      );
    },

    async release(attempt, now) {
      if (attempt.maybeSentAt) {
        // An earlier attempt may have landed: the slot stays ours, lease handed back at once.
        const maybe = attempt.maybeSentAt.getTime();
        await asHolder(
          attempt,
          "SET leaseUntil = :now, settled = :true, maybeSentAt = :maybe, freeAt = :freeAt",
          {
            ":now": num(now.getTime()),
            ":true": { BOOL: true },
            ":maybe": num(maybe),
            ":freeAt": num(freeAfter(maybe)),
          },
          "sendingAt, answered",
        );
        return;
      }
      // The counter of USER_MESSAGE_LIMIT answers, a queued-flush mark and our own last send's
      // free time (the next USER_MESSAGE_LIMIT waits the margin after it, not a day) outlive it.
      // The jobs it carried are named: a copy of one of them never claims it the quick way (its
      // outcome may have been written just before), only the careful way, which reads it again.
      const previous = attempt.previousFreeAt?.getTime();
      const carried = [...new Set(attempt.holder.digest?.jobIds ?? [attempt.holder.jobId])];
      await asHolder(
        attempt,
        `SET freeAt = :zero${previous === undefined ? "" : ", previousFreeAt = :prev"}` +
          (carried.length > 0 ? " ADD releasedJobs :released" : ""),
        {
          ":zero": num(0),
          ...(previous !== undefined && { ":prev": num(previous) }),
          ...(carried.length > 0 && { ":released": { SS: carried } }),
        },
        "#state, holder, holderJob, leaseUntil, sendingAt, answered, digestId, digestJobs",
      );
    },

    async markAmbiguous(attempt, maybeSentAt) {
      const maybe = Math.max(maybeSentAt.getTime(), attempt.maybeSentAt?.getTime() ?? 0);
      const lease = attempt.leaseUntil.getTime();
      await asHolder(attempt, "SET maybeSentAt = :maybe, freeAt = :freeAt", {
        ":maybe": num(maybe),
        ":freeAt": num(freeAfter(Math.max(lease, maybe))),
      });
      return { ...attempt, maybeSentAt: new Date(maybe) };
    },

    async block(attempt, until, limitedTries) {
      const untilMs = until.getTime();
      await asHolder(
        attempt,
        "SET #state = :sent, holderJob = :record, freeAt = :until, limitedTries = :tries, " +
          "expiresAt = :expiresAt",
        {
          ":sent": SENT,
          ":record": str(BITRIX24_RECORD),
          ":until": num(untilMs),
          ":tries": num(limitedTries),
          ":expiresAt": ttlSeconds(untilMs + weekMs),
        },
        "holder, leaseUntil, maybeSentAt, settled, sendingAt, answered, sentAt, digestId, digestJobs, " +
          "previousFreeAt, releasedJobs",
      );
    },

    async flushDone(key) {
      await applied(
        client,
        new UpdateItemCommand({
          TableName: tableName,
          Key: slotKey(key),
          UpdateExpression: "REMOVE flushQueuedUntil",
          ConditionExpression: "attribute_exists(flushQueuedUntil)",
        }),
      );
    },

    async markFlushQueued(key, now, until) {
      return applied(
        client,
        new UpdateItemCommand({
          TableName: tableName,
          Key: slotKey(key),
          // A slot item made by this mark alone still expires.
          UpdateExpression:
            "SET flushQueuedUntil = :until, expiresAt = if_not_exists(expiresAt, :expiresAt)",
          ConditionExpression: "attribute_not_exists(flushQueuedUntil) OR flushQueuedUntil <= :now",
          ExpressionAttributeValues: {
            ":until": num(until.getTime()),
            ":now": num(now.getTime()),
            ":expiresAt": ttlSeconds(freeAfter(until.getTime())),
          },
        }),
      );
    },
  };
}

/**
 * Why a fresh claim failed, from the item that blocked it: our own run-out attempt to take back,
 * a live lease, or a used week. `undefined` when the item no longer blocks (claim again).
 */
function blocking(
  item: Item,
  jobId: string,
  now: number,
): ClaimResult | { status: "reclaim"; old: Item } | undefined {
  const state = item.state?.S;
  const heldBy = item.holderJob?.S ?? "";
  const freeAt = Number(item.freeAt?.N ?? 0);
  if (state === "pending") {
    const leaseUntil = Number(item.leaseUntil?.N);
    if (leaseUntil > now) {
      const intent = item.sendingAt?.N !== undefined && !item.settled?.BOOL;
      return {
        status: "busy",
        heldBy,
        leaseUntil: new Date(leaseUntil),
        ...(intent && { usedUntil: new Date(freeAt) }),
      };
    }
    if (heldBy === jobId) return { status: "reclaim", old: item };
  } else if (state !== "sent") {
    return undefined;
  }
  if (freeAt <= now) return undefined;
  const digest = digestOf(item);
  return {
    status: "taken",
    heldBy,
    freeAt: new Date(freeAt),
    ...(item.sentAt?.N && { sentAt: new Date(Number(item.sentAt.N)) }),
    ...(digest && { digest }),
  };
}

/** The slot's pending-digest marker, when it names any event. */
const pendingOf = (item: Item | undefined): { pendingJobs?: string[] } => {
  const jobs = item?.pendingJobs?.SS;
  return jobs && jobs.length > 0 ? { pendingJobs: jobs } : {};
};

/** A verdict noted by a crashed attempt before its outcome was recorded (`markAnswered`). */
function answeredOf(item: Item): { answered?: SlotVerdict } {
  const noted = item.answered?.M;
  const outcome = noted?.outcome?.S;
  if (!noted || (outcome !== "failed" && outcome !== "unknown")) return {};
  const code = noted.code?.S;
  return {
    answered: { outcome, reason: noted.reason?.S ?? "", ...(code !== undefined && { code }) },
  };
}

/** USER_MESSAGE_LIMIT answers since the user's last send of ours: another sender was seen. */
const tries = (item: Item | undefined): number => Number(item?.limitedTries?.N ?? 0);

function digestOf(item: Item): DigestContents | undefined {
  const id = item.digestId?.S;
  if (!id) return undefined;
  return { id, jobIds: (item.digestJobs?.L ?? []).flatMap((value) => value.S ?? []) };
}
