import { isNotificationId } from "../core/bitrix-errors";
import { ConfigError } from "../core/errors";
import {
  OAuthUnavailableError,
  REFRESH_WAIT,
  type RefreshAnswer,
  TOKEN_STORE_UNAVAILABLE,
  type TokenProvider,
} from "../core/oauth";
import type { BitrixClient, SendResult } from "../core/ports";
import {
  BATCH,
  type CallOptions,
  type CallTracing,
  callBatch,
  callMethod,
  NETWORK_MESSAGE_ADD,
  NOTIFY_SYSTEM_ADD,
  networkMessageBatch,
  notificationBody,
  requestBody,
  watchOperating,
} from "./bitrix-client";
import { type HttpAnswer, type HttpExchange, nodeHttpExchange } from "./http-exchange";

/** Bitrix24's own OAuth server, unless a portal's config names another. */
export const DEFAULT_OAUTH_SERVER = "https://oauth.bitrix.info";

/** An OAuth application's credentials (resolved secrets: never logged). */
export interface OAuthApp {
  server: string;
  clientId: string;
  clientSecret: string;
}

const OAUTH_TIMEOUT_MS = 10_000;
/** The token answer's lifetime when it states none: Bitrix24's access tokens live an hour. */
const DEFAULT_EXPIRES_IN_SECONDS = 3600;
/** Answers that mean the refresh token (or code) is dead: only a person can fix that. */
const FATAL_GRANT_ERRORS = new Set([
  "invalid_grant",
  "invalid_client",
  "unauthorized_client",
  "expired_token",
]);
/** After tokens were refused, how soon the message is tried again (the breaker holds the portal). */
const TOKEN_FAULT_RETRY_MS = 60_000;

/**
 * `GET <server>/oauth/token/?grant_type=refresh_token&…`: the new access token and the rotated
 * refresh token, or why not.
 */
export function refreshWithBitrix(app: OAuthApp, refreshToken: string): Promise<RefreshAnswer> {
  return tokenRequest(app, { grant_type: "refresh_token", refresh_token: refreshToken });
}

/** Exchanges an authorization code (the app's first install) for the first tokens. */
export function exchangeAuthorizationCode(app: OAuthApp, code: string): Promise<RefreshAnswer> {
  return tokenRequest(app, { grant_type: "authorization_code", code });
}

/**
 * One GET of the token endpoint. A redirect is not followed (it ends as `OAUTH_HTTP_3xx`): the URL
 * carries the client secret and the refresh token, which must reach only the configured server.
 */
async function tokenRequest(
  app: OAuthApp,
  grant: Record<string, string>,
  exchange: HttpExchange = nodeHttpExchange,
): Promise<RefreshAnswer> {
  const url = new URL("/oauth/token/", app.server);
  for (const [name, value] of Object.entries({
    ...grant,
    client_id: app.clientId,
    client_secret: app.clientSecret,
  })) {
    url.searchParams.set(name, value);
  }
  let response: HttpAnswer;
  try {
    response = await exchange(
      url,
      { method: "GET", headers: { accept: "application/json" } },
      AbortSignal.timeout(OAUTH_TIMEOUT_MS),
    );
  } catch {
    return { ok: false, fatal: false, error: "OAUTH_UNREACHABLE" };
  }
  const body = parseObject(response.text);
  const error = typeof body?.error === "string" ? body.error : undefined;
  if (error) return { ok: false, fatal: FATAL_GRANT_ERRORS.has(error), error };
  const accessToken = body?.access_token;
  const refreshToken = body?.refresh_token;
  const ok = response.status >= 200 && response.status < 300;
  if (!ok || typeof accessToken !== "string" || typeof refreshToken !== "string") {
    return { ok: false, fatal: false, error: `OAUTH_HTTP_${response.status}` };
  }
  return { ok: true, accessToken, refreshToken, expiresInSeconds: expiresIn(body) };
}

/** The token answer's JSON object; anything else reads as no answer. */
function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** `expires_in` (seconds), else `expires` (unix seconds), else an hour. */
function expiresIn(body: Record<string, unknown> | undefined): number {
  const inSeconds = Number(body?.expires_in);
  if (Number.isFinite(inSeconds) && inSeconds > 0) return inSeconds;
  const at = Number(body?.expires);
  if (Number.isFinite(at) && at > 0) return Math.max(1, at - Math.floor(Date.now() / 1000));
  return DEFAULT_EXPIRES_IN_SECONDS;
}

export interface BitrixOAuthClientOptions {
  /** The portal's address, e.g. `https://example.bitrix24.com`. */
  portalUrl: string;
  tokens: TokenProvider;
  timeoutMs: number;
  now?: () => number;
  /** A client span per call (docs/tracing.md). Default: none. */
  trace?: CallTracing;
  /** How a request goes out; `node:http(s)` unless a test plays the server. */
  exchange?: HttpExchange;
}

/**
 * A {@link BitrixClient} for a portal where hookline is an OAuth app: `POST <portal>/rest/<method>`
 * with `auth=<access token>`. A 401 `expired_token` (or `invalid_token`, `NO_AUTH_FOUND`) refreshes
 * once and repeats the call once
 * (a 401 means the call did nothing, so the repeat cannot send twice). A second 401, or tokens
 * the OAuth server refuses, is a configuration fault that keeps the message queued.
 *
 * @example
 * const bitrix = makeBitrixOAuthClient({ portalUrl, tokens, timeoutMs: 8000 });
 */
export function makeBitrixOAuthClient(options: BitrixOAuthClientOptions): BitrixClient {
  const endpoint = methodUrl(options.portalUrl);
  const notifyEndpoint = new URL(`/rest/${NOTIFY_SYSTEM_ADD}`, endpoint);
  const batchEndpoint = new URL(`/rest/${BATCH}`, endpoint);
  const now = options.now ?? Date.now;
  const operating = watchOperating(now);

  return {
    // The token before the latest-start check: a wait for another worker's refresh comes first.
    async prepare() {
      try {
        await options.tokens.accessToken();
      } catch (error) {
        // Refused tokens are answered by the call itself (a configuration fault, kept queued).
        if (!(error instanceof OAuthUnavailableError)) throw error;
      }
    },
    sendNetworkMessage(openLineCode, message, signal, mayStart) {
      return withToken(endpoint, requestBody(openLineCode, message), { signal, mayStart });
    },
    sendBatch(openLineCode, messages, signal, mayStart) {
      const body = networkMessageBatch(openLineCode, messages);
      const each = (result: SendResult) => messages.map(() => result);
      return withTokenFor(
        (auth, call) => callBatch(batchEndpoint, { ...body, auth }, call),
        (results) => results[0] ?? { kind: "sent" },
        each,
        { signal, mayStart },
      );
    },
    operating: operating.last,
    // The app's own client id scopes its tags: no CLIENT_ID param with OAuth.
    sendSystemNotification(notification, signal, mayStart) {
      return withToken(notifyEndpoint, notificationBody(notification), {
        signal,
        mayStart,
        accepts: isNotificationId,
      });
    },
  };

  /** One call with the access token; after a 401 that says so, one refresh and one repeat. */
  function withToken(
    url: URL,
    params: object,
    extra: {
      signal: AbortSignal | undefined;
      mayStart: (() => boolean) | undefined;
      accepts?: (result: unknown) => boolean;
    },
  ): Promise<SendResult> {
    const same = (result: SendResult) => result;
    return withTokenFor(
      (auth, call) => callMethod(url, { ...params, auth }, call),
      same,
      same,
      extra,
    );
  }

  /**
   * {@link withToken} for any call: `whole` reads the request's own answer (a batch's first
   * command's, which a 401 gives every command), `each` spreads a token fault over the results.
   */
  async function withTokenFor<T>(
    call: (auth: string, options: CallOptions) => Promise<T>,
    whole: (results: T) => SendResult,
    each: (result: SendResult) => T,
    extra: {
      signal: AbortSignal | undefined;
      mayStart: (() => boolean) | undefined;
      accepts?: (result: unknown) => boolean;
    },
  ): Promise<T> {
    const callOptions: CallOptions = {
      timeoutMs: options.timeoutMs,
      now,
      onAnswer: operating.see,
      ...(extra.signal && { signal: extra.signal }),
      ...(extra.mayStart && { mayStart: extra.mayStart }),
      ...(extra.accepts && { accepts: extra.accepts }),
      ...(options.trace && { trace: options.trace }),
      ...(options.exchange && { exchange: options.exchange }),
    };
    try {
      const token = await options.tokens.accessToken();
      const first = await call(token, callOptions);
      if (!isExpired(whole(first))) return first;
      const second = await call(await options.tokens.afterExpired(token), callOptions);
      const answer = whole(second);
      // Refused again with a fresh token: a configuration fault, the message stays queued.
      if (answer.kind === "config" && answer.status === 401) return each(tokenFault(answer.code));
      return second;
    } catch (error) {
      if (error instanceof OAuthUnavailableError) {
        return each(
          error.fatal || !TRANSIENT_TOKEN_FAULTS.has(error.code)
            ? tokenFault(error.code)
            : tokensNotYet(error.code),
        );
      }
      throw error;
    }
  }
}

/** 401 answers after which Bitrix24's docs say: refresh once, repeat the call. */
const REFRESH_CODES = new Set(["expired_token", "invalid_token", "NO_AUTH_FOUND"]);

const isExpired = (result: SendResult): boolean =>
  result.kind === "config" && REFRESH_CODES.has(result.code);

/** The token store failed, or another worker's refresh is still running: no person needed. */
const TRANSIENT_TOKEN_FAULTS = new Set([TOKEN_STORE_UNAVAILABLE, REFRESH_WAIT]);
/** How soon a message is tried again when its tokens could not be had for a passing reason. */
const TOKEN_WAIT_RETRY_MS = 10_000;

/** No token to call with, for a passing reason: nothing was sent, try again soon. */
const tokensNotYet = (code: string): SendResult => ({
  kind: "retry",
  code,
  retryAfterMs: TOKEN_WAIT_RETRY_MS,
  overloaded: false,
});

/** Tokens refused: a person must act, and the message waits in the queue meanwhile. */
const tokenFault = (code: string): SendResult => ({
  kind: "retry",
  code,
  retryAfterMs: TOKEN_FAULT_RETRY_MS,
  overloaded: false,
  configFault: true,
});

function methodUrl(portalUrl: string): URL {
  let url: URL;
  try {
    url = new URL(portalUrl);
  } catch {
    throw new ConfigError(`portal url ${JSON.stringify(portalUrl)} is not a URL`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new ConfigError(`portal url ${JSON.stringify(portalUrl)} must be http(s)`);
  }
  return new URL(`/rest/${NETWORK_MESSAGE_ADD}`, url);
}
