import { describe, expect, it } from "vitest";
import {
  type AnswerAction,
  limitedUntil,
  MAX_LIMITED_TRIES,
  onAnswer,
  whenBlocked,
} from "../../functions/core/ledger";
import type { SendResult, SlotAttempt } from "../../functions/core/ports";
import { at, DAY, NOW, SECOND, slotAttempt } from "./fixtures/ledger-time";

const timings = { weekMs: 7 * DAY, weekMarginMs: 300 * SECOND };

const attempt = slotAttempt;

const job = { jobId: "job-1", whenLimited: "digest" as const };

describe("whenBlocked: an event whose claim did not give it the slot", () => {
  it.each([
    [
      "another copy of the same job holds a live lease",
      { status: "busy", heldBy: "job-1", leaseUntil: at(30 * SECOND) },
      job,
      { do: "retry", afterMs: 30 * SECOND },
    ],
    [
      "another job is sending to this user right now",
      { status: "busy", heldBy: "job-2", leaseUntil: at(30 * SECOND) },
      job,
      { do: "defer", dueAt: at(30 * SECOND) },
    ],
    [
      "another job is sending, and the route drops instead of deferring",
      { status: "busy", heldBy: "job-2", leaseUntil: at(30 * SECOND) },
      { ...job, whenLimited: "drop" },
      { do: "retry", afterMs: 30 * SECOND },
    ],
    [
      "this job itself used the week",
      { status: "taken", heldBy: "job-1", freeAt: at(DAY), sentAt: at(-DAY) },
      job,
      { do: "sent" },
    ],
    [
      "a confirmed digest carried this job",
      {
        status: "taken",
        heldBy: "digest",
        freeAt: at(DAY),
        sentAt: at(-DAY),
        digest: { id: "d-1", jobIds: ["job-0", "job-1"] },
      },
      job,
      { do: "sent", digestId: "d-1" },
    ],
    [
      "an unconfirmed digest carries this job",
      {
        status: "taken",
        heldBy: "digest",
        freeAt: at(8 * DAY),
        digest: { id: "d-1", jobIds: ["job-1"] },
      },
      job,
      { do: "wait" },
    ],
    [
      "another message used the week",
      { status: "taken", heldBy: "job-9", freeAt: at(3 * DAY), sentAt: at(-4 * DAY) },
      job,
      { do: "defer", dueAt: at(3 * DAY) },
    ],
    [
      "another message used the week, and the route drops",
      { status: "taken", heldBy: "job-9", freeAt: at(3 * DAY), sentAt: at(-4 * DAY) },
      { ...job, whenLimited: "drop" },
      { do: "suppress" },
    ],
  ] as const)("%s", (_name, claim, blockedJob, expected) => {
    expect(whenBlocked(claim, blockedJob, NOW)).toMatchObject(expected);
  });
});

describe("onAnswer: what Bitrix24's answer means for the attempt", () => {
  const cases: [string, SendResult, Partial<SlotAttempt>, Partial<AnswerAction>][] = [
    ["sent", { kind: "sent" }, {}, { do: "confirm", sentAt: NOW }],
    [
      "USER_MESSAGE_LIMIT after our unanswered attempt: that attempt landed",
      { kind: "limited", code: "USER_MESSAGE_LIMIT" },
      { maybeSentAt: at(-60 * SECOND) },
      { do: "confirm", sentAt: at(-60 * SECOND) },
    ],
    [
      "USER_MESSAGE_LIMIT with nothing of ours: someone else's message, try again in a day",
      { kind: "limited", code: "USER_MESSAGE_LIMIT" },
      {},
      { do: "limited", until: at(DAY), tries: 1, giveUp: false },
    ],
    [
      "USER_MESSAGE_LIMIT for the eighth time: give up",
      { kind: "limited", code: "USER_MESSAGE_LIMIT" },
      { limitedTries: MAX_LIMITED_TRIES - 1 },
      { do: "limited", tries: MAX_LIMITED_TRIES, giveUp: true },
    ],
    [
      "a configuration fault: keep the message, retry slowly, alarm",
      { kind: "config", code: "CODE_ERROR", status: 400 },
      {},
      { do: "retry", hintMs: 900_000, holdPortal: false, configFault: true },
    ],
    [
      "USER_MESSAGE_LIMIT after an unanswered attempt, another sender seen: unknown",
      { kind: "limited", code: "USER_MESSAGE_LIMIT" },
      { maybeSentAt: at(-SECOND), limitedTries: 1 },
      { do: "limited", tries: 2, giveUp: false, unknown: true },
    ],
    [
      "a permanent rejection after an unanswered attempt: it may have landed",
      { kind: "permanent", code: "WRONG_REQUEST", status: 400 },
      { maybeSentAt: at(-SECOND) },
      { do: "fail", outcome: "unknown", configFault: false },
    ],
    [
      "503: retry and hold the portal back",
      {
        kind: "retry",
        code: "QUERY_LIMIT_EXCEEDED",
        status: 503,
        retryAfterMs: 1500,
        overloaded: true,
      },
      {},
      { do: "retry", hintMs: 1500, holdPortal: true },
    ],
    [
      "a plain 500 holds the portal back too",
      { kind: "retry", code: "HTTP_500", status: 500, retryAfterMs: 1000, overloaded: false },
      {},
      { do: "retry", holdPortal: true },
    ],
    ["a timeout", { kind: "ambiguous", code: "TIMEOUT" }, {}, { do: "ambiguous" }],
  ];
  it.each(cases)("%s", (_name, result, over, expected) => {
    expect(onAnswer(result, attempt(over), NOW, timings)).toMatchObject(expected);
  });
});

describe("limitedUntil", () => {
  it("waits for our own record's free time while it is ahead", () => {
    expect(limitedUntil(attempt({ previousFreeAt: at(2 * DAY) }), NOW, timings)).toEqual(
      at(2 * DAY),
    );
  });

  it("waits a margin when our record already passed (the clocks differ), not another week", () => {
    expect(limitedUntil(attempt({ previousFreeAt: at(-SECOND) }), NOW, timings)).toEqual(
      at(timings.weekMarginMs),
    );
  });

  it("tries again a seventh of the week later when another sender used the slot", () => {
    expect(limitedUntil(attempt(), NOW, { ...timings, weekMs: 70 * SECOND })).toEqual(
      at(10 * SECOND),
    );
  });
});
