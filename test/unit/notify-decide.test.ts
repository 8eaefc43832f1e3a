import { describe, expect, it } from "vitest";
import { portalBackoffMs } from "../../functions/core/backoff";
import {
  type Decision,
  decideBlocked,
  decideGuarded,
  decideNotify,
  type GuardedState,
} from "../../functions/core/deliver/decide";
import type { WhenLimited } from "../../functions/core/job";
import type { ClaimResult, SendResult, SlotAttempt } from "../../functions/core/ports";
import { answers } from "../support/bitrix-answers";

/**
 * The second channel's choices as data (docs/notify.md), on frozen time: when a route that
 * notifies finds the user's week taken, and what each answer of im.notify.system.add means.
 */

const NOW = new Date("2030-03-04T10:00:00.000Z");
const SECOND = 1000;
const DAY = 86_400 * SECOND;
const at = (ms: number) => new Date(NOW.getTime() + ms);
const timings = {
  weekMs: 7 * DAY,
  weekMarginMs: 300 * SECOND,
  requestLandsWithinMs: 30 * SECOND,
  maxBackoffMs: 60 * SECOND,
};

const taken: Exclude<ClaimResult, { status: "claimed" }> = {
  status: "taken",
  heldBy: "other-job",
  freeAt: at(5 * DAY),
  sentAt: at(-2 * DAY),
};
const busy: Exclude<ClaimResult, { status: "claimed" }> = {
  status: "busy",
  heldBy: "other-job",
  leaseUntil: at(90 * SECOND),
};

describe("an event whose claim finds the week taken", () => {
  const reason = `weekly slot used by other-job at ${at(-2 * DAY).toISOString()}`;
  it.each<[WhenLimited, Decision]>([
    ["digest", { effects: [{ do: "defer", dueAt: at(5 * DAY), reason }], next: { to: "done" } }],
    [
      "notify",
      {
        effects: [{ do: "defer", dueAt: at(5 * DAY), reason }],
        next: { to: "notify", alsoInDigest: true },
      },
    ],
    ["notify-only", { effects: [], next: { to: "notify", alsoInDigest: false } }],
    ["drop", { effects: [{ do: "finish", outcome: "suppressed", reason }], next: { to: "done" } }],
  ])("whenLimited %s", (whenLimited, decision) => {
    expect(decideBlocked(taken, { jobId: "job-1", whenLimited }, NOW)).toEqual(decision);
  });

  it.each<WhenLimited>(["notify", "notify-only"])(
    "whenLimited %s waits out a send in flight before it notifies: that send may not land",
    (whenLimited) => {
      expect(decideBlocked(busy, { jobId: "job-1", whenLimited }, NOW)).toEqual({
        effects: [],
        next: {
          to: "after-lease",
          afterMs: 90 * SECOND,
          reason: "weekly slot held by a send in flight",
        },
      });
    },
  );

  it("a notify event already carried by a digest that landed is sent, and notifies nothing", () => {
    const carried = { ...taken, digest: { id: "d-1", jobIds: ["job-1"] } };
    expect(decideBlocked(carried, { jobId: "job-1", whenLimited: "notify" }, NOW).next).toEqual({
      to: "done",
    });
  });
});

describe("USER_MESSAGE_LIMIT for an event sent alone (another sender used the week)", () => {
  const attempt: SlotAttempt = {
    key: { portal: "p", openLineCode: "0123456789abcdef0123456789abcdef", userId: 7 },
    holder: { jobId: "job-1" },
    token: "t",
    leaseUntil: at(120 * SECOND),
    limitedTries: 0,
  };
  const state = (whenLimited: WhenLimited, over: Partial<GuardedState> = {}): GuardedState => ({
    attempt,
    target: { alone: true, whenLimited },
    sentAt: NOW.getTime() - 2 * SECOND,
    failures: 0,
    now: NOW,
    timings,
    ...over,
  });
  const limited: SendResult = { kind: "limited", code: "USER_MESSAGE_LIMIT" };

  it("notify: blocks the slot, defers, then notifies", () => {
    const decision = decideGuarded(state("notify"), limited);
    expect(decision.effects.map((effect) => effect.do)).toEqual([
      "count-error",
      "block-slot",
      "defer",
    ]);
    expect(decision.next).toEqual({ to: "notify", alsoInDigest: true });
  });

  it("notify-only: blocks the slot and notifies, no digest", () => {
    const decision = decideGuarded(state("notify-only"), limited);
    expect(decision.effects.map((effect) => effect.do)).toEqual(["count-error", "block-slot"]);
    expect(decision.next).toEqual({ to: "notify", alsoInDigest: false });
  });

  it("an unanswered attempt of ours may have landed: unknown, and no notification", () => {
    const evidence = { ...attempt, maybeSentAt: at(-SECOND), limitedTries: 1 };
    const decision = decideGuarded(state("notify", { attempt: evidence }), limited);
    expect(decision.effects).toContainEqual(expect.objectContaining({ outcome: "unknown" }));
    expect(decision.next).toEqual({ to: "done" });
  });
});

describe("im.notify.system.add's answer", () => {
  const notify = (alsoInDigest: boolean, result: SendResult, failures = 0) =>
    decideNotify({ alsoInDigest, failures, now: NOW, timings }, result);

  it("notify: a landed notification is recorded notified (the digest settles the outcome)", () => {
    expect(notify(true, { kind: "sent" })).toEqual({
      effects: [{ do: "record-notified", at: NOW, reason: "notified (system notification)" }],
      next: { to: "done" },
    });
  });

  it("notify-only: a landed notification is the delivery, sent, with when it was notified", () => {
    expect(notify(false, { kind: "sent" }, 2)).toEqual({
      effects: [
        {
          do: "finish",
          outcome: "sent",
          reason: "sent as a system notification (notify-only)",
          notifiedAt: NOW,
        },
        { do: "portal-recovered" },
      ],
      next: { to: "done" },
    });
  });

  it("a missing scope is a configuration fault that names the scope: alarm, keep it queued", () => {
    const decision = notify(true, { kind: "config", code: "insufficient_scope", status: 403 });
    expect(decision.effects).toEqual([
      { do: "count-error", code: "insufficient_scope", configFault: true },
    ]);
    expect(decision.next).toMatchObject({ to: "retry", hintMs: 900_000 });
    expect(decision.next.to === "retry" && decision.next.reason).toContain("needs the im scope");
  });

  it("no answer: tried again at once, since the same TAG replaces rather than duplicates", () => {
    const decision = notify(false, { kind: "ambiguous", code: "TIMEOUT" });
    expect(decision.effects).toEqual([{ do: "count-error", code: "TIMEOUT", configFault: false }]);
    expect(decision.next).toMatchObject({ to: "retry", hintMs: 0, code: "TIMEOUT" });
    expect(decision.next.to === "retry" && decision.next.reason).toContain("same TAG");
  });

  it("an overloaded portal holds every worker back: the notification shares the bucket", () => {
    expect(notify(true, answers.overloaded, 1).effects).toEqual([
      { do: "count-error", code: "QUERY_LIMIT_EXCEEDED", configFault: false },
      { do: "hold-portal", forMs: portalBackoffMs(1500, 1, timings.maxBackoffMs) },
    ]);
  });

  it.each<[boolean, string]>([
    [true, "notify-given-up"],
    [false, "finish"],
  ])("a rejection (alsoInDigest %s) ends the notification: %s", (alsoInDigest, effect) => {
    const decision = notify(alsoInDigest, { kind: "permanent", code: "ATTACH_ERROR", status: 400 });
    expect(decision.effects.map((e) => e.do)).toEqual(["count-error", effect]);
    if (!alsoInDigest) expect(decision.effects[1]).toMatchObject({ outcome: "failed" });
    expect(decision.next).toEqual({ to: "done" });
  });
});
