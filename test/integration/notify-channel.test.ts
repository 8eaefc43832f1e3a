import { describe, expect, it } from "vitest";
import { makeBitrixWebhookClient } from "../../functions/adapters/bitrix-client";
import { makeBitrixOAuthClient, refreshWithBitrix } from "../../functions/adapters/bitrix-oauth";
import type { TokenProvider } from "../../functions/core/oauth";
import { startBitrixSimulator } from "../../functions/local/bitrix-simulator";
import { useStarted } from "../support/use-started";

/**
 * The second channel between the Bitrix24 clients and the simulator over HTTP:
 * `im.notify.system.add` with its scope, its TAG replacement and its limits (docs/notify.md).
 */

const LINE = "ab515f5d85a8b844d484f6ea75a2e494";
const TIMEOUT_MS = 5000;

describe("im.notify.system.add through the webhook client", () => {
  const sim = useStarted("the simulator", () =>
    startBitrixSimulator({ openLineCodes: [LINE], rateLimit: { burst: 1000, perSecond: 1000 } }),
  );
  const client = () =>
    makeBitrixWebhookClient({ webhookUrl: sim.webhookUrl, timeoutMs: TIMEOUT_MS });

  it("delivers a notification with its BB-code and ATTACH, under hookline's CLIENT_ID", async () => {
    const attach = [{ MESSAGE: "details" }];
    await expect(
      client().sendSystemNotification({
        userId: 7,
        message: "[b]Payment failed[/b]",
        attach,
        tag: "hookline:0",
      }),
    ).resolves.toEqual({ kind: "sent" });
    expect(sim.notifications.at(-1)).toMatchObject({
      userId: 7,
      message: "[b]Payment failed[/b]",
      attach,
      tag: "hookline:0",
      clientId: "hookline",
      replaced: 0,
    });
    // A notification is not an open-line message: the user's week stays free.
    expect(sim.messages).toHaveLength(0);
  });

  it("three notifications with one tag leave one visible, the newest; another user's stays", async () => {
    const bitrix = client();
    await bitrix.sendSystemNotification({ userId: 8, message: "other user", tag: "dunning" });
    for (const attempt of [1, 2, 3]) {
      await expect(
        bitrix.sendSystemNotification({ userId: 9, message: `attempt ${attempt}`, tag: "dunning" }),
      ).resolves.toEqual({ kind: "sent" });
    }
    const user9 = sim.notifications.filter((n) => n.userId === 9);
    expect(user9).toEqual([expect.objectContaining({ message: "attempt 3", replaced: 2 })]);
    expect(sim.notifications.filter((n) => n.userId === 8)).toHaveLength(1);
    // Each one was a request of its own (no weekly limit), counted as delivered.
    expect(sim.stats.notified).toBeGreaterThanOrEqual(4);
  });

  it("refuses ATTACH over 60,000 characters for good", async () => {
    const attach = [{ MESSAGE: "x".repeat(61_000) }];
    await expect(
      client().sendSystemNotification({ userId: 10, message: "big", attach, tag: "t" }),
    ).resolves.toEqual({ kind: "permanent", code: "ATTACH_OVERSIZE", status: 400 });
  });

  it("a TAG without CLIENT_ID from a webhook is refused (hookline always sends one)", async () => {
    const answer = await fetch(new URL("im.notify.system.add", sim.webhookUrl), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ USER_ID: 11, MESSAGE: "x", TAG: "t" }),
    });
    expect(answer.status).toBe(400);
    expect(await answer.json()).toMatchObject({ error: "CLIENT_ID_EMPTY" });
  });

  it("shares the portal's leaky bucket with open-line messages", async () => {
    const small = await startBitrixSimulator({
      openLineCodes: [LINE],
      rateLimit: { burst: 2, perSecond: 1 },
      // A frozen clock: the bucket does not drain between the requests.
      now: () => Date.UTC(2026, 11, 4, 9),
    });
    try {
      const bitrix = makeBitrixWebhookClient({
        webhookUrl: small.webhookUrl,
        timeoutMs: TIMEOUT_MS,
      });
      await expect(bitrix.sendNetworkMessage(LINE, { userId: 1, message: "hi" })).resolves.toEqual({
        kind: "sent",
      });
      await expect(
        bitrix.sendSystemNotification({ userId: 1, message: "hi", tag: "t" }),
      ).resolves.toEqual({ kind: "sent" });
      await expect(
        bitrix.sendSystemNotification({ userId: 2, message: "hi", tag: "t" }),
      ).resolves.toMatchObject({ kind: "retry", code: "QUERY_LIMIT_EXCEEDED" });
    } finally {
      await small.close();
    }
  });
});

describe("a portal whose webhook lacks the im scope", () => {
  const sim = useStarted("the simulator", () =>
    startBitrixSimulator({ openLineCodes: [LINE], scopes: ["imopenlines"] }),
  );

  it("answers insufficient_scope: a configuration fault, nothing delivered", async () => {
    const bitrix = makeBitrixWebhookClient({ webhookUrl: sim.webhookUrl, timeoutMs: TIMEOUT_MS });
    await expect(
      bitrix.sendSystemNotification({ userId: 7, message: "x", tag: "t" }),
    ).resolves.toEqual({ kind: "config", code: "insufficient_scope", status: 403 });
    expect(sim.notifications).toHaveLength(0);
    // The open line still works: its scope is there.
    await expect(bitrix.sendNetworkMessage(LINE, { userId: 7, message: "x" })).resolves.toEqual({
      kind: "sent",
    });
  });
});

describe("im.notify.system.add through the OAuth client", () => {
  const credentials = { clientId: "app.notify", clientSecret: "secret", refreshToken: "r0" };
  const sim = useStarted("the simulator", () =>
    startBitrixSimulator({ openLineCodes: [LINE], oauth: credentials }),
  );

  it("sends no CLIENT_ID (the app's own id scopes its tags) and replaces by tag", async () => {
    let access: string | undefined;
    const app = { server: sim.origin, ...credentials };
    const fetchToken = async () => {
      const answer = await refreshWithBitrix(app, sim.oauth?.currentRefreshToken() ?? "");
      if (!answer.ok) throw new Error(answer.error);
      access = answer.accessToken;
      return access;
    };
    const tokens: TokenProvider = {
      accessToken: async () => access ?? fetchToken(),
      afterExpired: fetchToken,
      keepAlive: async () => "fresh",
    };
    const bitrix = makeBitrixOAuthClient({ portalUrl: sim.origin, tokens, timeoutMs: TIMEOUT_MS });
    for (const text of ["first", "second"]) {
      await expect(
        bitrix.sendSystemNotification({ userId: 3, message: text, tag: "hookline:1" }),
      ).resolves.toEqual({ kind: "sent" });
    }
    expect(sim.notifications).toEqual([
      expect.objectContaining({
        userId: 3,
        message: "second",
        clientId: "app.notify",
        replaced: 1,
      }),
    ]);
  });
});
