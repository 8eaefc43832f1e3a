import {
  batchBody,
  classifyBatchAnswer,
  MAX_BATCH_COMMANDS,
  operatingReport,
} from "../core/bitrix-batch";
import { classifyBitrixAnswer, isNotificationId } from "../core/bitrix-errors";
import { ConfigError } from "../core/errors";
import type { RenderedMessage } from "../core/job";
import type { BitrixClient, OperatingReport, SendResult, SystemNotification } from "../core/ports";
import { type HttpExchange, nodeHttpExchange } from "./http-exchange";
import { noTracing, type SpanAttributes, type SpanNotes, type Tracing } from "./tracing";

export interface BitrixWebhookClientOptions {
  /** Incoming-webhook URL `https://<portal>/rest/<user_id>/<code>/`. A secret: never logged. */
  webhookUrl: string;
  /** Budget for one call, redirect included. */
  timeoutMs: number;
  /** Clock for `operating_reset_at`; defaults to `Date.now`. */
  now?: () => number;
  /** A client span per call (docs/tracing.md), named after `portal`. Default: none. */
  trace?: CallTracing;
  /** How a request goes out; `node:http(s)` unless a test plays the server. */
  exchange?: HttpExchange;
}

/** Where a call's client span goes, and the portal it names. */
export interface CallTracing {
  tracing: Tracing;
  portal: string;
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/**
 * Error `code`s raised before a byte of the request could reach the server: a retry cannot send
 * twice. Anything else after connecting (ECONNRESET, "socket hang up") may have landed.
 */
const NOT_SENT_CODES = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EHOSTDOWN",
  "ENETDOWN",
  "EADDRNOTAVAIL",
  "UND_ERR_CONNECT_TIMEOUT",
  "CERT_HAS_EXPIRED",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

/**
 * A {@link BitrixClient} over an incoming webhook. One call, no retries of its own: it returns
 * a classified {@link SendResult} and never throws for HTTP or network failures. The webhook URL
 * never appears in a result or an error.
 *
 * @example
 * const bitrix = makeBitrixWebhookClient({ webhookUrl, timeoutMs: 8000 });
 * const result = await bitrix.sendNetworkMessage(code, { userId: 2, message: "Hi" });
 */
export function makeBitrixWebhookClient(options: BitrixWebhookClientOptions): BitrixClient {
  const endpoint = methodUrl(options.webhookUrl);
  const notifyEndpoint = new URL(NOTIFY_SYSTEM_ADD, endpoint);
  const batchEndpoint = new URL(BATCH, endpoint);
  const now = options.now ?? Date.now;
  const operating = watchOperating(now);
  /** One call's options: the budget, the caller's signal and latest start, the span. */
  const call = (signal?: AbortSignal, mayStart?: () => boolean): CallOptions => ({
    timeoutMs: options.timeoutMs,
    now,
    onAnswer: operating.see,
    ...(signal && { signal }),
    ...(mayStart && { mayStart }),
    ...(options.trace && { trace: options.trace }),
    ...(options.exchange && { exchange: options.exchange }),
  });

  return {
    async sendNetworkMessage(openLineCode, message, signal, mayStart) {
      return callMethod(endpoint, requestBody(openLineCode, message), call(signal, mayStart));
    },
    async sendBatch(openLineCode, messages, signal, mayStart) {
      const body = networkMessageBatch(openLineCode, messages);
      return callBatch(batchEndpoint, body, call(signal, mayStart));
    },
    operating: operating.last,
    async sendSystemNotification(notification, signal, mayStart) {
      // A webhook has no app of its own: CLIENT_ID names hookline, as a TAG requires.
      return callMethod(
        notifyEndpoint,
        { ...notificationBody(notification), CLIENT_ID: WEBHOOK_CLIENT_ID },
        {
          timeoutMs: options.timeoutMs,
          now,
          accepts: isNotificationId,
          ...(signal && { signal }),
          ...(mayStart && { mayStart }),
          ...(options.trace && { trace: options.trace }),
          ...(options.exchange && { exchange: options.exchange }),
        },
      );
    },
  };
}

export const NOTIFY_SYSTEM_ADD = "im.notify.system.add";
export const BATCH = "batch";

/** A `batch` body of `imopenlines.network.message.add` commands, one per message (≤ 50, distinct users). */
export function networkMessageBatch(openLineCode: string, messages: readonly RenderedMessage[]) {
  if (messages.length > MAX_BATCH_COMMANDS) {
    throw new RangeError(`a batch carries at most ${MAX_BATCH_COMMANDS} messages`);
  }
  if (new Set(messages.map((message) => message.userId)).size !== messages.length) {
    // Two commands for one user would race for one week: the ledger never sends them together.
    throw new RangeError("a batch carries one message per user");
  }
  return batchBody(
    messages.map((message) => [NETWORK_MESSAGE_ADD, requestBody(openLineCode, message)] as const),
  );
}

/** The latest operating figures any answer of this client reported: a hint for pacing. */
export function watchOperating(now: () => number) {
  let latest: OperatingReport | undefined;
  return {
    see(answer: unknown) {
      const report = operatingReport(answer, now());
      if (report) latest = report;
    },
    last: (): OperatingReport | undefined => latest,
  };
}

/**
 * The `CLIENT_ID` a webhook sends with a TAG (Bitrix24 asks for one): tags are kept per client, so
 * hookline's tags never replace another app's notifications (docs/notify.md).
 */
export const WEBHOOK_CLIENT_ID = "hookline";

/** `im.notify.system.add`'s body: the user, the text (BB-code), ATTACH and the TAG. */
export function notificationBody(notification: SystemNotification) {
  return {
    USER_ID: notification.userId,
    MESSAGE: notification.message,
    ...(notification.attach !== undefined && { ATTACH: notification.attach }),
    TAG: notification.tag,
  };
}

/** How one call is made: its budget, the caller's signal and latest start, its span. */
export interface CallOptions {
  timeoutMs: number;
  now: () => number;
  signal?: AbortSignal;
  /** Asked right before the request goes out: `false`, too late to start (the lease). */
  mayStart?: () => boolean;
  /** What a successful `result` looks like; `result: true` by default. */
  accepts?: (result: unknown) => boolean;
  /** Sees every parsed answer (the operating figures). */
  onAnswer?: (answer: unknown) => void;
  trace?: CallTracing;
  /** How the request goes out; {@link nodeHttpExchange} by default. */
  exchange?: HttpExchange;
}

/**
 * One POST of a REST method with a JSON body, classified: never throws for HTTP or network
 * failures. Shared by the webhook and the OAuth clients (which adds `auth` to the body).
 */
export async function callMethod(
  endpoint: URL,
  params: object,
  options: CallOptions,
): Promise<SendResult> {
  return exchange(endpoint, params, options, (reply) =>
    "kind" in reply
      ? reply
      : classifyBitrixAnswer(reply.status, reply.answer, options.now(), options.accepts),
  ).then(([result]) => result);
}

/**
 * One POST of `batch`: one result per command, in order. A request that got no answer of its own
 * (timeout, reset, a 5xx without Bitrix24's envelope) gives every command that one result.
 */
export async function callBatch(
  endpoint: URL,
  body: { cmd: Record<string, string>; [param: string]: unknown },
  options: CallOptions,
): Promise<SendResult[]> {
  const commands = Object.keys(body.cmd).length;
  return exchange(endpoint, body, options, (reply) =>
    "kind" in reply
      ? Array.from({ length: commands }, () => reply)
      : classifyBatchAnswer(reply.status, reply.answer, options.now(), commands),
  ).then(([, results]) => results);
}

/** A parsed HTTP answer, or how the call ended without one (classified already). */
type Reply = { status: number; answer: unknown } | SendResult;

/** Calls once and classifies with `read`; the span records the first result. */
async function exchange<T extends SendResult | SendResult[]>(
  endpoint: URL,
  params: object,
  options: CallOptions,
  read: (reply: Reply) => T,
): Promise<[SendResult, T]> {
  const first = (value: T): SendResult =>
    Array.isArray(value) ? (value[0] ?? { kind: "sent" }) : (value as SendResult);
  const { signal } = options;
  // Nothing went out yet, so this is a clean retry.
  if (signal?.aborted || (options.mayStart && !options.mayStart())) {
    const results = read({ kind: "retry", code: "ABORTED", retryAfterMs: 0, overloaded: false });
    return [first(results), results];
  }
  const body = JSON.stringify(params);
  const { tracing, portal } = options.trace ?? { tracing: noTracing, portal: "" };
  // The method is the URL's last segment; the URL itself (a webhook's secret) is never recorded.
  const method = endpoint.pathname.slice(endpoint.pathname.lastIndexOf("/") + 1);
  const attributes = {
    "bitrix24.portal": portal,
    "bitrix24.method": method,
    "http.request.method": "POST",
  };
  return tracing.span(`Bitrix24 ${method}`, { kind: "client", attributes }, async (span) => {
    const timeout = AbortSignal.timeout(options.timeoutMs);
    const combined = signal ? AbortSignal.any([timeout, signal]) : timeout;
    let reply: Reply;
    try {
      reply = await post(options.exchange ?? nodeHttpExchange, endpoint, body, combined, span);
      if (!("kind" in reply)) options.onAnswer?.(reply.answer);
    } catch (error) {
      reply = failure(error, timeout, signal);
    }
    const results = read(reply);
    const result = first(results);
    span.set({ "hookline.bitrix24.result": result.kind });
    if (result.kind !== "sent") span.fail(result.code);
    return [result, results] as [SendResult, T];
  });
}

export const NETWORK_MESSAGE_ADD = "imopenlines.network.message.add";

/** The JSON body: param names as the docs spell them, absent optional fields left out. */
export function requestBody(openLineCode: string, message: RenderedMessage) {
  return {
    CODE: openLineCode,
    USER_ID: message.userId,
    MESSAGE: message.message,
    ...(message.attach !== undefined && { ATTACH: message.attach }),
    ...(message.keyboard !== undefined && { KEYBOARD: message.keyboard }),
    ...(message.urlPreview !== undefined && { URL_PREVIEW: message.urlPreview ? "Y" : "N" }),
  };
}

async function post(
  exchange: HttpExchange,
  url: URL,
  body: string,
  signal: AbortSignal,
  span: SpanNotes,
): Promise<Reply> {
  let target = url;
  for (let hop = 0; ; hop++) {
    const response = await exchange(
      target,
      { method: "POST", headers: JSON_HEADERS, body },
      signal,
    );
    span.set({ "http.response.status_code": response.status });
    // A moved portal answers 3xx: the POST is repeated once, to http(s) only.
    if (hop === 0 && REDIRECT_STATUSES.has(response.status) && response.location) {
      const next = safeRedirect(target, response.location);
      if (!next) return { kind: "config", code: "BAD_REDIRECT", status: response.status } as const;
      target = next;
      continue;
    }
    const answer = parseJson(response.text);
    span.set(answerAttributes(answer));
    return { status: response.status, answer };
  }
}

const JSON_HEADERS = { "content-type": "application/json", accept: "application/json" };

/**
 * What a client span records of an answer: the Bitrix24 error code, and from the `time` block the
 * method's time used in its operating window (`operating`, seconds) and when it resets
 * (`operating_reset_at`, unix seconds), when the answer carries them. Codes and numbers only.
 */
export function answerAttributes(answer: unknown): SpanAttributes {
  if (typeof answer !== "object" || answer === null) return {};
  const { error, time } = answer as { error?: unknown; time?: unknown };
  const attributes: SpanAttributes = {};
  if (typeof error === "string" && error !== "") attributes["bitrix24.error_code"] = error;
  if (typeof time === "object" && time !== null) {
    const { operating, operating_reset_at: resetAt } = time as Record<string, unknown>;
    // A number, or a numeric string (as `operating_reset_at` sometimes comes); nothing else.
    const number = (value: unknown) =>
      typeof value === "number" || (typeof value === "string" && value.trim() !== "")
        ? Number(value)
        : Number.NaN;
    if (Number.isFinite(number(operating))) {
      attributes["bitrix24.time.operating"] = number(operating);
    }
    if (Number.isFinite(number(resetAt))) {
      attributes["bitrix24.time.operating_reset_at"] = number(resetAt);
    }
  }
  return attributes;
}

/** Follows only to http(s), and never from https down to http (the path carries the secret). */
function safeRedirect(from: URL, location: string): URL | undefined {
  let next: URL;
  try {
    next = new URL(location, from);
  } catch {
    return undefined;
  }
  if (next.protocol !== "https:" && next.protocol !== "http:") return undefined;
  if (from.protocol === "https:" && next.protocol !== "https:") return undefined;
  return next;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** A thrown request: timeout or reset after sending is ambiguous; failing to connect is a retry. */
function failure(error: unknown, timeout: AbortSignal, caller?: AbortSignal): SendResult {
  if (timeout.aborted) return { kind: "ambiguous", code: "TIMEOUT" };
  // The caller gave up (e.g. the Lambda is out of time) while the request may be in flight.
  if (caller?.aborted) return { kind: "ambiguous", code: "ABORTED" };
  const code = causeCode(error);
  if (code && NOT_SENT_CODES.has(code)) {
    return { kind: "retry", code: "NETWORK", retryAfterMs: 1000, overloaded: false };
  }
  return { kind: "ambiguous", code: "CONNECTION_LOST" };
}

/**
 * The error's `code` (node:http puts it on the error itself), else `error.cause.code`, also inside
 * an AggregateError (happy eyeballs tries several addresses).
 */
function causeCode(error: unknown): string | undefined {
  if (error instanceof Error && "code" in error && typeof error.code === "string")
    return error.code;
  const cause = error instanceof Error ? error.cause : undefined;
  if (!cause || typeof cause !== "object") return undefined;
  if ("code" in cause && typeof cause.code === "string") return cause.code;
  if (cause instanceof AggregateError) {
    for (const inner of cause.errors) {
      if (inner && typeof inner === "object" && "code" in inner && typeof inner.code === "string") {
        return inner.code;
      }
    }
  }
  return undefined;
}

/** `<base>/imopenlines.network.message.add` from the webhook URL; fails fast without echoing it. */
function methodUrl(webhookUrl: string): URL {
  let url: URL;
  try {
    url = new URL(webhookUrl);
  } catch {
    throw new ConfigError("bitrix.webhookUrl is not a URL");
  }
  const path = url.pathname.endsWith("/") ? url.pathname : `${url.pathname}/`;
  if (
    (url.protocol !== "https:" && url.protocol !== "http:") ||
    !/^\/rest\/\d+\/[^/]+\/$/.test(path) ||
    url.search !== "" ||
    url.hash !== ""
  ) {
    throw new ConfigError(
      "bitrix.webhookUrl must look like https://<portal>/rest/<user_id>/<code>/",
    );
  }
  return new URL(`${path}${NETWORK_MESSAGE_ADD}`, url);
}
