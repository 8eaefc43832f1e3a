import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authorizePortal } from "../../cli/commands/oauth";
import type { Target } from "../../cli/target";
import {
  exchangeAuthorizationCode,
  makeBitrixOAuthClient,
  type OAuthApp,
  refreshWithBitrix,
} from "../../functions/adapters/bitrix-oauth";
import { makeDynamoTokenStore } from "../../functions/adapters/dynamo/tokens";
import { type Clock, sleep } from "../../functions/core/clock";
import { parseConfig } from "../../functions/core/config";
import {
  makeTokenProvider,
  REFRESH_LEASE_MS,
  type RefreshAnswer,
} from "../../functions/core/oauth";
import type { TokenStore } from "../../functions/core/ports";
import { type BitrixSimulator, startBitrixSimulator } from "../../functions/local/bitrix-simulator";
import { ensureTable } from "../../functions/local/ensure-table";
import { EU_OAUTH } from "../support/config-fixtures";
import { type LocalDynamo, makeTestClient, startDynalite } from "../support/dynamo-servers";
import { FakeClock } from "../support/fake-clock";
import { latch } from "../support/latch";

/**
 * OAuth portals against the simulator's OAuth server (short-lived access tokens, refresh tokens
 * that rotate and refuse reuse) and the DynamoDB token store on dynalite.
 */

const LINE = "0123456789abcdef0123456789abcdef";
const TABLE = "hookline-oauth";
/** An hour, as Bitrix24's: tokens run out because the tests move the clocks, never by waiting. */
const TTL_MS = 3_600_000;
/** How far the portal's clock and the workers' shared clock are ahead of the real one. */
let skew = 0;
const shifted = () => Date.now() + skew;
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

  beforeAll(async () => {
    [dynamo, portal] = await Promise.all([
      startDynalite(),
      startBitrixSimulator({
        openLineCodes: [LINE],
        rateLimit: { burst: 200, perSecond: 50 },
        oauth: { ...CREDENTIALS, accessTokenTtlMs: TTL_MS },
        now: shifted,
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
  const worker = (
    portalId: string,
    options: {
      store?: TokenStore;
      clock?: Clock;
      refresh?: (refreshToken: string) => Promise<RefreshAnswer>;
      sleep?: (ms: number) => Promise<void>;
    } = {},
  ) => {
    const tokens = makeTokenProvider({
      portal: portalId,
      store: options.store ?? store,
      initialRefreshToken: async () => portal.oauth?.currentRefreshToken() ?? "",
      refresh: options.refresh ?? ((refreshToken) => refreshWithBitrix(app, refreshToken)),
      clock: options.clock ?? { now: () => new Date(shifted()) },
      sleep: options.sleep ?? ((ms) => sleep(Math.min(ms, 50))),
    });
    return makeBitrixOAuthClient({ portalUrl: portal.origin, tokens, timeoutMs: 5000 });
  };
  const message = (userId: number) => ({ userId, message: `hello ${userId}` });
  /** The shared store, except that while `failing` is set its commitRefresh throws `error()`. */
  const failingCommits = (error: () => Error) => {
    const commits: { failing: boolean; store: TokenStore } = {
      failing: false,
      store: {
        ...store,
        commitRefresh: async (...args) => {
          if (commits.failing) throw error();
          return store.commitRefresh(...args);
        },
      },
    };
    return commits;
  };
  /** Our own record still thinks the access token is good; Bitrix24 refuses it. */
  async function revokeAccessToken(portalId: string) {
    const stored = await store.read(portalId);
    await store.replace(
      portalId,
      {
        accessToken: "revoked-access-token",
        refreshToken: stored?.refreshToken ?? "",
        accessExpiresAt: shifted() + 3_600_000,
      },
      new Date(shifted()),
    );
  }

  it("refreshes exactly once for 20 concurrent deliveries across an access-token expiry", async () => {
    const portalId = `portal-${++unique}`;
    const workers = Array.from({ length: 20 }, () => worker(portalId));
    const refreshesBefore = portal.oauth?.stats.refreshes ?? 0;

    // The first send seeds the store from the configured refresh token and refreshes once.
    expect(await workers[0]?.sendNetworkMessage(LINE, message(1000 + unique * 100))).toEqual({
      kind: "sent",
    });
    expect(portal.oauth?.stats.refreshes).toBe(refreshesBefore + 1);

    skew += TTL_MS + 1000; // the access token runs out, for the portal and the workers alike
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
    await revokeAccessToken(portalId);
    const before = portal.oauth?.stats.refreshes ?? 0;
    expect(await client.sendNetworkMessage(LINE, message(5100 + unique))).toEqual({ kind: "sent" });
    expect(portal.oauth?.stats.refreshes).toBe(before + 1);
  });

  it("sends a batch with the app's token, and repeats it once after expired_token and a refresh", async () => {
    const portalId = `portal-${++unique}`;
    const client = worker(portalId);
    if (!client.sendBatch) throw new Error("the OAuth client sends batches");
    const users = [6000, 6001, 6002].map((u) => u + unique * 10);
    expect(await client.sendBatch(LINE, users.slice(0, 2).map(message))).toEqual([
      { kind: "sent" },
      { kind: "sent" },
    ]);
    await revokeAccessToken(portalId);
    const before = portal.oauth?.stats.refreshes ?? 0;
    const accepted = portal.stats.accepted;
    // The whole request was refused (401): nothing ran, so the repeat cannot send twice.
    expect(await client.sendBatch(LINE, [message(users[2] as number)])).toEqual([{ kind: "sent" }]);
    expect(portal.oauth?.stats.refreshes).toBe(before + 1);
    expect(portal.stats.accepted).toBe(accepted + 1);
  });

  it("after a refresh that crashed once Bitrix24 had rotated the token: a configuration fault that keeps the message queued, then recovery with a new authorization", async () => {
    const portalId = `portal-${++unique}`;
    const clock = new FakeClock(shifted());
    // The store write after the OAuth server's answer never happens: the process died there.
    const crashing = failingCommits(() => new Error("process crashed before the store write"));
    const dying = worker(portalId, { store: crashing.store, clock });
    expect(await dying.sendNetworkMessage(LINE, message(7000 + unique))).toEqual({ kind: "sent" });

    clock.advance(2 * TTL_MS); // past the lifetime the token answer stated (whole seconds)
    crashing.failing = true;
    expect(await dying.sendNetworkMessage(LINE, message(7001 + unique))).toMatchObject({
      kind: "retry",
      code: "TOKEN_STORE_UNAVAILABLE",
    });

    // Another worker, once the crashed refresh's lease ran out (longer than any worker lives),
    // spends the old refresh token.
    clock.advance(REFRESH_LEASE_MS + 1000);
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
        accessExpiresAt: clock.ms + fresh.expiresInSeconds * 1000,
      },
      clock.now(),
    );
    expect(await next.sendNetworkMessage(LINE, message(7004 + unique))).toEqual({ kind: "sent" });
  });

  /**
   * A worker whose refresh is held up after the OAuth server answered (its process paused, a slow
   * network): the server has already rotated the refresh token, the worker has not stored it yet.
   * It works on a portal of its own, on a clock the test moves.
   */
  const slowHolder = () => {
    const portalId = `portal-${++unique}`;
    const clock = new FakeClock(shifted());
    let slow = false;
    const released = latch();
    const rotated = latch();
    const client = worker(portalId, {
      clock,
      refresh: async (refreshToken) => {
        const answer = await refreshWithBitrix(app, refreshToken);
        if (slow) {
          rotated.open();
          await released.opened;
        }
        return answer;
      },
    });
    return {
      portalId,
      clock,
      client,
      /** From now on a refresh stops after the server's answer until `release`. */
      slowDown: () => {
        slow = true;
      },
      rotated: rotated.opened,
      release: released.open,
    };
  };

  it("a refresh slower than 30 s is not taken over: the other worker never spends the rotated refresh token, and uses the holder's tokens once stored", async () => {
    const holder = slowHolder();
    const { portalId, clock } = holder;
    expect(await holder.client.sendNetworkMessage(LINE, message(11_000 + unique))).toEqual({
      kind: "sent",
    });

    clock.advance(2 * TTL_MS); // the access token runs out
    holder.slowDown();
    const holding = holder.client.sendNetworkMessage(LINE, message(11_100 + unique));
    await holder.rotated;
    clock.advance(31_000); // the holder is slower than the old 30 s lease
    const refusedBefore = portal.oauth?.stats.refused ?? 0;
    const refreshesBefore = portal.oauth?.stats.refreshes ?? 0;
    const sentBefore = portal.messages.length;
    const other = worker(portalId, { clock });
    // Not a configuration fault and nothing sent: the message is simply tried again later.
    const meanwhile = await other.sendNetworkMessage(LINE, message(11_200 + unique));
    expect(meanwhile).toMatchObject({ kind: "retry", code: "REFRESH_WAIT" });
    expect(meanwhile).not.toHaveProperty("configFault", true);
    holder.release();

    expect(await holding).toEqual({ kind: "sent" });
    expect(portal.messages.length).toBe(sentBefore + 1);
    expect(await other.sendNetworkMessage(LINE, message(11_300 + unique))).toEqual({
      kind: "sent",
    });
    expect(portal.oauth?.stats.refused).toBe(refusedBefore);
    expect(portal.oauth?.stats.refreshes).toBe(refreshesBefore);
    const stored = await store.read(portalId);
    expect(stored?.refreshToken).toBe(portal.oauth?.currentRefreshToken());
    expect(stored?.lastError).toBeUndefined();
  });

  it("a worker that finds a refresh under way waits for it and uses its tokens", async () => {
    const holder = slowHolder();
    const { portalId, clock } = holder;
    await holder.client.sendNetworkMessage(LINE, message(11_500 + unique));
    clock.advance(2 * TTL_MS);
    holder.slowDown();
    const holding = holder.client.sendNetworkMessage(LINE, message(11_600 + unique));
    await holder.rotated;
    const refreshesBefore = portal.oauth?.stats.refreshes ?? 0;
    const other = worker(portalId, {
      clock,
      // While the other worker waits, time passes and the holder stores its tokens.
      sleep: async (ms) => {
        clock.advance(ms);
        holder.release();
        await holding;
      },
    });
    expect(await other.sendNetworkMessage(LINE, message(11_700 + unique))).toEqual({
      kind: "sent",
    });
    expect(await holding).toEqual({ kind: "sent" });
    expect(portal.oauth?.stats.refreshes).toBe(refreshesBefore);
  });

  it("a holder's rotated tokens are stored even after its lease ran out and a taker was refused with invalid_grant", async () => {
    const holder = slowHolder();
    const { portalId, clock } = holder;
    expect(await holder.client.sendNetworkMessage(LINE, message(12_000 + unique))).toEqual({
      kind: "sent",
    });

    clock.advance(2 * TTL_MS);
    holder.slowDown();
    const holding = holder.client.sendNetworkMessage(LINE, message(12_100 + unique));
    await holder.rotated;
    clock.advance(3_600_000); // paused for an hour: past any lease, the holder counts as gone
    const taker = worker(portalId, { clock });
    // The taker may spend the old refresh token only now, and the server refuses it.
    expect(await taker.sendNetworkMessage(LINE, message(12_200 + unique))).toMatchObject({
      kind: "retry",
      code: "invalid_grant",
    });

    holder.release();
    // The holder's commit is kept: the only live refresh token is not thrown away.
    expect(await holding).toEqual({ kind: "sent" });
    const stored = await store.read(portalId);
    expect(stored?.refreshToken).toBe(portal.oauth?.currentRefreshToken());
    expect(stored?.lastError).toBeUndefined();
    expect(await taker.sendNetworkMessage(LINE, message(12_300 + unique))).toEqual({
      kind: "sent",
    });
  });

  it("rotated tokens whose store write failed are kept by their worker and stored before its next call", async () => {
    const portalId = `portal-${++unique}`;
    const clock = new FakeClock(shifted());
    const flaky = failingCommits(() =>
      Object.assign(new Error("throttled"), { name: "ThrottlingException" }),
    );
    const client = worker(portalId, { store: flaky.store, clock });
    expect(await client.sendNetworkMessage(LINE, message(14_000 + unique))).toEqual({
      kind: "sent",
    });

    clock.advance(2 * TTL_MS);
    flaky.failing = true;
    const sentBefore = portal.messages.length;
    expect(await client.sendNetworkMessage(LINE, message(14_100 + unique))).toMatchObject({
      kind: "retry",
      code: "TOKEN_STORE_UNAVAILABLE",
    });
    expect(portal.messages.length).toBe(sentBefore);
    // Meanwhile nobody else spends the refresh token this worker already spent: others wait
    // (their time passes while they poll) and give up for now.
    const refusedBefore = portal.oauth?.stats.refused ?? 0;
    const other = worker(portalId, {
      clock,
      sleep: async (ms) => {
        clock.advance(ms);
      },
    });
    expect(await other.sendNetworkMessage(LINE, message(14_200 + unique))).toMatchObject({
      kind: "retry",
      code: "REFRESH_WAIT",
    });

    flaky.failing = false;
    const refreshes = portal.oauth?.stats.refreshes ?? 0;
    expect(await client.sendNetworkMessage(LINE, message(14_300 + unique))).toEqual({
      kind: "sent",
    });
    expect(portal.oauth?.stats.refreshes).toBe(refreshes);
    expect(portal.oauth?.stats.refused).toBe(refusedBefore);
    expect((await store.read(portalId))?.refreshToken).toBe(portal.oauth?.currentRefreshToken());
  });

  it("a token-store read error is a retryable answer: nothing sent, no refresh held", async () => {
    const portalId = `portal-${++unique}`;
    const sent = portal.messages.length;
    const failing: TokenStore = {
      ...store,
      read: async () => {
        throw Object.assign(new Error("socket hang up"), { name: "TimeoutError" });
      },
    };
    const result = await worker(portalId, { store: failing }).sendNetworkMessage(
      LINE,
      message(13_000 + unique),
    );
    expect(result).toMatchObject({ kind: "retry", code: "TOKEN_STORE_UNAVAILABLE" });
    expect(result).not.toHaveProperty("configFault", true);
    expect(portal.messages.length).toBe(sent);
    expect(await store.read(portalId)).toBeUndefined();
  });

  it("hookline oauth <portal> --code stores the first tokens, and hookline sends with them", async () => {
    const config = parseConfig({
      portals: [
        {
          id: "eu",
          url: portal.origin,
          oauth: { ...EU_OAUTH, server: portal.origin },
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
      new Date(shifted()),
    );
    expect(report).toMatchObject({ portal: "eu", stored: "authorization-code" });
    expect(JSON.stringify(report)).not.toContain(portal.oauth?.currentRefreshToken() ?? "?");
    expect((await store.read("eu"))?.refreshToken).toBe(portal.oauth?.currentRefreshToken());

    const refreshes = portal.oauth?.stats.refreshes ?? 0;
    expect(await worker("eu").sendNetworkMessage(LINE, message(9100))).toEqual({ kind: "sent" });
    // The stored access token was used as it was: no refresh needed.
    expect(portal.oauth?.stats.refreshes).toBe(refreshes);

    await expect(
      authorizePortal(where, config, "eu", { code: "used-or-wrong" }, env, new Date(shifted())),
    ).rejects.toThrow(/refused the code \(invalid_grant\)/);
    await expect(
      authorizePortal(where, config, "us", { code: "x" }, env, new Date(shifted())),
    ).rejects.toThrow(/no OAuth portal "us" in the config \(OAuth portals: eu\)/);
  });
});

// The token request over node:http (functions/adapters/http-exchange.ts): no whole answer is
// OAUTH_UNREACHABLE, never fatal, and never a promise that outlives the refresh lease.
describe("the token request", () => {
  const tokens = '{"access_token":"at-1","refresh_token":"rt-2","expires_in":3600}';
  it.each([
    [
      "a closed port is unreachable",
      undefined,
      { ok: false, fatal: false, error: "OAUTH_UNREACHABLE" },
    ],
    [
      "an answer cut off halfway is unreachable",
      (res: ServerResponse) => {
        res.writeHead(200, { "content-length": "100" }).write('{"access_token":');
        setTimeout(() => res.destroy(), 20);
      },
      { ok: false, fatal: false, error: "OAUTH_UNREACHABLE" },
    ],
    [
      "a 101 nobody asked for is unreachable",
      (res: ServerResponse) => {
        res.socket?.write(
          "HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: x\r\n\r\n",
        );
      },
      { ok: false, fatal: false, error: "OAUTH_UNREACHABLE" },
    ],
    [
      "a 200 that is not JSON is an HTTP fault",
      (res: ServerResponse) => res.end("<html>maintenance</html>"),
      { ok: false, fatal: false, error: "OAUTH_HTTP_200" },
    ],
    [
      "tokens after a UTF-8 byte order mark are read",
      (res: ServerResponse) => res.end(`\uFEFF${tokens}`),
      { ok: true, accessToken: "at-1", refreshToken: "rt-2", expiresInSeconds: 3600 },
    ],
    [
      // The URL carries the client secret and the refresh token: they go nowhere else.
      "a redirect is not followed",
      (res: ServerResponse) => res.writeHead(302, { location: "http://192.0.2.1/steal" }).end(),
      { ok: false, fatal: false, error: "OAUTH_HTTP_302" },
    ],
  ])("%s", async (_name, answer, expected) => {
    const server = createServer((_req, res) => answer?.(res));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const app: OAuthApp = {
      server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      clientId: "local.app.1",
      clientSecret: "app-secret",
    };
    if (!answer) await new Promise((resolve) => server.close(resolve));
    try {
      await expect(refreshWithBitrix(app, "rt-1")).resolves.toEqual(expected);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});
