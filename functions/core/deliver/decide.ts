import { portalBackoffMs } from "../backoff";
import { CONFIG_FAULT_RETRY_MS } from "../bitrix-errors";
import type { WhenLimited } from "../job";
import { type LedgerTimings, onAnswer, whenBlocked } from "../ledger";
import { onNotifyAnswer } from "../notify";
import type { FinalOutcome } from "../outcome";
import { type OperatingBudget, operatingHoldMs } from "../pacing";
import type { ClaimResult, OperatingReport, SendResult, SlotAttempt, SlotVerdict } from "../ports";

/**
 * Deliver's choices as data (docs/ledger.md): what Bitrix24 or the slot said becomes a list of
 * effects, applied in order by the executor (`effects.ts`), and what the queue message does next.
 * Every function here is pure; test/unit/deliver-decide.test.ts walks their tables on frozen time.
 * The order of the effects is part of the decision: a final outcome is written before the slot is
 * let go, so a copy that claims the slot next reads it.
 */
export type Effect =
  | { do: "count-error"; code: string; configFault: boolean }
  /** Hold every worker of the portal back (its bucket) for `forMs`. */
  | { do: "hold-portal"; forMs: number }
  /** The bucket had failed before this success: tell it the portal recovered. */
  | { do: "portal-recovered" }
  /** It landed at `sentAt`: the slot is used for the week. */
  | { do: "confirm-slot"; sentAt: Date }
  /** USER_MESSAGE_LIMIT: the slot is taken until `until` (Bitrix24's row, not ours). */
  | { do: "block-slot"; until: Date; tries: number }
  /**
   * Bitrix24 answered for good: the verdict is noted on the slot (lease renewed) before the outcome
   * is written, so a crash in between leaves no evidence of a send and a reclaim settles from it.
   */
  | { do: "note-answered"; verdict: SlotVerdict }
  /** Surely not landed: free the slot (earlier evidence stays). */
  | { do: "release-slot" }
  /** Went out without an answer: the slot keeps the evidence until the request can no longer land. */
  | { do: "mark-ambiguous"; maybeSentAt: Date }
  /** Partner portals: the in-flight marker goes (nothing landed). */
  | { do: "drop-marker" }
  /** Partner portals: this process saw the job land (for a redelivery after a failed write). */
  | { do: "note-landed" }
  | {
      do: "finish";
      outcome: FinalOutcome;
      reason: string;
      code?: string;
      digestId?: string;
      /** It reached the user as a system notification at this time (`notify-only`). */
      notifiedAt?: Date;
    }
  /** The second channel: the deferred event reached its user as a system notification. */
  | { do: "record-notified"; at: Date; reason: string }
  /** The second channel gave up; a `notify` event still waits in its digest. */
  | { do: "notify-given-up"; reason: string; code: string }
  /** The event joins its user's digest, due at `dueAt`. */
  | { do: "defer"; dueAt: Date; reason: string }
  /** A digest's events wait for `until`. */
  | { do: "reschedule"; until: Date; reason: string };

/** What the queue message does once the effects are applied. */
export type Next =
  | { to: "done" }
  /** Back on the queue with backoff from `hintMs`; past the window, the path gives up (`code`). */
  | { to: "retry"; hintMs: number; reason: string; code?: string }
  /** Another attempt holds a lease: come back once it is over, even past the window. */
  | { to: "after-lease"; afterMs: number; reason: string }
  /**
   * The user's week is taken and the route notifies: send the event now as a system
   * notification (docs/notify.md). `alsoInDigest`: `notify` (it was deferred too), not
   * `notify-only`.
   */
  | { to: "notify"; alsoInDigest: boolean };

export interface Decision {
  effects: Effect[];
  next: Next;
}

const finished: Next = { to: "done" };

/** What a guarded send (weekly limit on) knew when its answer came. */
export interface GuardedState {
  attempt: SlotAttempt;
  /** An event alone (with its route's choice when the week is taken), or a digest. */
  target: { alone: true; whenLimited: WhenLimited } | { alone: false };
  /** When the intent was recorded: the request went out no earlier. */
  sentAt: number;
  /** Failed bucket turns before this one (the portal's backoff grows with them). */
  failures: number;
  now: Date;
  timings: LedgerTimings & { requestLandsWithinMs: number; maxBackoffMs: number };
}

/** A guarded send's answer: the slot, the outcomes and the portal, in the order they are written. */
export function decideGuarded(state: GuardedState, result: SendResult): Decision {
  const { attempt, now, timings } = state;
  const action = onAnswer(result, attempt, now, timings);
  switch (action.do) {
    case "confirm":
      return {
        effects: [
          // A lone send with nothing on the slot to clear keeps its intent as the week's record:
          // it holds the slot until a week after the lease (docs/ledger.md, "Writes per message").
          ...(keepsIntent(state) ? [] : [{ do: "confirm-slot", sentAt: action.sentAt } as const]),
          { do: "finish", outcome: "sent", reason: action.reason },
          ...(state.failures > 0 ? [{ do: "portal-recovered" } as const] : []),
        ],
        next: finished,
      };
    case "limited": {
      const whenLimited = state.target.alone ? state.target.whenLimited : undefined;
      const settled = action.unknown || action.giveUp || whenLimited === undefined;
      const settle: Effect[] = action.unknown
        ? [{ do: "finish", outcome: "unknown", reason: action.reason, code: action.code }]
        : action.giveUp
          ? [{ do: "finish", outcome: "failed", reason: action.reason, code: action.code }]
          : whenLimited === undefined
            ? [{ do: "reschedule", until: action.until, reason: action.reason }]
            : whenLimited === "drop"
              ? [{ do: "finish", outcome: "suppressed", reason: action.reason, code: action.code }]
              : whenLimited === "notify-only"
                ? []
                : [{ do: "defer", dueAt: action.until, reason: action.reason }];
      // Another sender used the user's week: a notifying route sends the second channel now.
      const notifies = !settled && (whenLimited === "notify" || whenLimited === "notify-only");
      return {
        effects: [
          { do: "count-error", code: action.code, configFault: false },
          { do: "block-slot", until: action.until, tries: action.giveUp ? 0 : action.tries },
          ...settle,
        ],
        next: notifies ? { to: "notify", alsoInDigest: whenLimited === "notify" } : finished,
      };
    }
    case "fail":
      return {
        effects: [
          { do: "count-error", code: action.code, configFault: action.configFault },
          {
            do: "note-answered",
            verdict: { outcome: action.outcome, reason: action.reason, code: action.code },
          },
          { do: "finish", outcome: action.outcome, reason: action.reason, code: action.code },
          { do: "release-slot" },
        ],
        next: finished,
      };
    case "retry":
      return {
        effects: [
          { do: "count-error", code: action.code, configFault: action.configFault },
          ...(action.holdPortal
            ? [{ do: "hold-portal", forMs: holdFor(action.hintMs, state) } as const]
            : []),
          { do: "release-slot" },
        ],
        next: { to: "retry", hintMs: action.hintMs, reason: action.reason, code: action.code },
      };
    case "ambiguous": {
      // Safe to retry: if it landed, Bitrix24 answers USER_MESSAGE_LIMIT and the slot knows why.
      // The request may still land until Bitrix24 gives up on it; the lease covers that time.
      const leaseUntil = attempt.leaseUntil.getTime();
      const mayLandUntil = Math.min(leaseUntil, state.sentAt + timings.requestLandsWithinMs);
      return {
        effects: [
          { do: "count-error", code: action.code, configFault: false },
          { do: "mark-ambiguous", maybeSentAt: new Date(mayLandUntil) },
        ],
        next: {
          to: "retry",
          hintMs: leaseUntil - now.getTime(),
          reason: action.reason,
          code: action.code,
        },
      };
    }
  }
}

/**
 * A send that landed needs no confirm write when it was an event alone on a clean attempt: no
 * earlier unanswered attempt (`maybeSentAt`, whose inferred time the confirm records) and no
 * USER_MESSAGE_LIMIT counted since the user's last send (`limitedTries`, which the confirm
 * resets). Its intent already holds the slot until a week after its lease, and its outcome says
 * `sent`. A digest always confirms: copies of the events it carried settle from the slot.
 */
const keepsIntent = (state: GuardedState): boolean =>
  state.target.alone && !state.attempt.maybeSentAt && state.attempt.limitedTries === 0;

/** What a batch knew when its answer came (docs/ledger.md, "Batch delivery"). */
export interface BatchState {
  /** Each message's guarded send, in command order. */
  messages: readonly GuardedState[];
  /** The operating figures the answer reported, if it did. */
  operating: OperatingReport | undefined;
  budget: OperatingBudget;
  /** What one more full request may add to the window (seconds): slow down before that. */
  headroomSeconds: number;
  now: Date;
}

/** A batch's answer: what is written once for the request, then each message's own decision. */
export interface BatchDecision {
  /** The portal's bucket: held back (at most once, for the longest hold), or recovered. */
  portal: Effect[];
  each: Decision[];
}

/**
 * A batch's answer: each command's answer is its message's, decided as a lone send's would be
 * (a USER_MESSAGE_LIMIT for one user touches no other message); an answer for the whole request
 * was given to every command by the client, so a batch with no answer is ambiguous for each. What
 * concerns the portal is lifted out and written once: the longest hold, else one recovery. When
 * the answer shows the operating window nearly spent, every worker is held until it resets.
 */
export function decideBatch(state: BatchState, results: readonly SendResult[]): BatchDecision {
  const decided = state.messages.map((message, index) =>
    decideGuarded(message, results[index] ?? { kind: "ambiguous", code: "NO_COMMAND_ANSWER" }),
  );
  const isPortal = (effect: Effect) =>
    effect.do === "hold-portal" || effect.do === "portal-recovered";
  const lifted = decided.flatMap((decision) => decision.effects.filter(isPortal));
  const operatingHold = operatingHoldMs(
    state.operating,
    state.budget,
    state.headroomSeconds,
    state.now.getTime(),
  );
  const holds = [
    ...lifted.flatMap((effect) => (effect.do === "hold-portal" ? [effect.forMs] : [])),
    ...(operatingHold === undefined ? [] : [operatingHold]),
  ];
  const portal: Effect[] =
    holds.length > 0
      ? [{ do: "hold-portal", forMs: Math.max(...holds) }]
      : lifted.some((effect) => effect.do === "portal-recovered")
        ? [{ do: "portal-recovered" }]
        : [];
  return {
    portal,
    each: decided.map((decision) => ({
      ...decision,
      effects: decision.effects.filter((effect) => !isPortal(effect)),
    })),
  };
}

/** An event whose claim did not give it the slot. */
export function decideBlocked(
  claim: Exclude<ClaimResult, { status: "claimed" }>,
  job: { jobId: string; whenLimited: WhenLimited },
  now: Date,
): Decision {
  const action = whenBlocked(claim, job, now);
  switch (action.do) {
    case "retry":
      return {
        effects: [],
        next: { to: "after-lease", afterMs: action.afterMs, reason: action.reason },
      };
    case "sent":
      return {
        effects: [
          {
            do: "finish",
            outcome: "sent",
            reason: action.reason,
            ...(action.digestId && { digestId: action.digestId }),
          },
        ],
        next: finished,
      };
    case "wait":
      return { effects: [], next: finished };
    case "suppress":
      return {
        effects: [{ do: "finish", outcome: "suppressed", reason: action.reason }],
        next: finished,
      };
    case "defer":
      return {
        effects: [{ do: "defer", dueAt: action.dueAt, reason: action.reason }],
        // The digest is the event's way to its user; the notification is the quick one.
        next: action.notify ? { to: "notify", alsoInDigest: true } : finished,
      };
    case "notify-only":
      return { effects: [], next: { to: "notify", alsoInDigest: false } };
  }
}

/** What the second channel knew when Bitrix24 answered `im.notify.system.add`. */
export interface NotifyState {
  /** `notify`: the event waits in its digest too; `notify-only`: the notification is all. */
  alsoInDigest: boolean;
  failures: number;
  now: Date;
  timings: { maxBackoffMs: number };
}

/**
 * The notification's answer (docs/notify.md). With `notify` the event is already in its digest,
 * which settles its final outcome: the notification only adds `notified`, or gives up quietly.
 * With `notify-only` the notification is the delivery: `sent`, or `failed`.
 */
export function decideNotify(state: NotifyState, result: SendResult): Decision {
  const action = onNotifyAnswer(result);
  const recovered = state.failures > 0 ? [{ do: "portal-recovered" } as const] : [];
  switch (action.do) {
    case "notified":
      return {
        effects: [
          state.alsoInDigest
            ? { do: "record-notified", at: state.now, reason: action.reason }
            : {
                do: "finish",
                outcome: "sent",
                reason: "sent as a system notification (notify-only)",
                notifiedAt: state.now,
              },
          ...recovered,
        ],
        next: finished,
      };
    case "retry":
      return {
        effects: [
          { do: "count-error", code: action.code, configFault: action.configFault },
          ...(action.holdPortal
            ? [{ do: "hold-portal", forMs: holdFor(action.hintMs, state) } as const]
            : []),
        ],
        next: { to: "retry", hintMs: action.hintMs, reason: action.reason, code: action.code },
      };
    case "rejected":
      return {
        effects: [
          { do: "count-error", code: action.code, configFault: false },
          state.alsoInDigest
            ? { do: "notify-given-up", reason: action.reason, code: action.code }
            : { do: "finish", outcome: "failed", reason: action.reason, code: action.code },
        ],
        next: finished,
      };
  }
}

/**
 * A partner portal's answer (no weekly limit). Nothing there tells a resend from a first send, so
 * an unanswered request is `unknown` at once, and only an answer that surely did not land drops
 * the in-flight marker for a retry.
 */
export function decidePartner(
  result: SendResult,
  state: { failures: number; timings: { maxBackoffMs: number } },
): Decision {
  switch (result.kind) {
    case "sent":
      return {
        effects: [
          { do: "note-landed" },
          { do: "finish", outcome: "sent", reason: "sent" },
          ...(state.failures > 0 ? [{ do: "portal-recovered" } as const] : []),
        ],
        next: finished,
      };
    case "config":
    case "retry": {
      const configFault = result.kind === "config" || result.configFault === true;
      const hintMs = result.kind === "config" ? CONFIG_FAULT_RETRY_MS : result.retryAfterMs;
      return {
        effects: [
          { do: "count-error", code: result.code, configFault },
          ...(result.kind === "retry"
            ? [{ do: "hold-portal", forMs: holdFor(hintMs, state) } as const]
            : []),
          { do: "drop-marker" },
        ],
        next: {
          to: "retry",
          hintMs,
          reason: `Bitrix24 answered ${result.code}`,
          code: result.code,
        },
      };
    }
    case "ambiguous":
      return {
        effects: [
          { do: "count-error", code: result.code, configFault: false },
          {
            do: "finish",
            outcome: "unknown",
            reason: `no answer from Bitrix24 (${result.code}); may or may not have been sent`,
            code: result.code,
          },
        ],
        next: finished,
      };
    default:
      return {
        effects: [
          { do: "count-error", code: result.code, configFault: false },
          {
            do: "finish",
            outcome: "failed",
            reason: `Bitrix24 rejected the message: ${result.code}`,
            code: result.code,
          },
        ],
        next: finished,
      };
  }
}

/** How long a struggling portal holds every worker back: the hint, growing with failed turns. */
const holdFor = (hintMs: number, state: { failures: number; timings: { maxBackoffMs: number } }) =>
  portalBackoffMs(hintMs, state.failures, state.timings.maxBackoffMs);
