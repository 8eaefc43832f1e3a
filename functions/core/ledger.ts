import { configFaultRetry, retryAfterAnswer } from "./bitrix-errors";
import type { WhenLimited } from "./job";
import type { ClaimResult, SendResult, SlotAttempt } from "./ports";

/**
 * The weekly ledger's decisions, as pure functions over what the slot and Bitrix24 said. The
 * deliver use case does the I/O around them; the unit tests walk their tables.
 * See docs/ledger.md and docs/design.md.
 */

export interface LedgerTimings {
  weekMs: number;
  weekMarginMs: number;
}

/** Bitrix24 said USER_MESSAGE_LIMIT this many times since our last send: the event fails. */
export const MAX_LIMITED_TRIES = 8;

/** What an event does when its claim did not give it the slot. */
export type BlockedAction =
  /** Another attempt of this same job holds a live lease: come back after it. */
  | { do: "retry"; afterMs: number; reason: string }
  /** It went out already, alone or in a digest that carried it. */
  | { do: "sent"; reason: string; digestId?: string }
  /** It is in a digest whose send is not settled yet: that digest's resumption settles it. */
  | { do: "wait"; reason: string }
  /**
   * The user's slot is taken: join the digest, due when the slot frees (or a lease ends).
   * `notify`: the route says `whenLimited: "notify"`, so the event also goes out now as a system
   * notification (docs/notify.md).
   */
  | { do: "defer"; dueAt: Date; reason: string; notify?: true }
  /** The route says `whenLimited: "drop"`. */
  | { do: "suppress"; reason: string }
  /** The route says `whenLimited: "notify-only"`: a system notification now, and no digest. */
  | { do: "notify-only"; reason: string };

export function whenBlocked(
  claim: Exclude<ClaimResult, { status: "claimed" }>,
  job: { jobId: string; whenLimited: WhenLimited },
  now: Date,
): BlockedAction {
  if (claim.status === "busy") {
    const leaseLeftMs = claim.leaseUntil.getTime() - now.getTime();
    if (claim.heldBy === job.jobId) {
      return {
        do: "retry",
        afterMs: leaseLeftMs,
        reason: "another copy of this message holds the slot",
      };
    }
    // Another message is being sent to this user right now: this one waits for the next digest.
    // A route that drops or notifies decides once that send is settled: the week is not
    // surely used until it lands, and a notification sent now might be for nothing.
    return job.whenLimited !== "digest"
      ? { do: "retry", afterMs: leaseLeftMs, reason: "weekly slot held by a send in flight" }
      : {
          do: "defer",
          dueAt: claim.leaseUntil,
          reason: `weekly slot held by ${claim.heldBy} (in flight)`,
        };
  }
  if (claim.heldBy === job.jobId) {
    return claim.sentAt
      ? { do: "sent", reason: "already sent by an earlier attempt" }
      : { do: "wait", reason: "an earlier attempt of this message is not settled" };
  }
  if (claim.digest?.jobIds.includes(job.jobId)) {
    return claim.sentAt
      ? { do: "sent", reason: `sent in digest ${claim.digest.id}`, digestId: claim.digest.id }
      : { do: "wait", reason: `in digest ${claim.digest.id}, whose send is not settled` };
  }
  const reason = claim.sentAt
    ? `weekly slot used by ${claim.heldBy} at ${claim.sentAt.toISOString()}`
    : `weekly slot taken (${claim.heldBy}) until ${claim.freeAt.toISOString()}`;
  switch (job.whenLimited) {
    case "drop":
      return { do: "suppress", reason };
    case "notify-only":
      return { do: "notify-only", reason };
    case "notify":
      return { do: "defer", dueAt: claim.freeAt, reason, notify: true };
    case "digest":
      return { do: "defer", dueAt: claim.freeAt, reason };
  }
}

/** What Bitrix24's answer means for a guarded attempt (weekly limit on). */
export type AnswerAction =
  /** It landed at `sentAt`: confirm the slot, record `sent`. */
  | { do: "confirm"; sentAt: Date; reason: string }
  /**
   * USER_MESSAGE_LIMIT and nothing of ours may have landed: someone else used the user's week.
   * Hold the slot until `until` and defer (or drop), or fail after too many tries. `unknown`:
   * an unanswered attempt of ours may have landed, but another sender has used this user's week
   * before, so the answer cannot say whose message it was: hold the slot, record `unknown`.
   */
  | {
      do: "limited";
      until: Date;
      tries: number;
      giveUp: boolean;
      unknown?: boolean;
      reason: string;
      code: string;
    }
  /** Rejected for good. `unknown` when an earlier attempt may have landed. */
  | {
      do: "fail";
      outcome: "failed" | "unknown";
      reason: string;
      code: string;
      configFault: boolean;
    }
  /** Did not land: give the slot back, hold the portal back if it is overloaded, retry. */
  | {
      do: "retry";
      hintMs: number;
      holdPortal: boolean;
      /** Tokens refused: a person must act, the message stays queued meanwhile. */
      configFault: boolean;
      reason: string;
      code: string;
    }
  /** Went out without an answer: keep the slot with the evidence, retry. */
  | { do: "ambiguous"; reason: string; code: string };

export function onAnswer(
  result: SendResult,
  attempt: SlotAttempt,
  now: Date,
  timings: LedgerTimings,
): AnswerAction {
  switch (result.kind) {
    case "sent":
      return { do: "confirm", sentAt: now, reason: "sent" };
    case "limited": {
      if (attempt.maybeSentAt && attempt.limitedTries > 0) {
        // Evidence of ours, but another sender was seen on this line for this user: either
        // message may have caused the answer. Honest `unknown` (it alarms), never a guess.
        return {
          do: "limited",
          until: limitedUntil(attempt, now, timings),
          tries: attempt.limitedTries + 1,
          giveUp: false,
          unknown: true,
          code: result.code,
          reason:
            "USER_MESSAGE_LIMIT after an unanswered attempt of ours, but another sender has used this user's week before: either message may have landed",
        };
      }
      if (attempt.maybeSentAt) {
        // Ours: the unanswered attempt landed, no later than when it could have.
        return {
          do: "confirm",
          sentAt: attempt.maybeSentAt,
          reason: "an earlier unanswered attempt landed (USER_MESSAGE_LIMIT on retry)",
        };
      }
      const tries = attempt.limitedTries + 1;
      const until = limitedUntil(attempt, now, timings);
      return {
        do: "limited",
        until,
        tries,
        giveUp: tries >= MAX_LIMITED_TRIES,
        code: result.code,
        reason:
          tries >= MAX_LIMITED_TRIES
            ? `Bitrix24 kept answering USER_MESSAGE_LIMIT (${tries} tries over a week)`
            : `the user had a message from this open line within Bitrix24's week (USER_MESSAGE_LIMIT, try ${tries} of ${MAX_LIMITED_TRIES})`,
      };
    }
    case "config":
      // A person must fix the configuration: keep the message, try again slowly, alarm.
      return configFaultRetry(
        result.code,
        `Bitrix24 answered ${result.code}: a configuration fault`,
      );
    case "permanent":
      return {
        do: "fail",
        outcome: attempt.maybeSentAt ? "unknown" : "failed",
        code: result.code,
        configFault: false,
        reason: attempt.maybeSentAt
          ? `Bitrix24 rejected a retry (${result.code}) after an unanswered attempt that may have landed`
          : `Bitrix24 rejected the message: ${result.code}`,
      };
    case "retry":
      return retryAfterAnswer(result, `Bitrix24 answered ${result.code}`);
    case "ambiguous":
      return {
        do: "ambiguous",
        code: result.code,
        reason: `no answer from Bitrix24 (${result.code})`,
      };
  }
}

/**
 * When to try a user again after USER_MESSAGE_LIMIT with nothing of ours in flight: at our own
 * record's free time when it is still ahead; a margin from now when our record already passed
 * (the clocks differ); else a day (a seventh of the week), since another sender's message frees
 * at a time we cannot know.
 */
export function limitedUntil(attempt: SlotAttempt, now: Date, timings: LedgerTimings): Date {
  const nowMs = now.getTime();
  const previous = attempt.previousFreeAt?.getTime();
  if (previous !== undefined) {
    return new Date(Math.max(previous, nowMs + Math.max(timings.weekMarginMs, 1000)));
  }
  return new Date(nowMs + Math.ceil(timings.weekMs / 7));
}
