import { afterEach, describe, expect, it } from "vitest";
import { listEvents } from "../../cli/commands/events";
import { sleep } from "../../functions/core/clock";
import {
  appJobOf,
  appOrder,
  postAndSettle,
  postWebhook,
  testConfig,
  userIds,
  useTestBridge,
} from "../support/bridge";

/**
 * The second channel end to end through the local bridge (docs/notify.md): HTTP, ingest, the
 * in-process queue, deliver, the sweeper, the embedded DynamoDB-compatible store and the Bitrix24
 * simulator over HTTP, with a week of ten seconds so a digest comes within the test.
 */

const WEEK_SECONDS = 10;
const TABLE = "hookline-e2e";

const freshUser = userIds(7000);

const order = (userId: number, note: string, kind = "payment_failed") =>
  appOrder(userId, note, { kind });
const jobOf = appJobOf;

function notifyingConfig(whenLimited: "notify" | "notify-only") {
  const base = testConfig();
  return testConfig({
    bitrix: { weekSeconds: WEEK_SECONDS, weekMarginSeconds: 1, scopes: ["imopenlines", "im"] },
    routes: base.routes.map((route) =>
      route.source === "app"
        ? {
            source: route.source,
            events: route.events,
            userId: route.userId,
            message: route.message,
            whenLimited,
            notify: "[b]Urgent[/b]: order {{ payload.data.orderId }}: {{ payload.data.note }}",
            notifyTag: "orders:{{ payload.data.kind }}",
          }
        : { ...route, to: undefined },
    ),
  });
}

describe("whenLimited: notify through the local bridge", () => {
  const bridge = useTestBridge(notifyingConfig("notify"), { sweepEveryMs: 250 });
  afterEach(() => expect(bridge.simulator?.stats.overlapping).toBe(0));

  const notificationsOf = (userId: number) =>
    bridge.simulator?.notifications.filter((notification) => notification.userId === userId) ?? [];

  it("a second event in the week reaches the user at once as a notification, and again in the digest", async () => {
    const userId = freshUser();
    const first = order(userId, "first");
    expect((await postWebhook(bridge, "app", first)).status).toBe(202);
    await bridge.waitForMessages(userId, 1, 10_000);

    // Sender text that tries BB-code: escaped in the notification as in the message.
    const second = order(userId, "card declined [url=https://evil.example]pay here[/url]");
    expect((await postWebhook(bridge, "app", second)).status).toBe(202);
    const notified = await bridge.waitForRecord(jobOf(second), "notified", 10_000);
    expect(notified).toMatchObject({ outcome: "notified", notifyTag: "orders:payment_failed" });
    expect(notified?.dueAt?.getTime()).toBeGreaterThan(Date.now());
    const [notification] = notificationsOf(userId);
    expect(notificationsOf(userId)).toHaveLength(1);
    expect(notification?.message).toMatch(/^\[b\]Urgent\[\/b\]: order \w+: card declined/);
    expect(notification?.message).not.toContain("[url=");
    expect(notification?.tag).toBe("orders:payment_failed");
    // Not on the open line: the week holds one message still.
    expect(bridge.sentTo(userId)).toHaveLength(1);

    // The week (10 s) and its margin pass: the digest carries it, marked as notified.
    const messages = await bridge.waitForMessages(userId, 2, 25_000);
    expect(messages).toHaveLength(2);
    expect(messages[1]?.message).toContain("card declined");
    const final = await bridge.waitForRecord(jobOf(second), "sent", 10_000);
    expect(final).toMatchObject({
      outcome: "sent",
      notifiedAt: notified?.notifiedAt,
      notifyTag: "orders:payment_failed",
    });
    // A digest of one event is that event's own message (docs/design.md), in a digest all the same.
    expect(final?.digestId).toBeDefined();
    expect(messages[1]?.message).not.toContain("Urgent");

    // `hookline events` and the inbox show both deliveries of the one event.
    const listed = await listEvents(bridge.dynamo, TABLE, {
      since: new Date(Date.now() - 600_000),
      userId,
      limit: 50,
    });
    const entry = listed
      .flatMap((event) => event.messages)
      .find((message) => message.jobId === jobOf(second));
    expect(entry).toMatchObject({ outcome: "sent", notifyTag: "orders:payment_failed" });
    expect(entry?.notifiedAt).toBe(notified?.notifiedAt?.toISOString());
    const logged = bridge.requestLog
      .recent()
      .flatMap((request) => request.outcomes)
      .find((outcome) => outcome.jobId === jobOf(second));
    expect(logged).toMatchObject({ outcome: "sent", notifyTag: "orders:payment_failed" });
    expect(logged?.notifiedAt).toBeDefined();
  }, 60_000);

  it("three events with one tag leave one visible notification; the digest lists all three, marked", async () => {
    const userId = freshUser();
    const first = order(userId, "first");
    await postWebhook(bridge, "app", first);
    await bridge.waitForMessages(userId, 1, 10_000);

    const attempts = ["dunning one", "dunning two", "dunning three"].map((note) =>
      order(userId, note),
    );
    for (const request of attempts) {
      expect((await postWebhook(bridge, "app", request)).status).toBe(202);
      // One at a time, so the newest notification is the last one sent.
      await bridge.waitForRecord(jobOf(request), "notified", 10_000);
    }
    const visible = notificationsOf(userId);
    expect(visible).toHaveLength(1);
    expect(visible[0]).toMatchObject({ tag: "orders:payment_failed", replaced: 2 });
    expect(visible[0]?.message).toContain("dunning three");
    expect(bridge.simulator?.stats.notified).toBeGreaterThanOrEqual(3);

    const messages = await bridge.waitForMessages(userId, 2, 25_000);
    const digest = messages[1]?.message ?? "";
    expect(digest).toContain("[b]3 updates[/b]");
    expect(digest).toMatch(/dunning one.*\(notified\)[\s\S]*dunning two[\s\S]*dunning three/);
    const finals = await bridge.waitForRecords(attempts.map(jobOf), "sent", 10_000);
    expect(finals.map((r) => [r?.outcome, r?.notifiedAt !== undefined])).toEqual([
      ["sent", true],
      ["sent", true],
      ["sent", true],
    ]);
    expect(new Set(finals.map((r) => r?.digestId)).size).toBe(1);
  }, 60_000);
});

describe("whenLimited: notify-only through the local bridge", () => {
  const bridge = useTestBridge(notifyingConfig("notify-only"), { sweepEveryMs: 250 });

  it("sends the notification alone: sent, and no digest", async () => {
    const userId = freshUser();
    await postAndSettle(bridge, order(userId, "first"));
    const second = order(userId, "only notified");
    await postAndSettle(bridge, second);
    expect(await bridge.outcome(jobOf(second))).toBe("sent");
    expect(bridge.simulator?.notifications.filter((n) => n.userId === userId)).toHaveLength(1);
    // Past the week: no digest follows.
    await sleep((WEEK_SECONDS + 2) * 1000);
    await bridge.queue.idle();
    expect(bridge.simulator?.messages.filter((m) => m.userId === userId)).toHaveLength(1);
  }, 40_000);
});
