import { randomUUID } from "node:crypto";
import type { Clock } from "./clock";
import { sleep as defaultSleep } from "./clock";
import { HooklineError } from "./errors";
import type { StoredTokens, TokenStore } from "./ports";

/** What Bitrix24's OAuth server answered to a refresh. */
export type RefreshAnswer =
  | { ok: true; accessToken: string; refreshToken: string; expiresInSeconds: number }
  /** `invalid_grant` and the like: the refresh token is dead; a person must act. */
  | { ok: false; fatal: true; error: string }
  /** The OAuth server was unreachable or failed: try again later. */
  | { ok: false; fatal: false; error: string };

/** Raised when a portal's tokens cannot be had: `fatal` means a person must re-authorize. */
export class OAuthUnavailableError extends HooklineError {
  constructor(
    override readonly code: string,
    readonly fatal: boolean,
    options?: { cause: unknown },
  ) {
    super(`OAuth tokens unavailable: ${code}`, options);
    this.name = "OAuthUnavailableError";
  }
}

/** The token store failed (a read, a write): nothing was sent, try again later. */
export const TOKEN_STORE_UNAVAILABLE = "TOKEN_STORE_UNAVAILABLE";
/** Another worker's refresh did not end within the wait: try again later. */
export const REFRESH_WAIT = "REFRESH_WAIT";

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
/**
 * How long one worker holds the refresh before another may take it over: longer than any worker
 * runs (a Lambda runs at most 900 s). A holder may have spent the refresh token, so a lease that
 * runs out must mean its holder is gone, never that it is slow (docs/oauth-refresh.md).
 */
export const REFRESH_LEASE_MS = 15 * 60_000;
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
 * One portal's OAuth tokens, shared by every worker through the store. Refreshes are serialised
 * and fenced by the version (docs/oauth-refresh.md):
 * - a worker takes the refresh of version `v` with a conditional write (a lease longer than any
 *   worker lives), re-reads that it still holds `v`, and only then spends `v`'s refresh token;
 * - it stores the rotated refresh token and the new access token in one write conditioned on the
 *   version still being `v`, not on its lease: a slow holder's result is always kept, since the
 *   OAuth server rotates a refresh token once and nobody else can have stored a newer one;
 * - the others wait for the version to move and use the new token; they never spend a refresh
 *   token a live worker may have spent;
 * - a rotated pair whose store write failed stays in memory and is written before anything else.
 * Every store failure surfaces as a retryable {@link OAuthUnavailableError} (`TOKEN_STORE_UNAVAILABLE`).
 *
 * @example
 * const tokens = makeTokenProvider({ portal: "eu", store, initialRefreshToken, refresh, clock });
 * const token = await tokens.accessToken();
 */
export function makeTokenProvider(deps: TokenProviderDeps): TokenProvider {
  const { portal, clock } = deps;
  const store = guarded(deps.store);
  const sleep = deps.sleep ?? defaultSleep;
  /** A rotated pair the OAuth server gave us whose store write failed: the only live copy. */
  let unsaved: { version: number; tokens: NewTokens } | undefined;

  /** Usable for a call now: a tenth of its lifetime (at most a minute) is kept as margin. */
  const usable = (tokens: StoredTokens): boolean => {
    const lifetime = tokens.accessExpiresAt - tokens.refreshedAt;
    const margin = Math.min(EXPIRY_MARGIN_MS, Math.max(0, lifetime / 10));
    return tokens.accessToken !== "" && tokens.accessExpiresAt - margin > clock.now().getTime();
  };

  async function current(): Promise<StoredTokens> {
    if (unsaved) {
      await store.commitRefresh(portal, unsaved.version, unsaved.tokens, clock.now());
      unsaved = undefined;
    }
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
      const holder = randomUUID();
      if (await store.takeRefresh(portal, version, holder, now, REFRESH_LEASE_MS)) {
        return refreshAsHolder(version, holder);
      }
      const seen = await store.read(portal);
      if (seen && seen.version > version) return seen;
      if (seen?.lastError && !seen.refreshing) {
        throw new OAuthUnavailableError(seen.lastError, seen.lastError === "invalid_grant");
      }
      // A holder this slow is stalled or dead: its lease runs for minutes, so don't wait it out.
      const takenAt = (seen?.refreshing?.until ?? Number.POSITIVE_INFINITY) - REFRESH_LEASE_MS;
      if (now.getTime() > deadline || now.getTime() - takenAt > MAX_WAIT_MS) {
        throw new OAuthUnavailableError(REFRESH_WAIT, false);
      }
      await sleep(POLL_MS);
    }
  }

  async function refreshAsHolder(version: number, holder: string): Promise<StoredTokens> {
    const before = await store.read(portal);
    if (!before) throw new Error(`OAuth tokens of portal ${portal} vanished during a refresh`);
    // The fence: spend `version`'s refresh token only while this take still holds it.
    if (before.version !== version || before.refreshing?.holder !== holder) {
      if (before.version > version) return before;
      throw new OAuthUnavailableError(REFRESH_WAIT, false);
    }
    let answer: RefreshAnswer;
    try {
      answer = await deps.refresh(before.refreshToken);
    } catch (error) {
      answer = { ok: false, fatal: false, error: (error as Error).name || "REFRESH_FAILED" };
    }
    const now = clock.now();
    if (!answer.ok) {
      await store.failRefresh(portal, holder, answer.error, now);
      // Refused because another worker's refresh of the same token got there first: use theirs.
      const after = await store.read(portal);
      if (after && after.version > version) return after;
      throw new OAuthUnavailableError(answer.error, answer.fatal);
    }
    const tokens: NewTokens = {
      accessToken: answer.accessToken,
      refreshToken: answer.refreshToken,
      accessExpiresAt: now.getTime() + answer.expiresInSeconds * 1000,
    };
    try {
      // Kept even when our lease ran out: the refresh token we spent is dead, ours is the live one.
      await store.commitRefresh(portal, version, tokens, now);
    } catch (error) {
      unsaved = { version, tokens };
      throw error;
    }
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

type NewTokens = { accessToken: string; refreshToken: string; accessExpiresAt: number };

/** The store with every failure turned into a retryable {@link OAuthUnavailableError}. */
function guarded(store: TokenStore): TokenStore {
  const guard =
    <A extends unknown[], R>(call: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      try {
        return await call(...args);
      } catch (error) {
        throw new OAuthUnavailableError(TOKEN_STORE_UNAVAILABLE, false, { cause: error });
      }
    };
  return {
    read: guard((portal) => store.read(portal)),
    seed: guard((portal, refreshToken, now) => store.seed(portal, refreshToken, now)),
    takeRefresh: guard((portal, version, holder, now, leaseMs) =>
      store.takeRefresh(portal, version, holder, now, leaseMs),
    ),
    commitRefresh: guard((portal, version, tokens, now) =>
      store.commitRefresh(portal, version, tokens, now),
    ),
    failRefresh: guard((portal, holder, error, now) =>
      store.failRefresh(portal, holder, error, now),
    ),
    replace: guard((portal, tokens, now) => store.replace(portal, tokens, now)),
  };
}
