import { afterEach, describe, expect, it } from "vitest";
import { sleep } from "../../functions/core/clock";
import {
  appJobOf,
  appOrder,
  OPEN_LINE_CODE,
  postAndSettle,
  postWebhook,
  testConfig,
  until,
  userIds,
  useTestBridge,
} from "../support/bridge";

/**
 * The weekly ledger end to end through the local bridge (the code `npm start` runs): HTTP,
 * ingest, the in-process queue, deliver, the sweeper and the Bitrix24 simulator, with a week of
 * ten seconds so a whole digest cycle fits in a test.
 */

const WEEK_SECONDS = 10;

const freshUser = userIds(5000);

const order = appOrder;
const jobOf = appJobOf;

function shortWeekConfig() {
  return testConfig({
    bitrix: { weekSeconds: WEEK_SECONDS, weekMarginSeconds: 1 },
    digest: { maxEvents: 20 },
  });
}

describe("the weekly ledger through the local bridge", () => {
  const bridge = useTestBridge(shortWeekConfig(), { sweepEveryMs: 250 });
  const records = (jobId: string) => bridge.record(jobId);
  afterEach(() => expect(bridge.simulator?.stats.overlapping).toBe(0));

  /** A job's first recorded outcome, read as soon as there is one. */
  const firstRecord = (jobId: string) => bridge.waitForRecord(jobId, undefined, 10_000);

  it("sends the first event at once, defers the rest, and sends them as one digest when the week frees", async () => {
    const userId = freshUser();
    const first = order(userId, "first-order");
    expect((await postWebhook(bridge, "app", first)).status).toBe(202);
    await bridge.waitForMessages(userId, 1, 5_000);

    const later = [order(userId, "second-order"), order(userId, "third-order")];
    for (const request of later)
      expect((await postWebhook(bridge, "app", request)).status).toBe(202);
    // Their first recorded state (the week is ten seconds, so it is read long before it ends).
    const deferred = await Promise.all(later.map((request) => firstRecord(jobOf(request))));
    expect(deferred.map((record) => record?.outcome)).toEqual(["deferred", "deferred"]);
    const due = deferred[0]?.dueAt?.getTime() ?? 0;
    expect(due).toBeGreaterThan(deferred[0]?.at.getTime() ?? 0);
    expect(bridge.sentTo(userId)).toHaveLength(1);

    // The week (10 s) plus the margin (1 s) after the first send's lease (10 s) passes: a lone
    // send's intent is the slot's record (docs/ledger.md). The sweeper queues the flush.
    const messages = await bridge.waitForMessages(userId, 2, 40_000);
    expect(messages).toHaveLength(2);
    const digest = messages[1]?.message ?? "";
    expect(digest).toContain("[b]2 updates[/b]");
    expect(digest).toMatch(/second-order[\s\S]*third-order/);
    expect(messages[1]?.at ?? 0).toBeGreaterThanOrEqual(due);

    // The simulator has the message before deliver has written the outcomes.
    const final = await bridge.waitForRecords(later.map(jobOf), "sent", 10_000);
    expect(final.map((record) => record?.outcome)).toEqual(["sent", "sent"]);
    expect(final[0]?.digestId).toBeDefined();
    expect(final[0]?.digestId).toBe(final[1]?.digestId);
    expect((await records(jobOf(first)))?.outcome).toBe("sent");
  }, 70_000);

  it("defers an event when another app already messaged the user (USER_MESSAGE_LIMIT), then delivers it", async () => {
    const userId = freshUser();
    bridge.simulator?.messageFromAnotherApp(OPEN_LINE_CODE, userId);
    const request = order(userId, "after-another-app");
    expect((await postWebhook(bridge, "app", request)).status).toBe(202);

    const deferred = await firstRecord(jobOf(request));
    expect(deferred?.outcome).toBe("deferred");
    expect(deferred?.reason).toContain("USER_MESSAGE_LIMIT");
    expect(bridge.sentTo(userId)).toHaveLength(0);

    // Tried again every weekSeconds / 7 until Bitrix24's week for the other app's message is over.
    const messages = await bridge.waitForMessages(userId, 1, 25_000);
    expect(messages.map((message) => message.message)).toEqual([
      expect.stringContaining("after-another-app"),
    ]);
    const final = await bridge.waitForRecord(jobOf(request), "sent", 10_000);
    expect(final?.outcome).toBe("sent");
  }, 70_000);

  it("sends a digest of one event as that event's own message", async () => {
    const userId = freshUser();
    const first = order(userId, "alpha");
    await postWebhook(bridge, "app", first);
    await bridge.waitForMessages(userId, 1, 5_000);
    const second = order(userId, "beta");
    await postAndSettle(bridge, second);
    expect((await records(jobOf(second)))?.outcome).toBe("deferred");

    const messages = await bridge.waitForMessages(userId, 2, 40_000);
    expect(messages[1]?.message).toContain("beta");
    // A digest of one event is that event's own message.
    expect(messages[1]?.message).not.toContain("updates");
  }, 70_000);
});

describe("an event for a user whose digest is due", () => {
  // No sweeper here: the event itself must find the due digest.
  const bridge = useTestBridge(shortWeekConfig(), { sweepEveryMs: 3_600_000 });

  it("joins it, and the digest goes out at once with the older event first", async () => {
    const userId = freshUser();
    await postAndSettle(bridge, order(userId, "alpha"));
    const beta = order(userId, "beta");
    await postAndSettle(bridge, beta);
    expect(await bridge.outcome(jobOf(beta))).toBe("deferred");

    // Past beta's due time: the week and the margin after alpha's lease (its intent is the
    // slot's record, docs/ledger.md).
    const due =
      (await bridge.record(jobOf(beta)))?.dueAt?.getTime() ?? Date.now() + WEEK_SECONDS * 1000;
    await sleep(Math.max(0, due - Date.now()) + 1500);
    const gamma = order(userId, "gamma");
    await postAndSettle(bridge, gamma);

    const messages = bridge.simulator?.messages.filter((m) => m.userId === userId) ?? [];
    expect(messages).toHaveLength(2);
    expect(messages[1]?.message).toMatch(/2 updates[\s\S]*beta[\s\S]*gamma/);
    expect(await bridge.outcome(jobOf(beta))).toBe("sent");
    expect(await bridge.outcome(jobOf(gamma))).toBe("sent");
  }, 70_000);
});

describe("a route with whenLimited: drop", () => {
  const base = shortWeekConfig();
  const bridge = useTestBridge(
    testConfig({
      ...base,
      routes: base.routes.map((route) =>
        route.source === "app" ? { ...route, whenLimited: "drop" } : route,
      ),
    }),
  );

  it("records the second event of the week as suppressed, and never sends it", async () => {
    const userId = freshUser();
    const first = order(userId, "kept");
    await postAndSettle(bridge, first);
    const second = order(userId, "dropped");
    await postAndSettle(bridge, second);
    expect(await bridge.outcome(jobOf(first))).toBe("sent");
    expect(await bridge.outcome(jobOf(second))).toBe("suppressed");
    expect(bridge.simulator?.messages.filter((m) => m.userId === userId)).toHaveLength(1);
  });
});

describe("retries bounded by time", () => {
  const base = testConfig();
  const bridge = useTestBridge(
    testConfig({ delivery: { ...base.delivery, retryFor: 6, maxBackoffSeconds: 1 } }),
  );

  it("record the message as failed when the window is over, then move it to the dead-letter queue", async () => {
    const userId = freshUser();
    bridge.simulator?.outage(60_000);
    const request = order(userId, "never");
    expect((await postWebhook(bridge, "app", request)).status).toBe(202);
    await until(
      () => bridge.queue.deadLetters.length,
      (n) => n === 1,
      40_000,
    );
    await bridge.queue.idle();

    expect(bridge.queue.deadLetters).toHaveLength(1);
    expect(bridge.queue.deadLetters[0]?.reason).toContain("retry window over");
    expect(await bridge.outcome(jobOf(request))).toBe("failed");
    expect(bridge.simulator?.messages.filter((m) => m.userId === userId)).toHaveLength(0);

    // After the cause is fixed, a redrive delivers it: an exhausted failure may be retried.
    bridge.simulator?.outage(0);
    expect(bridge.queue.redriveDeadLetters()).toBe(1);
    await bridge.queue.idle();
    expect(await bridge.outcome(jobOf(request))).toBe("sent");
    expect(bridge.simulator?.messages.filter((m) => m.userId === userId)).toHaveLength(1);
  }, 70_000);
});
