import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authorizePortal } from "../../cli/commands/oauth";
import type { Target } from "../../cli/target";
import {
  exchangeAuthorizationCode,
  makeBitrixOAuthClient,
  type OAuthApp,
  refreshWithBitrix,
} from "../../functions/adapters/bitrix-oauth";
import { ensureTable } from "../../functions/adapters/dynamo/table";
import { makeDynamoTokenStore } from "../../functions/adapters/dynamo/tokens";
import { type Clock, sleep } from "../../functions/core/clock";
import { parseConfig } from "../../functions/core/config";
import { makeTokenProvider } from "../../functions/core/oauth";
import type { TokenStore } from "../../functions/core/ports";
import { type BitrixSimulator, startBitrixSimulator } from "../../functions/local/bitrix-simulator";
import { type LocalDynamo, makeTestClient, startDynalite } from "../support/dynamo-servers";

/**
 * OAuth portals against the simulator's OAuth server (short-lived access tokens, refresh tokens
 * that rotate and refuse reuse) and the DynamoDB token store on dynalite.
 */

const LINE = "0123456789abcdef0123456789abcdef";
const TABLE = "hookline-oauth";
/** Long enough that no token runs out during a test on a loaded machine; tests move time instead. */
const TTL_MS = 60_000;
const CREDENTIALS = {
  clientId: "local.app.1",
  clientSecret: "app-secret",
  refreshToken: "first-rt",
};

describe("an OAuth portal", () => {
  let dynamo: LocalDynamo;
  let portal: BitrixSimulator;
  let app: OAuthApp;
  let store: TokenStore;
  let unique = 0;
  /** How far the OAuth server's clock (and the workers' default clock) is ahead of the real one. */
  let aheadMs = 0;
  const shiftedNow = () => Date.now() + aheadMs;

  beforeAll(async () => {
    [dynamo, portal] = await Promise.all([
      startDynalite(),
      startBitrixSimulator({
        openLineCodes: [LINE],
        rateLimit: { burst: 200, perSecond: 50 },
        oauth: { ...CREDENTIALS, accessTokenTtlMs: TTL_MS },
        now: shiftedNow,
      }),
    ]);
    const client = makeTestClient(dynamo.endpoint);
    await ensureTable(client, TABLE);
    store = makeDynamoTokenStore(client, TABLE);
    app = {
      server: portal.origin,
      clientId: CREDENTIALS.clientId,
      clientSecret: CREDENTIALS.clientSecret,
    };
  });
  afterAll(async () => {
    await Promise.allSettled([portal?.close(), dynamo?.close()]);
  });

  /** One worker (a Lambda container): its own provider and client over the shared store. */
  const worker = (portalId: string, options: { store?: TokenStore; clock?: Clock } = {}) => {
    const tokens = makeTokenProvider({
      portal: portalId,
      store: options.store ?? store,
      initialRefreshToken: async () => portal.oauth?.currentRefreshToken() ?? "",
      refresh: (refreshToken) => refreshWithBitrix(app, refreshToken),
      clock: options.clock ?? { now: () => new Date(shiftedNow()) },
      sleep: (ms) => sleep(Math.min(ms, 50)),
    });
    return makeBitrixOAuthClient({ portalUrl: portal.origin, tokens, timeoutMs: 5000 });
  };
  const message = (userId: number) => ({ userId, message: `hello ${userId}` });

  it("refreshes exactly once for 20 concurrent deliveries across an access-token expiry", async () => {
    const portalId = `portal-${++unique}`;
    const workers = Array.from({ length: 20 }, () => worker(portalId));
    const refreshesBefore = portal.oauth?.stats.refreshes ?? 0;

    // The first send seeds the store from the configured refresh token and refreshes once.
    expect(await workers[0]?.sendNetworkMessage(LINE, message(1000 + unique * 100))).toEqual({
      kind: "sent",
    });
    expect(portal.oauth?.stats.refreshes).toBe(refreshesBefore + 1);

    aheadMs += TTL_MS + 1_000; // the access token runs out: time moves, no sleep
    const results = await Promise.all(
      workers.map((client, index) =>
        client.sendNetworkMessage(LINE, message(1000 + unique * 100 + index + 1)),
      ),
    );
    expect(results).toEqual(workers.map(() => ({ kind: "sent" })));
    expect(portal.oauth?.stats.refreshes).toBe(refreshesBefore + 2);
    expect(portal.oauth?.stats.refused).toBe(0);
    // Both new tokens were stored in the same write: the stored refresh token is the live one.
    expect((await store.read(portalId))?.refreshToken).toBe(portal.oauth?.currentRefreshToken());
  });

  it("repeats a call refused with expired_token once, after one refresh", async () => {
    const portalId = `portal-${++unique}`;
    const client = worker(portalId);
    await client.sendNetworkMessage(LINE, message(5000 + unique));
    // Our own record still thinks the token is good: Bitrix24 says otherwise first.
    const stored = await store.read(portalId);
    await store.replace(
      portalId,
      {
        accessToken: "revoked-access-token",
        refreshToken: stored?.refreshToken ?? "",
        accessExpiresAt: Date.now() + 3_600_000,
      },
      new Date(),
    );
    const before = portal.oauth?.stats.refreshes ?? 0;
    expect(await client.sendNetworkMessage(LINE, message(5100 + unique))).toEqual({ kind: "sent" });
    expect(portal.oauth?.stats.refreshes).toBe(before + 1);
  });

  it("after a refresh that crashed once Bitrix24 had rotated the token: a configuration fault that keeps the message queued, then recovery with a new authorization", async () => {
    const portalId = `portal-${++unique}`;
    let now = Date.now();
    const clock: Clock = { now: () => new Date(now) };
    let crash = false;
    // The store write after the OAuth server's answer never happens: the process died there.
    const crashing: TokenStore = {
      ...store,
      commitRefresh: async (...args) => {
        if (crash) throw new Error("process crashed before the store write");
        return store.commitRefresh(...args);
      },
    };
    const dying = worker(portalId, { store: crashing, clock });
    expect(await dying.sendNetworkMessage(LINE, message(7000 + unique))).toEqual({ kind: "sent" });

    now += 2 * TTL_MS; // past the lifetime the token answer stated (whole seconds)
    crash = true;
    await expect(dying.sendNetworkMessage(LINE, message(7001 + unique))).rejects.toThrow(/crashed/);

    // Another worker, once the crashed refresh's lease ran out, spends the old refresh token.
    now += 31_000;
    const next = worker(portalId, { clock });
    const refused = await next.sendNetworkMessage(LINE, message(7002 + unique));
    expect(refused).toMatchObject({ kind: "retry", code: "invalid_grant", configFault: true });
    expect((await store.read(portalId))?.lastError).toBe("invalid_grant");
    // It stays a configuration fault (alarmed), never a send, until a person re-authorizes.
    expect(await next.sendNetworkMessage(LINE, message(7003 + unique))).toMatchObject({
      kind: "retry",
      configFault: true,
    });

    // Recovery (hookline oauth <portal>): a new authorization code from the app's install page.
    const code = portal.oauth?.authorizationCode() ?? "";
    const fresh = await exchangeAuthorizationCode(app, code);
    if (!fresh.ok) throw new Error(`code exchange failed: ${fresh.error}`);
    await store.replace(
      portalId,
      {
        accessToken: fresh.accessToken,
        refreshToken: fresh.refreshToken,
        accessExpiresAt: now + fresh.expiresInSeconds * 1000,
      },
      clock.now(),
    );
    expect(await next.sendNetworkMessage(LINE, message(7004 + unique))).toEqual({ kind: "sent" });
  });

  it("hookline oauth <portal> --code stores the first tokens, and hookline sends with them", async () => {
    const config = parseConfig({
      portals: [
        {
          id: "eu",
          url: portal.origin,
          oauth: {
            clientId: "env:EU_ID",
            clientSecret: "env:EU_SECRET",
            refreshToken: "env:EU_REFRESH",
            server: portal.origin,
          },
          openLines: { billing: LINE },
        },
      ],
      sources: [{ id: "gh", type: "github", secret: "env:GH" }],
    });
    const where: Target = {
      kind: "local",
      label: "the test table",
      dynamo: makeTestClient(dynamo.endpoint),
      tableName: TABLE,
    };
    const env = { EU_ID: CREDENTIALS.clientId, EU_SECRET: CREDENTIALS.clientSecret };
    const report = await authorizePortal(
      where,
      config,
      "eu",
      { code: portal.oauth?.authorizationCode() ?? "" },
      env,
      new Date(shiftedNow()),
    );
    expect(report).toMatchObject({ portal: "eu", stored: "authorization-code" });
    expect(JSON.stringify(report)).not.toContain(portal.oauth?.currentRefreshToken() ?? "?");
    expect((await store.read("eu"))?.refreshToken).toBe(portal.oauth?.currentRefreshToken());

    const refreshes = portal.oauth?.stats.refreshes ?? 0;
    expect(await worker("eu").sendNetworkMessage(LINE, message(9100))).toEqual({ kind: "sent" });
    // The stored access token was used as it was: no refresh needed.
    expect(portal.oauth?.stats.refreshes).toBe(refreshes);

    await expect(
      authorizePortal(where, config, "eu", { code: "used-or-wrong" }, env, new Date()),
    ).rejects.toThrow(/refused the code \(invalid_grant\)/);
    await expect(
      authorizePortal(where, config, "us", { code: "x" }, env, new Date()),
    ).rejects.toThrow(/no OAuth portal "us" in the config \(OAuth portals: eu\)/);
  });
});
