import { describe, expect, it } from "vitest";
import type { DeliveryAttempt, DeliveryResult } from "../../functions/core/deliver";
import { queueMessageReader } from "../../functions/core/job";
import type { OutcomeRecord } from "../../functions/core/outcome";
import { routeToPortals } from "../../functions/core/portal-router";

const event = {
  jobId: "app:e1:0",
  sourceId: "app",
  eventId: "e1",
  eventName: "order.paid",
  receivedAt: "2030-01-01T00:00:00.000Z",
  userId: 7,
  message: "hi",
};

describe("queue messages", () => {
  it("read version 3 with its portal and open line", () => {
    const job = {
      v: 3,
      kind: "event",
      ...event,
      whenLimited: "drop",
      portal: "eu",
      openLineCode: "x".repeat(32),
    };
    expect(queueMessageReader.parse(job)).toEqual(job);
  });

  it("still read jobs queued before a deploy: versions 1 and 2 name no portal", () => {
    expect(queueMessageReader.parse({ v: 1, ...event })).toEqual({
      v: 3,
      kind: "event",
      ...event,
      whenLimited: "digest",
    });
    expect(
      queueMessageReader.parse({ v: 2, kind: "event", ...event, whenLimited: "drop" }),
    ).toEqual({
      v: 3,
      kind: "event",
      ...event,
      whenLimited: "drop",
    });
    expect(queueMessageReader.parse({ v: 2, kind: "flush", userId: 7 })).toEqual({
      v: 3,
      kind: "flush",
      userId: 7,
    });
  });

  it("refuse anything else", () => {
    expect(queueMessageReader.safeParse({ v: 3, kind: "event", ...event }).success).toBe(false);
    expect(queueMessageReader.safeParse({ v: 4, kind: "flush", userId: 7 }).success).toBe(false);
  });
});

describe("the portal router", () => {
  const attempt = (message: DeliveryAttempt["message"]): DeliveryAttempt => ({
    message,
    receiveCount: 1,
    queuedAt: 0,
    deadline: Number.MAX_SAFE_INTEGER,
  });
  const recorded: OutcomeRecord[] = [];
  const seen: string[] = [];
  const deliverer = (name: string) => async () => async (): Promise<DeliveryResult> => {
    seen.push(name);
    return { status: "done" };
  };
  const deliver = routeToPortals({
    portals: new Map([
      ["main", deliverer("main")],
      ["eu", deliverer("eu")],
    ]),
    outcomes: {
      finish: async (record) => {
        recorded.push(record);
        return record;
      },
    },
    clock: { now: () => new Date(0) },
  });

  it("hands each job to its portal, and legacy jobs to the first", async () => {
    await deliver(attempt({ v: 3, kind: "flush", userId: 1, portal: "eu", openLineCode: "c" }));
    await deliver(attempt({ v: 3, kind: "event", ...event, whenLimited: "digest" }));
    expect(seen).toEqual(["eu", "main"]);
  });

  it("records a job for a portal the config no longer has as failed, then dead-letters it", async () => {
    const result = await deliver(
      attempt({
        v: 3,
        kind: "event",
        ...event,
        whenLimited: "digest",
        portal: "gone",
        openLineCode: "c",
      }),
    );
    expect(result).toEqual({ status: "dead-letter", reason: 'portal "gone" is not in the config' });
    expect(recorded).toMatchObject([{ jobId: "app:e1:0", outcome: "failed", exhausted: true }]);
  });
});
