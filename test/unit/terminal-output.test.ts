import { describe, expect, it } from "vitest";
import type { LoggedRequest, RequestLogChange } from "../../functions/local/request-log";
import { makeTerminalOutput } from "../../functions/local/terminal-output";

/** 2026-11-25T09:01:02.000Z, a second's start. */
const START = Date.parse("2026-11-25T09:01:02.000Z");

/** The terminal with a clock and timers of its own: time moves only when the test moves it. */
function terminal(burstLinesPerSecond = 5) {
  const lines: string[] = [];
  let now = START;
  let timers: { at: number; run: () => void }[] = [];
  const write = makeTerminalOutput({
    write: (line) => lines.push(line),
    now: () => now,
    schedule: (run, ms) => timers.push({ at: now + ms, run }),
    burstLinesPerSecond,
  });
  return {
    lines,
    write,
    /** Moves the clock to `at` ms after START and runs no timer (a busy event loop). */
    setClock(at: number) {
      now = START + at;
    },
    /** Moves the clock to `at` ms after START, running the timers due on the way. */
    advanceTo(at: number) {
      now = START + at;
      const due = timers.filter((timer) => timer.at <= now);
      timers = timers.filter((timer) => timer.at > now);
      for (const timer of due) timer.run();
    },
    pendingTimers: () => timers.length,
  };
}

let seq = 0;
function request(status: number, answer: LoggedRequest["answer"], eventId = `e-${++seq}`) {
  const entry: LoggedRequest = {
    seq,
    at: "2026-11-25T09:01:02.000Z",
    method: "POST",
    path: "/webhooks/github",
    sourceId: "github",
    status,
    answer,
    eventName: "issues.opened",
    eventId,
    ...(status === 202 ? { messages: 1, failed: 0 } : {}),
    outcomes: [],
  };
  return { kind: "request", request: entry } satisfies RequestLogChange;
}
const accepted = () => request(202, { status: "accepted" });
const duplicate = () => request(200, { status: "duplicate" });
const rejected = () => request(401, { error: "invalid_signature", message: "bad signature" });
const deferred = (): RequestLogChange => ({
  kind: "outcome",
  request: undefined,
  outcome: {
    jobId: `github:e-${++seq}:0`,
    outcome: "deferred",
    reason: "weekly slot used",
    at: "2026-11-25T09:01:02.000Z",
  },
});

describe("the terminal of npm start: a line per request, a summary a second during a burst", () => {
  it("prints a single request's own line, and plans no summary", () => {
    const out = terminal();
    out.write(request(202, { status: "accepted" }, "d-1"));
    expect(out.lines).toEqual([
      "09:01:02 202 accepted  github issues.opened id d-1  1 message queued",
    ]);
    expect(out.pendingTimers()).toBe(0);
  });

  it("prints quiet traffic line by line, however long it goes on", () => {
    const out = terminal(5);
    for (let second = 0; second < 3; second++) {
      out.advanceTo(second * 1000 + 10);
      for (let index = 0; index < 5; index++) out.write(accepted());
    }
    expect(out.lines).toHaveLength(15);
    expect(out.lines.every((line) => line.includes("202 accepted"))).toBe(true);
  });

  it("past the limit within a second, counts the rest into one summary line printed when the second is over", () => {
    const out = terminal(5);
    out.advanceTo(100);
    for (let index = 0; index < 5; index++) out.write(accepted());
    out.write(accepted());
    out.write(duplicate());
    out.write(rejected());
    out.write(deferred());
    expect(out.lines).toHaveLength(5);
    out.advanceTo(999);
    expect(out.lines).toHaveLength(5);
    out.advanceTo(1000);
    expect(out.lines.slice(5)).toEqual([
      "09:01:02 burst     3 requests: 1 accepted, 1 duplicate, 1 rejected; outcomes: 1 deferred",
    ]);
  });

  it("during a sustained burst prints only the summary, a line a second; after a quiet second, lines again", () => {
    const out = terminal(5);
    out.advanceTo(0);
    for (let index = 0; index < 6; index++) out.write(accepted());
    for (let second = 1; second <= 3; second++) {
      for (let index = 0; index < 1_200; index++) {
        out.advanceTo(second * 1000 + Math.floor(index / 2));
        out.write(index % 100 === 0 ? duplicate() : accepted());
      }
    }
    // The burst's last second is summarised by its timer, though no request follows.
    out.advanceTo(4_000);
    expect(out.lines.slice(5)).toEqual([
      "09:01:02 burst     1 request: 1 accepted",
      "09:01:03 burst     1,200 requests: 1,188 accepted, 12 duplicate",
      "09:01:04 burst     1,200 requests: 1,188 accepted, 12 duplicate",
      "09:01:05 burst     1,200 requests: 1,188 accepted, 12 duplicate",
    ]);
    // The second after the burst stays quiet: the next request has its own line.
    out.advanceTo(5_500);
    out.write(request(202, { status: "accepted" }, "d-after"));
    expect(out.lines.at(-1)).toBe(
      "09:01:02 202 accepted  github issues.opened id d-after  1 message queued",
    );
    expect(out.lines).toHaveLength(10);
  });

  it("summarises a second as soon as the next one brings a change, without waiting for its timer", () => {
    const out = terminal(2);
    out.advanceTo(0);
    for (let index = 0; index < 4; index++) out.write(accepted());
    // Its timer is late (a busy event loop): the next second's first change prints the summary.
    out.setClock(1_000);
    out.write(duplicate());
    expect(out.lines.slice(2)).toEqual(["09:01:02 burst     2 requests: 2 accepted"]);
    // The late timer then waits for the end of the second it is in, and summarises that one.
    out.advanceTo(1_001);
    expect(out.lines).toHaveLength(3);
    out.advanceTo(2_000);
    expect(out.lines.slice(3)).toEqual(["09:01:03 burst     1 request: 1 duplicate"]);
    expect(out.pendingTimers()).toBe(0);
  });
});
