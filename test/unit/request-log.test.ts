import { describe, expect, it } from "vitest";
import { type Config, parseConfig } from "../../functions/core/config";
import type { OutcomeRecord } from "../../functions/core/outcome";
import type { OutcomeStore } from "../../functions/core/ports";
import { apiGatewayEvent } from "../../functions/local/http-server";
import { outcomeLine, requestLine, shown } from "../../functions/local/request-lines";
import { RequestLog } from "../../functions/local/request-log";
import {
  makeEventRecorder,
  makeRequestRecorder,
  observeOutcomes,
  RoutedNames,
} from "../../functions/local/request-recorder";
import { styleFor } from "../../functions/local/terminal-style";
import { githubRequest } from "../support/signers";

const NOW = new Date("2026-11-25T09:01:02.000Z");
const clock = { now: () => NOW };
const SECRET = "request-log-secret";

const config: Config = parseConfig({
  bitrix: { openLineCode: "ab515f5d85a8b844d484f6ea75a2e494" },
  sources: [{ id: "github", type: "github", secret: "env:GITHUB_SECRET" }],
  routes: [
    {
      source: "github",
      events: ["issues.opened", "pull_request.*"],
      userId: "1",
      message: "hello",
    },
  ],
});

/** Records API Gateway events, as the local server's non-webhook path does. */
function recorder(log: RequestLog) {
  return makeEventRecorder(
    makeRequestRecorder({ config, requestLog: log, secretsFor: async () => [SECRET], clock }),
  );
}

async function githubEvent(event: string, payload: object, delivery: string, secret = SECRET) {
  const signed = await githubRequest(secret, event, payload, delivery);
  return apiGatewayEvent({
    method: "POST",
    path: "/webhooks/github",
    headers: signed.headers,
    body: Buffer.from(signed.body),
  });
}

function newest(log: RequestLog) {
  const entry = log.recent(1)[0];
  if (!entry) throw new Error("the log is empty");
  return entry;
}

const answer = (statusCode: number, body: object) => ({ statusCode, body: JSON.stringify(body) });

/** A webhook for a source the config does not have, with this raw body. */
const unknownSourceEvent = (body: Buffer) =>
  apiGatewayEvent({
    method: "POST",
    path: "/webhooks/nowhere",
    headers: { "content-type": "application/octet-stream" },
    body,
  });

/** The log entry of a GitHub webhook that ingest accepted. */
const acceptedGithub = (more: Record<string, unknown> = {}) => ({
  at: NOW.toISOString(),
  method: "POST",
  path: "/webhooks/github",
  sourceId: "github",
  status: 202,
  answer: { status: "accepted" },
  ...more,
});

describe("the request log", () => {
  it("keeps the newest entries up to its capacity, newest first", () => {
    const log = new RequestLog(3);
    for (let index = 0; index < 5; index++) {
      log.addRequest({
        at: NOW.toISOString(),
        method: "POST",
        path: `/webhooks/s${index}`,
        status: 404,
        answer: { error: "unknown_source" },
      });
    }
    expect(log.recent().map((entry) => entry.path)).toEqual([
      "/webhooks/s4",
      "/webhooks/s3",
      "/webhooks/s2",
    ]);
    expect(log.recent(1)[0]?.seq).toBe(5);
  });

  it("attaches outcomes to the accepted request of the same event, one per job, replaced as it moves on", () => {
    const log = new RequestLog();
    const changes: string[] = [];
    log.subscribe((change) => changes.push(change.kind));
    log.addRequest(acceptedGithub({ eventId: "d-1" }));
    const base = { jobId: "github:d-1:0", sourceId: "github", eventId: "d-1", userId: 7 };
    log.addOutcome({
      ...base,
      outcome: "deferred",
      reason: "weekly slot taken",
      dueAt: new Date("2026-12-02T09:06:00Z"),
      at: NOW,
    });
    log.addOutcome({ ...base, outcome: "sent", reason: "sent", digestId: "dg-1", at: NOW });
    const [entry] = log.recent();
    expect(entry?.outcomes).toEqual([
      {
        jobId: "github:d-1:0",
        outcome: "sent",
        reason: "sent",
        userId: 7,
        digestId: "dg-1",
        at: NOW.toISOString(),
      },
    ]);
    expect(changes).toEqual(["request", "outcome", "outcome"]);
    expect(log.version).toBe(3);
  });

  it("shows an outcome recorded while its request was still being answered (a failed render) on that request", () => {
    const log = new RequestLog();
    // Ingest records a render failure before it answers; the request is logged after the answer.
    log.addOutcome({
      jobId: "github:d-2:0",
      sourceId: "github",
      eventId: "d-2",
      outcome: "failed",
      reason: "userId: not a positive integer",
      at: NOW,
    });
    log.addRequest(acceptedGithub({ eventId: "d-2", messages: 0, failed: 1 }));
    expect(newest(log).outcomes).toEqual([
      expect.objectContaining({ outcome: "failed", reason: "userId: not a positive integer" }),
    ]);
  });

  it("keeps at most its capacity of outcomes that wait for their request", () => {
    const log = new RequestLog(2);
    for (let index = 0; index < 10; index++) {
      log.addOutcome({
        jobId: `j${index}`,
        sourceId: "s",
        eventId: `e${index}`,
        outcome: "failed",
        at: NOW,
      });
    }
    const accepted = (eventId: string) =>
      log.addRequest({
        at: NOW.toISOString(),
        method: "POST",
        path: "/webhooks/s",
        sourceId: "s",
        status: 202,
        answer: { status: "accepted" },
        eventId,
      });
    expect(accepted("e0").outcomes).toEqual([]);
    expect(accepted("e9").outcomes).toHaveLength(1);
  });

  it("keeps working when a listener throws", () => {
    const log = new RequestLog();
    log.subscribe(() => {
      throw new Error("terminal closed");
    });
    expect(() =>
      log.addRequest({ at: "", method: "GET", path: "/", status: 404, answer: {} }),
    ).not.toThrow();
  });
});

describe("recording a request", () => {
  it("names the verified event of an accepted request", async () => {
    const log = new RequestLog();
    const event = await githubEvent("issues", { action: "opened", issue: {} }, "d-accepted");
    await recorder(log)(
      event,
      answer(202, { status: "accepted", eventId: "d-accepted", messages: 1, failed: 0 }),
    );
    const entry = newest(log);
    expect(entry).toMatchObject({
      sourceId: "github",
      status: 202,
      answer: { status: "accepted" },
      eventName: "issues.opened",
      eventId: "d-accepted",
      messages: 1,
      failed: 0,
    });
    expect(requestLine(entry)).toBe(
      "09:01:02 202 accepted  github issues.opened id d-accepted  1 message queued",
    );
  });

  it("keeps the raw request byte for byte, within its byte bound: the bytes the server read, or the event's", async () => {
    const log = new RequestLog(10, 3_000);
    // Not UTF-8: a copy through a string would change these bytes.
    const body = Buffer.from([0xff, 0xfe, 0x00, 0x80, ...Buffer.from("x".repeat(1_000))]);
    const record = recorder(log);
    const event = unknownSourceEvent(body);
    await record(event, answer(404, { error: "unknown_source" }));
    // The local server hands over the body it read: that very buffer is kept, not a decoded copy.
    const read = Buffer.from(body);
    await record(event, answer(404, { error: "unknown_source" }), read);
    await record(event, answer(404, { error: "unknown_source" }), read);
    const [third, second, first] = log.recent().map((entry) => log.raw(entry.seq));
    expect(third?.body).toBe(read);
    expect(third?.headers["content-type"]).toBe("application/octet-stream");
    expect(second?.body.equals(body)).toBe(true);
    // Three requests of 1,040 bytes (body and headers) are over 3,000: the oldest went.
    expect(first).toBeUndefined();
  });

  it("gives the bytes of a raw request dropped with its entry back to the byte bound", async () => {
    // Room for two entries and for two raw requests of 1,040 bytes, not three.
    const log = new RequestLog(2, 2_500);
    const body = Buffer.from("x".repeat(1_000));
    const record = recorder(log);
    const event = unknownSourceEvent(body);
    for (let index = 0; index < 50; index++) {
      await record(event, answer(404, { error: "unknown_source" }), Buffer.from(body));
    }
    const kept = log.recent().map((entry) => log.raw(entry.seq)?.body.toString());
    expect(kept).toEqual([body.toString(), body.toString()]);
  });

  it("names the events the routes expect when a request is ignored", async () => {
    const log = new RequestLog();
    const event = await githubEvent("issues", { action: "closed", issue: {} }, "d-ignored");
    await recorder(log)(event, answer(200, { status: "ignored", eventId: "d-ignored" }));
    const entry = newest(log);
    expect(entry.expected).toEqual(["issues.opened", "pull_request.*"]);
    expect(requestLine(entry)).toBe(
      "09:01:02 200 ignored   github issues.closed id d-ignored  no route matches; routes expect issues.opened, pull_request.*",
    );
  });

  it("shows the reason of a 401 and never names an event it could not verify", async () => {
    const log = new RequestLog();
    const event = await githubEvent(
      "issues",
      { action: "opened", issue: {} },
      "d-forged",
      "wrong secret",
    );
    const reason = "X-Hub-Signature-256 does not match any configured secret";
    await recorder(log)(event, answer(401, { error: "invalid_signature", message: reason }));
    const entry = newest(log);
    expect(entry.eventName).toBeUndefined();
    expect(requestLine(entry)).toBe(`09:01:02 401 invalid_signature github  ${reason}`);
  });

  it("prints an outcome line with the user, the digest's due time and the reason", () => {
    const line = outcomeLine(
      { seq: 1, ...acceptedGithub({ eventName: "issues.opened" }), outcomes: [] },
      {
        jobId: "github:d-1:0",
        outcome: "deferred",
        reason: "weekly slot taken",
        userId: 7,
        dueAt: "2026-12-02T09:06:00.000Z",
        at: NOW.toISOString(),
      },
    );
    expect(line).toBe(
      "09:01:02   ↳ deferred  github issues.opened job github:d-1:0  user 7, digest due 2026-12-02 09:06 UTC, weekly slot taken",
    );
  });

  it("keeps sender text from driving the terminal: control characters are replaced, long ids clipped", () => {
    expect(shown("evil\u001b[2J\u0007name")).toBe("evil?[2J?name");
    expect(shown("x".repeat(100))).toHaveLength(48);
  });

  it("colours only a terminal", () => {
    expect(styleFor({ isTTY: false }, {}).green("sent")).toBe("sent");
    expect(styleFor({ isTTY: true }, {}).green("sent")).toBe("\u001b[32msent\u001b[39m");
    expect(styleFor({ isTTY: true }, { NO_COLOR: "1" }).green("sent")).toBe("sent");
  });
});

describe("observing outcomes", () => {
  const record = (outcome: OutcomeRecord["outcome"], reason: string): OutcomeRecord => ({
    jobId: "j",
    sourceId: "s",
    eventId: "e",
    eventName: "n",
    outcome,
    reason,
    at: NOW,
  });

  it("tells the listener the outcome that stands, and never fails the store's caller", async () => {
    const earlier = record("sent", "sent");
    const store = {
      // An earlier final outcome wins, as in the DynamoDB store.
      finish: async (_outcome: OutcomeRecord) => earlier,
      defer: async (..._args: Parameters<OutcomeStore["defer"]>) =>
        record("deferred", "weekly slot used"),
    };
    const seen: string[] = [];
    const observed = observeOutcomes(store, (outcome) => {
      seen.push(outcome.outcome);
      throw new Error("listener broke");
    });
    await expect(observed.finish(record("failed", "late"))).resolves.toBe(earlier);
    const job = {} as Parameters<OutcomeStore["defer"]>[0];
    const key = { portal: "p", openLineCode: "c", userId: 1 };
    await observed.defer(job, key, NOW, "weekly slot used", NOW);
    expect(seen).toEqual(["sent", "deferred"]);
  });

  it("names a routed event by what routing saw, without checking the request again", async () => {
    const log = new RequestLog();
    const names = new RoutedNames();
    names.note("github", "d-routed", "issues.opened");
    const record = makeEventRecorder(
      makeRequestRecorder({
        config,
        requestLog: log,
        // A checked request would fail: the name can only come from the routed names.
        secretsFor: async () => ["another-secret"],
        clock,
        routedName: (sourceId, eventId) => names.take(sourceId, eventId),
      }),
    );
    const event = await githubEvent("issues", { action: "opened" }, "d-routed");
    await record(event, answer(202, { status: "accepted", eventId: "d-routed", messages: 1 }));
    expect(newest(log).eventName).toBe("issues.opened");
    // Taken once: the same id again is checked afresh (and here fails, so no name).
    await record(event, answer(200, { status: "duplicate", eventId: "d-routed" }));
    expect(newest(log).eventName).toBeUndefined();
  });

  it("routed names: noted by the wrapped router, the oldest dropped beyond the bound", () => {
    const names = new RoutedNames(2);
    const routed: string[] = [];
    const router = names.noting({
      route: (event) => {
        routed.push(event.eventId);
        return [];
      },
      hasCandidates: () => true,
    });
    for (const id of ["a", "b", "c"]) {
      router.route({
        sourceId: "s",
        eventId: id,
        eventName: `n.${id}`,
        receivedAt: NOW,
        payload: {},
      });
    }
    expect(routed).toEqual(["a", "b", "c"]);
    expect(router.hasCandidates("s", "n.a")).toBe(true);
    expect(names.take("s", "a")).toBeUndefined();
    expect(names.take("s", "b")).toBe("n.b");
    expect(names.take("s", "c")).toBe("n.c");
    // The same id from another source, noted since: never the other source's name.
    names.note("s", "d", "n.d");
    names.note("t", "d", "t.d");
    expect(names.take("s", "d")).toBeUndefined();
    expect(names.take("t", "d")).toBe("t.d");
  });
});
