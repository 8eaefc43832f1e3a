import { describe, expect, it } from "vitest";
import { parseConfig } from "../../functions/core/config";
import { clipForLog, MAX_JOB_BYTES, makeIngest, receiptFor } from "../../functions/core/ingest";
import type { QueueMessage } from "../../functions/core/job";
import type { Log } from "../../functions/core/log";
import { noMetrics } from "../../functions/core/metrics";
import type { OutcomeRecord } from "../../functions/core/outcome";
import type { OutcomeStore, Receipt } from "../../functions/core/ports";
import type { Router } from "../../functions/core/routes";
import { hmacSource } from "../support/config-fixtures";
import { stripeRequest } from "../support/signers";

const NOW = new Date("2026-03-01T10:00:00Z");
const SECRET = "whsec_unit";

const SHOP = hmacSource("shop", "x-sig", { eventId: { header: "x-id" } });

const config = parseConfig({
  bitrix: { openLineCode: "ab515f5d85a8b844d484f6ea75a2e494" },
  sources: [
    { id: "stripe", type: "stripe", secret: "env:S" },
    { id: "github", type: "github", secret: "env:G" },
    SHOP,
    // The same source with a signed timestamp.
    { ...SHOP, id: "timed", timestampHeader: "x-ts" },
  ],
});

/** Ingest over in-memory ports, with a router that answers whatever the test says. */
function ingestWith(route: Router["route"]) {
  const queued: QueueMessage[] = [];
  const finished: OutcomeRecord[] = [];
  const logged: Record<string, unknown>[] = [];
  const record = (_message: string, attributes?: Record<string, unknown>) =>
    void logged.push(attributes ?? {});
  const log: Log = { debug: record, info: record, warn: record, error: record };
  const receipts: Receipt[] = [];
  // Ingest only ever finishes outcomes (render failures); the other methods are deliver's.
  const outcomes = {
    finish: async (outcome: OutcomeRecord) => {
      finished.push(outcome);
      return outcome;
    },
  } as unknown as OutcomeStore;
  const ingest = makeIngest({
    config,
    secretsFor: async () => [SECRET],
    router: { route, hasCandidates: () => true },
    receipts: {
      record: async (receipt) => {
        receipts.push(receipt);
        return { state: "recorded" };
      },
    },
    queue: { enqueue: async (jobs) => void queued.push(...jobs) },
    outcomes,
    clock: { now: () => NOW },
    log,
    metrics: noMetrics,
  });
  const stripe = (id: string) => {
    const request = stripeRequest(
      SECRET,
      { id, type: "invoice.paid", data: {} },
      Math.floor(NOW.getTime() / 1000),
    );
    return ingest({
      sourceId: "stripe",
      headers: request.headers,
      body: Buffer.from(request.body),
    });
  };
  return { stripe, queued, finished, logged, receipts };
}

const TARGET = { portal: "default", openLine: "default", openLineCode: "x".repeat(32) };

describe("ingest limits", () => {
  it("fails a job that would not fit in an SQS message instead of queueing it", async () => {
    const { stripe, queued, finished } = ingestWith(() => [
      {
        routeIndex: 0,
        ok: true,
        whenLimited: "digest",
        target: TARGET,
        message: { userId: 7, message: "hi", attach: [{ MESSAGE: "x".repeat(MAX_JOB_BYTES) }] },
      },
      {
        routeIndex: 1,
        ok: true,
        whenLimited: "digest",
        target: TARGET,
        message: { userId: 7, message: "small" },
      },
    ]);
    const answer = await stripe("evt_big");
    expect(answer).toEqual({
      statusCode: 202,
      body: { status: "accepted", eventId: "evt_big", messages: 1, failed: 1 },
    });
    expect(queued.map((job) => job.kind === "event" && job.jobId)).toEqual(["stripe:evt_big:1"]);
    expect(finished).toMatchObject([
      {
        jobId: "stripe:evt_big:0",
        outcome: "failed",
        reason: expect.stringMatching(/^job is \d+ bytes/),
      },
    ]);
  });

  it("measures a job as the queue gets it: U+FFFF is sent as a 6-byte escape, not 3 bytes", async () => {
    // 60,000 of them: 180 KB as UTF-8, under the limit; 360 KB as the queue's text, over it.
    const text = "\uFFFF".repeat(60_000);
    const { stripe, queued, finished } = ingestWith(() => [
      {
        routeIndex: 0,
        ok: true,
        whenLimited: "digest",
        target: TARGET,
        message: { userId: 7, message: "hi", attach: [{ MESSAGE: text }] },
      },
    ]);
    const answer = await stripe("evt_escaped");
    expect(answer).toMatchObject({ statusCode: 202, body: { messages: 0, failed: 1 } });
    expect(queued).toEqual([]);
    expect(finished).toMatchObject([
      {
        jobId: "stripe:evt_escaped:0",
        outcome: "failed",
        reason: expect.stringMatching(/^job is 36\d{4} bytes/),
      },
    ]);
  });

  it("logs sender ids clipped", async () => {
    const { stripe, logged } = ingestWith(() => [
      { routeIndex: 0, ok: false, reason: "no user id found" },
    ]);
    const id = `evt_${"x".repeat(252)}`;
    await stripe(id);
    expect(logged.length).toBeGreaterThan(0);
    for (const attributes of logged) {
      for (const value of Object.values(attributes)) {
        if (typeof value === "string") expect(value.length).toBeLessThanOrEqual(80);
      }
    }
    expect(clipForLog(id)).toBe(`${id.slice(0, 79)}…`);
  });
});

describe("receiptFor", () => {
  const event = { id: "d-1", name: "push", payload: {} };
  const source = (id: string) => {
    const found = config.sources.find((candidate) => candidate.id === id);
    if (!found) throw new Error(`no source ${id}`);
    return found;
  };

  it("deduplicates signed ids by id alone", () => {
    expect(receiptFor(source("stripe"), event)).toEqual({
      sourceId: "stripe",
      eventId: "d-1",
      eventName: "push",
      byId: true,
    });
  });

  it("deduplicates GitHub and plain HMAC events by the signed bytes alone: one write", () => {
    for (const id of ["github", "shop"]) {
      expect(receiptFor(source(id), { ...event, contentHash: "abc" })).toEqual({
        sourceId: id,
        eventId: "d-1",
        eventName: "push",
        contentHash: "abc",
        byId: false,
      });
    }
  });

  it("deduplicates timestamped HMAC events by both, since a retry is signed anew", () => {
    expect(receiptFor(source("timed"), { ...event, contentHash: "abc" })).toMatchObject({
      contentHash: "abc",
      byId: true,
    });
  });

  it("keeps the body's hash where the event has one (an unsigned id on a re-signed retry)", () => {
    const unsignedId = { ...event, contentHash: "abc", bodyHash: "def" };
    expect(receiptFor(source("timed"), unsignedId)).toMatchObject({ byId: true, bodyHash: "def" });
    expect(receiptFor(source("timed"), { ...event, contentHash: "abc" })).not.toHaveProperty(
      "bodyHash",
    );
  });
});
