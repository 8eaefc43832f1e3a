import { describe, expect, it } from "vitest";
import {
  type BatchState,
  type Decision,
  decideBatch,
  decideBlocked,
  decideGuarded,
  decidePartner,
  type GuardedState,
} from "../../functions/core/deliver/decide";
import { MAX_LIMITED_TRIES } from "../../functions/core/ledger";
import { OPERATING_SHARE, turnCost } from "../../functions/core/pacing";
import type { SendResult } from "../../functions/core/ports";
import { answers } from "../support/bitrix-answers";
import { at, DAY, NOW, SECOND, slotAttempt } from "./fixtures/ledger-time";

/**
 * Deliver's choices as data (functions/core/deliver/decide.ts), on frozen time: for each state and
 * answer, the effects in the order they are written, and what the queue message does next.
 */

const timings = {
  weekMs: 7 * DAY,
  weekMarginMs: 300 * SECOND,
  requestLandsWithinMs: 30 * SECOND,
  maxBackoffMs: 60 * SECOND,
};

const attempt = slotAttempt;

const alone = { alone: true, whenLimited: "digest" } as const;
const state = (over: Partial<GuardedState> = {}): GuardedState => ({
  attempt: attempt(),
  target: alone,
  sentAt: NOW.getTime() - 2 * SECOND,
  failures: 0,
  now: NOW,
  timings,
  ...over,
});

const { sent, limited, overloaded } = answers;
const wrongRequest: SendResult = { kind: "permanent", code: "WRONG_REQUEST", status: 400 };
const wrongCode: SendResult = { kind: "config", code: "CODE", status: 400 };
const aborted: SendResult = {
  kind: "retry",
  code: "ABORTED",
  status: 0,
  retryAfterMs: 0,
  overloaded: false,
} as SendResult;
const timeout: SendResult = { kind: "ambiguous", code: "TIMEOUT" };

/** The effects' kinds in order, and the next step's kind: the shape of a decision. */
const shape = (decision: Decision) => [decision.effects.map((e) => e.do), decision.next.to];

describe("decideGuarded: a guarded send's answer (weekly limit on)", () => {
  it.each<[string, GuardedState, SendResult, ReturnType<typeof shape>]>([
    // A clean lone send: its intent holds the week, its outcome says sent; no confirm write.
    ["sent", state(), sent, [["finish"], "done"]],
    [
      "sent after a USER_MESSAGE_LIMIT counted since the user's last send: the confirm resets it",
      state({ attempt: attempt({ limitedTries: 1 }) }),
      sent,
      [["confirm-slot", "finish"], "done"],
    ],
    [
      "sent, a digest: confirmed, so copies of the events it carried settle from the slot",
      state({ target: { alone: false } }),
      sent,
      [["confirm-slot", "finish"], "done"],
    ],
    [
      "sent after failed bucket turns",
      state({ failures: 2 }),
      sent,
      [["finish", "portal-recovered"], "done"],
    ],
    [
      "USER_MESSAGE_LIMIT, nothing of ours in flight: another sender's week; the event defers",
      state(),
      limited,
      [["count-error", "block-slot", "defer"], "done"],
    ],
    [
      "USER_MESSAGE_LIMIT on a route that drops",
      state({ target: { alone: true, whenLimited: "drop" } }),
      limited,
      [["count-error", "block-slot", "finish"], "done"],
    ],
    [
      "USER_MESSAGE_LIMIT for a digest: its events wait",
      state({ target: { alone: false } }),
      limited,
      [["count-error", "block-slot", "reschedule"], "done"],
    ],
    [
      "USER_MESSAGE_LIMIT after an unanswered attempt of ours: it landed",
      state({ attempt: attempt({ maybeSentAt: at(-60 * SECOND) }) }),
      limited,
      [["confirm-slot", "finish"], "done"],
    ],
    [
      "USER_MESSAGE_LIMIT after our unanswered attempt on a line another sender used: unknown",
      state({ attempt: attempt({ maybeSentAt: at(-60 * SECOND), limitedTries: 1 }) }),
      limited,
      [["count-error", "block-slot", "finish"], "done"],
    ],
    [
      "a permanent rejection: the answer is noted, the outcome written, then the slot let go",
      state(),
      wrongRequest,
      [["count-error", "note-answered", "finish", "release-slot"], "done"],
    ],
    [
      "a configuration fault: the message stays queued, the portal is not held",
      state(),
      wrongCode,
      [["count-error", "release-slot"], "retry"],
    ],
    [
      "an overloaded portal: every worker holds back",
      state(),
      overloaded,
      [["count-error", "hold-portal", "release-slot"], "retry"],
    ],
    [
      "a request aborted before it went out: not the portal's fault",
      state(),
      aborted,
      [["count-error", "release-slot"], "retry"],
    ],
    [
      "no answer: the slot keeps the evidence",
      state(),
      timeout,
      [["count-error", "mark-ambiguous"], "retry"],
    ],
  ])("%s", (_name, given, answer, expected) => {
    expect(shape(decideGuarded(given, answer))).toEqual(expected);
  });

  it("the outcomes it writes", () => {
    const finishOf = (decision: Decision) => decision.effects.find((e) => e.do === "finish");
    expect(finishOf(decideGuarded(state(), sent))).toMatchObject({ outcome: "sent" });
    expect(finishOf(decideGuarded(state(), wrongRequest))).toMatchObject({
      outcome: "failed",
      code: "WRONG_REQUEST",
    });
    expect(
      finishOf(
        decideGuarded(state({ attempt: attempt({ maybeSentAt: at(-60 * SECOND) }) }), wrongRequest),
      ),
    ).toMatchObject({ outcome: "unknown" });
    expect(
      finishOf(decideGuarded(state({ target: { alone: true, whenLimited: "drop" } }), limited)),
    ).toMatchObject({ outcome: "suppressed" });
    const tooMany = state({ attempt: attempt({ limitedTries: MAX_LIMITED_TRIES - 1 }) });
    expect(finishOf(decideGuarded(tooMany, limited))).toMatchObject({ outcome: "failed" });
    expect(decideGuarded(tooMany, limited).effects[1]).toEqual({
      do: "block-slot",
      until: expect.any(Date),
      tries: 0,
    });
  });

  it("an ambiguous answer may land until Bitrix24's request limit, never past the lease, and comes back when the lease ends", () => {
    const decision = decideGuarded(state(), timeout);
    expect(decision.effects[1]).toEqual({
      do: "mark-ambiguous",
      maybeSentAt: new Date(NOW.getTime() - 2 * SECOND + 30 * SECOND),
    });
    expect(decision.next).toMatchObject({ to: "retry", hintMs: 120 * SECOND, code: "TIMEOUT" });
    const shortLease = decideGuarded(
      state({ attempt: attempt({ leaseUntil: at(10 * SECOND) }) }),
      timeout,
    );
    expect(shortLease.effects[1]).toEqual({ do: "mark-ambiguous", maybeSentAt: at(10 * SECOND) });
  });

  it("an overloaded portal is held for the hint, growing with failed turns up to the cap", () => {
    const holdOf = (failures: number) =>
      decideGuarded(state({ failures }), overloaded).effects.find((e) => e.do === "hold-portal");
    const first = holdOf(0);
    const later = holdOf(6);
    expect(first).toMatchObject({ do: "hold-portal" });
    if (first?.do !== "hold-portal" || later?.do !== "hold-portal") throw new Error("no hold");
    expect(first.forMs).toBeGreaterThanOrEqual(1500);
    expect(later.forMs).toBeGreaterThan(first.forMs);
    expect(later.forMs).toBeLessThanOrEqual(timings.maxBackoffMs);
  });
});

describe("decideBlocked: an event whose claim did not give it the slot", () => {
  const job = { jobId: "job-1", whenLimited: "digest" as const };
  it.each<[string, Parameters<typeof decideBlocked>[0], ReturnType<typeof shape>]>([
    [
      "another copy of the same job holds the lease",
      { status: "busy", heldBy: "job-1", leaseUntil: at(30 * SECOND) },
      [[], "after-lease"],
    ],
    [
      "another job is in flight: join the digest",
      { status: "busy", heldBy: "job-2", leaseUntil: at(30 * SECOND) },
      [["defer"], "done"],
    ],
    [
      "this job used the week already",
      { status: "taken", heldBy: "job-1", freeAt: at(DAY), sentAt: at(-DAY) },
      [["finish"], "done"],
    ],
    [
      "a digest carrying it is not settled yet",
      {
        status: "taken",
        heldBy: "digest",
        freeAt: at(DAY),
        digest: { id: "d-1", jobIds: ["job-1"] },
      },
      [[], "done"],
    ],
  ])("%s", (_name, claim, expected) => {
    expect(shape(decideBlocked(claim, job, NOW))).toEqual(expected);
  });

  it("a job sent in a confirmed digest is finished sent with that digest's id", () => {
    const decision = decideBlocked(
      {
        status: "taken",
        heldBy: "digest",
        freeAt: at(DAY),
        sentAt: at(-DAY),
        digest: { id: "d-1", jobIds: ["job-1"] },
      },
      job,
      NOW,
    );
    expect(decision.effects).toEqual([
      { do: "finish", outcome: "sent", reason: expect.any(String), digestId: "d-1" },
    ]);
  });
});

describe("decidePartner: a partner portal's answer (no weekly limit)", () => {
  it.each<[string, SendResult, ReturnType<typeof shape>, string | undefined]>([
    ["sent", sent, [["note-landed", "finish"], "done"], "sent"],
    ["no answer: unknown at once", timeout, [["count-error", "finish"], "done"], "unknown"],
    ["rejected", wrongRequest, [["count-error", "finish"], "done"], "failed"],
    ["a configuration fault", wrongCode, [["count-error", "drop-marker"], "retry"], undefined],
    [
      "an overloaded portal",
      overloaded,
      [["count-error", "hold-portal", "drop-marker"], "retry"],
      undefined,
    ],
  ])("%s", (_name, answer, expected, outcome) => {
    const decision = decidePartner(answer, { failures: 0, timings });
    expect(shape(decision)).toEqual(expected);
    const finish = decision.effects.find((e) => e.do === "finish");
    expect(finish && "outcome" in finish ? finish.outcome : undefined).toBe(outcome);
  });
});

describe("decideBatch: a batch's answer, command by command", () => {
  const budget = { operatingSeconds: 480, operatingWindowSeconds: 600 };
  const batch = (over: Partial<BatchState> = {}): BatchState => ({
    messages: [state(), state(), state()],
    operating: undefined,
    budget,
    headroomSeconds: 2.5,
    now: NOW,
    ...over,
  });
  const report = (operatingSeconds: number) => ({
    operatingSeconds,
    resetAtMs: NOW.getTime() + 42 * SECOND,
    at: NOW.getTime(),
  });
  const portalAndEach = (decision: ReturnType<typeof decideBatch>) => [
    decision.portal,
    decision.each.map(shape),
  ];

  it.each<[string, BatchState, SendResult[], ReturnType<typeof portalAndEach>]>([
    [
      "one user's USER_MESSAGE_LIMIT fails no other message",
      batch(),
      [sent, limited, sent],
      [
        [],
        [
          [["finish"], "done"],
          [["count-error", "block-slot", "defer"], "done"],
          [["finish"], "done"],
        ],
      ],
    ],
    [
      "no answer for the batch: each message keeps its own evidence",
      batch({ messages: [state(), state()] }),
      [timeout, timeout],
      [
        [],
        [
          [["count-error", "mark-ambiguous"], "retry"],
          [["count-error", "mark-ambiguous"], "retry"],
        ],
      ],
    ],
    [
      "an overloaded portal is held back once for the request, not once per message",
      batch({ messages: [state(), state()] }),
      [overloaded, overloaded],
      [
        [{ do: "hold-portal", forMs: 1500 }],
        [
          [["count-error", "release-slot"], "retry"],
          [["count-error", "release-slot"], "retry"],
        ],
      ],
    ],
    [
      "a success after failed turns recovers the portal once",
      batch({ messages: [state({ failures: 2 }), state({ failures: 2 })] }),
      [sent, sent],
      [
        [{ do: "portal-recovered" }],
        [
          [["finish"], "done"],
          [["finish"], "done"],
        ],
      ],
    ],
    [
      "a command missing from the answer may have landed",
      batch({ messages: [state(), state()] }),
      [sent],
      [
        [],
        [
          [["finish"], "done"],
          [["count-error", "mark-ambiguous"], "retry"],
        ],
      ],
    ],
    [
      "the operating window nearly spent: every worker waits until it resets (before a 429)",
      batch({ messages: [state()], operating: report(478) }),
      [sent],
      [[{ do: "hold-portal", forMs: 42 * SECOND }], [[["finish"], "done"]]],
    ],
    [
      "the operating window with room for one more full request: go on",
      batch({ messages: [state()], operating: report(477) }),
      [sent],
      [[], [[["finish"], "done"]]],
    ],
    [
      "an operating report whose window has reset already holds nothing",
      batch({
        messages: [state()],
        operating: { operatingSeconds: 479, resetAtMs: NOW.getTime(), at: NOW.getTime() - 1 },
      }),
      [sent],
      [[], [[["finish"], "done"]]],
    ],
  ])("%s", (_name, given, answers, expected) => {
    expect(portalAndEach(decideBatch(given, answers))).toEqual(expected);
  });
});

describe("turnCost: a request booked by the bucket and the operating budget", () => {
  const budget = { operatingSeconds: 480, operatingWindowSeconds: 600 };
  it.each([
    ["a lone message: one token of the bucket", 1, 50, 1],
    ["a batch of 7 still one token (0.35 s of operating time)", 7, 50, 1],
    [
      "a full batch of 50 ms commands: its operating time at the safe share",
      50,
      50,
      2.5 / (0.8 * OPERATING_SHARE) / 0.5,
    ],
  ])("%s", (_name, commands, commandMs, expected) => {
    expect(turnCost({ commands, commandMs }, budget, 2)).toBeCloseTo(expected);
  });

  it("never spends more than the budget in a window, whatever the batch sizes", () => {
    // Booked back to back at the bucket's pace, a full window's requests spend at most the share.
    const intervalMs = 500;
    const perRequest = turnCost({ commands: 50, commandMs: 50 }, budget, 2) * intervalMs;
    const requests = Math.floor(600_000 / perRequest) + 1;
    expect(requests * 2.5).toBeLessThanOrEqual(480);
  });
});
