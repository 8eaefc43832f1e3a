import { randomUUID } from "node:crypto";
import type { Clock } from "./clock";
import { sleep as defaultSleep } from "./clock";
import type { StoredTokens, TokenStore } from "./ports";

/** What Bitrix24's OAuth server answered to a refresh. */
export type RefreshAnswer =
  | { ok: true; accessToken: string; refreshToken: string; expiresInSeconds: number }
  /** `invalid_grant` and the like: the refresh token is dead; a person must act. */
  | { ok: false; fatal: true; error: string }
  /** The OAuth server was unreachable or failed: try again later. */
  | { ok: false; fatal: false; error: string };

/** Raised when a portal's tokens cannot be had: `fatal` means a person must re-authorize. */
export class OAuthUnavailableError extends Error {
  constructor(
    readonly code: string,
    readonly fatal: boolean,
  ) {
    super(`OAuth tokens unavailable: ${code}`);
    this.name = "OAuthUnavailableError";
  }
}

export interface TokenProviderDeps {
  portal: string;
  store: TokenStore;
  /** The configured refresh token (a secret), used once to seed the store. */
  initialRefreshToken: () => Promise<string>;
  refresh: (refreshToken: string) => Promise<RefreshAnswer>;
  clock: Clock;
  sleep?: (ms: number) => Promise<void>;
}

/** An access token this close to its end is refreshed before use. */
const EXPIRY_MARGIN_MS = 60_000;
/** How long one worker may hold the refresh before another may take it over. */
const REFRESH_LEASE_MS = 30_000;
/** How long a worker waits for another's refresh before it gives up for this call. */
const MAX_WAIT_MS = 20_000;
const POLL_MS = 200;

export interface TokenProvider {
  /** A valid access token, refreshed first when it is missing or about to run out. */
  accessToken(): Promise<string>;
  /** Bitrix24 refused `failed` as expired: refresh once (unless another worker did already). */
  afterExpired(failed: string): Promise<string>;
  /** Refreshes now if the last refresh is older than `maxAgeMs` (keeps the refresh token alive). */
  keepAlive(maxAgeMs: number): Promise<"fresh" | "refreshed">;
}

/**
 * One portal's OAuth tokens, shared by every worker through the store. Refreshes are serialised:
 * a worker takes the refresh with a conditional write on the version, calls the OAuth server,
 * and stores the rotated refresh token and the new access token in one conditional write; the
 * others wait for the version to move and use the new token. They never refresh in parallel, so
 * no worker spends a refresh token another has already rotated.
 *
 * @example
 * const tokens = makeTokenProvider({ portal: "eu", store, initialRefreshToken, refresh, clock });
 * const token = await tokens.accessToken();
 */
export function makeTokenProvider(deps: TokenProviderDeps): TokenProvider {
  const { portal, store, clock } = deps;
  const sleep = deps.sleep ?? defaultSleep;
  const holder = randomUUID();

  /** Usable for a call now: a tenth of its lifetime (at most a minute) is kept as margin. */
  const usable = (tokens: StoredTokens): boolean => {
    const lifetime = tokens.accessExpiresAt - tokens.refreshedAt;
    const margin = Math.min(EXPIRY_MARGIN_MS, Math.max(0, lifetime / 10));
    return tokens.accessToken !== "" && tokens.accessExpiresAt - margin > clock.now().getTime();
  };

  async function current(): Promise<StoredTokens> {
    const stored = await store.read(portal);
    if (stored) return stored;
    await store.seed(portal, await deps.initialRefreshToken(), clock.now());
    const seeded = await store.read(portal);
    if (!seeded) throw new Error(`OAuth tokens of portal ${portal} vanished after seeding`);
    return seeded;
  }

  /** Refreshes `version` (or waits for whoever does) and returns the tokens after it. */
  async function refreshFrom(version: number): Promise<StoredTokens> {
    const deadline = clock.now().getTime() + MAX_WAIT_MS;
    for (;;) {
      const now = clock.now();
      if (await store.takeRefresh(portal, version, holder, now, REFRESH_LEASE_MS)) {
        return refreshAsHolder();
      }
      const seen = await store.read(portal);
      if (seen && seen.version > version) return seen;
      if (seen?.lastError && !seen.refreshing) {
        throw new OAuthUnavailableError(seen.lastError, seen.lastError === "invalid_grant");
      }
      if (now.getTime() > deadline) throw new OAuthUnavailableError("REFRESH_WAIT", false);
      await sleep(POLL_MS);
    }
  }

  async function refreshAsHolder(): Promise<StoredTokens> {
    const before = await store.read(portal);
    if (!before) throw new Error(`OAuth tokens of portal ${portal} vanished during a refresh`);
    let answer: RefreshAnswer;
    try {
      answer = await deps.refresh(before.refreshToken);
    } catch (error) {
      answer = { ok: false, fatal: false, error: (error as Error).name || "REFRESH_FAILED" };
    }
    const now = clock.now();
    if (!answer.ok) {
      await store.failRefresh(portal, holder, answer.error, now);
      throw new OAuthUnavailableError(answer.error, answer.fatal);
    }
    const committed = await store.commitRefresh(
      portal,
      holder,
      {
        accessToken: answer.accessToken,
        refreshToken: answer.refreshToken,
        accessExpiresAt: now.getTime() + answer.expiresInSeconds * 1000,
      },
      now,
    );
    // Our lease ran out and another worker took over: the rotated token is lost. Only a person
    // can recover (see README, "OAuth app"); say so rather than use a token nobody stored.
    if (!committed) throw new OAuthUnavailableError("REFRESH_LOST", true);
    const after = await store.read(portal);
    if (!after) throw new Error(`OAuth tokens of portal ${portal} vanished after a refresh`);
    return after;
  }

  return {
    async accessToken() {
      const tokens = await current();
      if (usable(tokens)) return tokens.accessToken;
      return (await refreshFrom(tokens.version)).accessToken;
    },

    async afterExpired(failed) {
      const tokens = await current();
      // Another worker refreshed since this one read the token: use theirs.
      if (tokens.accessToken !== failed && usable(tokens)) return tokens.accessToken;
      return (await refreshFrom(tokens.version)).accessToken;
    },

    async keepAlive(maxAgeMs) {
      const tokens = await current();
      if (clock.now().getTime() - tokens.refreshedAt < maxAgeMs && tokens.accessToken !== "") {
        return "fresh";
      }
      await refreshFrom(tokens.version);
      return "refreshed";
    },
  };
}
