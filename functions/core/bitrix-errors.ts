import type { SendResult } from "./ports";
import { isRecord } from "./values";

/**
 * How a Bitrix24 REST answer maps to a {@link SendResult}: the table of
 * docs/bitrix24.md in one pure function. Codes only, never URLs or bodies.
 */

/** The answer envelope as far as we read it: `{result, time}` or `{error, error_description}`. */
interface BitrixAnswer {
  result?: unknown;
  error?: string;
  error_description?: string;
  /** Only `operating_reset_at` matters to us: unix seconds when the method's window resets. */
  time?: { operating_reset_at?: number };
}

/**
 * The `time` block, read leniently on purpose: an odd `time` must never turn a successful send
 * into an unreadable answer. `operating_reset_at` may come as a number or a numeric string.
 * Plain checks, no schema library: deliver reads an answer on its cold start.
 */
function readTime(value: unknown): BitrixAnswer["time"] {
  if (!isRecord(value)) return undefined;
  const raw = value.operating_reset_at;
  const resetAt = raw === undefined ? Number.NaN : Number(raw);
  return Number.isFinite(resetAt) ? { operating_reset_at: resetAt } : {};
}

/** An error envelope (`error` a non-empty string), or undefined. Errors win if both. */
function errorAnswer(body: unknown): (BitrixAnswer & { error: string }) | undefined {
  if (!isRecord(body) || typeof body.error !== "string" || body.error === "") return undefined;
  const description = body.error_description;
  if (description !== undefined && typeof description !== "string") return undefined;
  const time = readTime(body.time);
  return { ...body, error: body.error, ...(time ? { time } : {}) };
}

/** Any other JSON object with a `result` is a success envelope (the result decides). */
function successAnswer(body: unknown): BitrixAnswer | undefined {
  if (!isRecord(body) || !Object.hasOwn(body, "result")) return undefined;
  const time = readTime(body.time);
  return { ...body, ...(time ? { time } : {}) };
}

/**
 * Codes that mean a person must fix the configuration (open line, webhook, scopes).
 * Metrics and alarms count these as `BitrixConfigFaults`. Any 401/403 is a config fault too.
 */
export const BITRIX_CONFIG_FAULT_CODES: readonly string[] = [
  "CODE",
  "CODE_ERROR",
  "NOT_FOUND",
  "IMBOT_ERROR",
  "expired_token",
  "invalid_token",
  "NO_AUTH_FOUND",
  "ACCESS_DENIED",
  "INVALID_CREDENTIALS",
  "insufficient_scope",
  "WRONG_AUTH_TYPE",
  // The method does not exist on the portal: module missing or a wrong webhook URL.
  "ERROR_METHOD_NOT_FOUND",
];

/** Codes that reject this message for good; validation should have caught them before queueing. */
export const BITRIX_PERMANENT_CODES: readonly string[] = [
  "USER_ID_EMPTY",
  "MESSAGE_EMPTY",
  "ATTACH_ERROR",
  "ATTACH_OVERSIZE",
  "KEYBOARD_ERROR",
  "KEYBOARD_OVERSIZE",
  "WRONG_REQUEST",
];

export const USER_MESSAGE_LIMIT = "USER_MESSAGE_LIMIT";
const QUERY_LIMIT_EXCEEDED = "QUERY_LIMIT_EXCEEDED";
/** A manual block by Bitrix24 support: only they lift it (docs/ledger.md, "Answers"). */
export const OVERLOAD_LIMIT = "OVERLOAD_LIMIT";
const OPERATION_TIME_LIMIT = "OPERATION_TIME_LIMIT";

/** First delay after a 503; the caller grows it per attempt (the JS SDK: ×1.5). */
export const OVERLOAD_RETRY_MS = 1500;
/**
 * 503 OVERLOAD_LIMIT: the portal is held back this long (the backoff cap bounds it), so no worker
 * hammers a portal that support has blocked.
 */
export const OVERLOAD_LIMIT_HOLD_MS = 900_000;
/** A configuration fault is tried again no sooner than this (the backoff cap bounds it). */
export const CONFIG_FAULT_RETRY_MS = 900_000;

/**
 * What either channel does on a configuration fault: a person must fix it, so the message is kept
 * and tried again slowly, the portal is not held back, and the fault is counted for the alarm.
 */
export const configFaultRetry = (code: string, reason: string) => ({
  do: "retry" as const,
  hintMs: CONFIG_FAULT_RETRY_MS,
  holdPortal: false,
  configFault: true,
  code,
  reason,
});

/**
 * What either channel does on a retryable answer: try again after the answer's hint. Any sign of
 * a struggling portal holds every worker back (the bucket is the portal's, not the message's);
 * only a call we aborted ourselves does not.
 */
export const retryAfterAnswer = (
  result: Extract<SendResult, { kind: "retry" }>,
  reason: string,
) => ({
  do: "retry" as const,
  hintMs: result.retryAfterMs,
  holdPortal: result.code !== "ABORTED",
  configFault: result.configFault === true,
  code: result.code,
  reason,
});
/** 429 OPERATION_TIME_LIMIT: never sooner than this... */
export const OPERATION_LIMIT_MIN_RETRY_MS = 10_000;
/** ...and never later than one operating window (10 minutes), whatever the answer claims. */
export const OPERATION_LIMIT_MAX_RETRY_MS = 600_000;
/** Other 5xx and unparseable error answers. */
export const SERVER_ERROR_RETRY_MS = 1000;

const configCodes = new Set(BITRIX_CONFIG_FAULT_CODES);
const permanentCodes = new Set(BITRIX_PERMANENT_CODES);

/** True when `code` is a configuration fault (for metrics and alarms). */
export const isBitrixConfigFault = (code: string): boolean => configCodes.has(code);

/**
 * How long to wait after 429 OPERATION_TIME_LIMIT: until `operating_reset_at` (unix seconds),
 * clamped to [10 s, 10 min]; 10 s when the answer does not say.
 */
export const operatingRetryAfterMs = (operatingResetAt: number | undefined, nowMs: number) => {
  if (operatingResetAt === undefined || !Number.isFinite(operatingResetAt)) {
    return OPERATION_LIMIT_MIN_RETRY_MS;
  }
  const untilReset = Math.ceil(operatingResetAt * 1000 - nowMs);
  return Math.min(OPERATION_LIMIT_MAX_RETRY_MS, Math.max(OPERATION_LIMIT_MIN_RETRY_MS, untilReset));
};

/**
 * Classifies one HTTP answer of `imopenlines.network.message.add` (or, with `accepts`, of another
 * method whose success is not `result: true`, such as `im.notify.system.add`).
 * `body` is the parsed JSON, or `undefined` when the body was not JSON.
 *
 * @example
 * classifyBitrixAnswer(400, { error: "USER_MESSAGE_LIMIT" }, Date.now())
 * // => { kind: "limited", code: "USER_MESSAGE_LIMIT" }
 */
export function classifyBitrixAnswer(
  httpStatus: number,
  body: unknown,
  nowMs: number,
  accepts: (result: unknown) => boolean = isTrue,
): SendResult {
  const is2xx = httpStatus >= 200 && httpStatus < 300;
  const answer = errorAnswer(body);
  if (!answer) {
    const ok = successAnswer(body);
    if (ok && is2xx && accepts(ok.result)) return { kind: "sent" };
    // A 2xx without `result: true`: the method may have run, so it is not a clean retry.
    if (is2xx) return { kind: "ambiguous", code: ok ? "UNEXPECTED_RESULT" : "BAD_ANSWER" };
    // A 5xx without Bitrix24's error envelope (a gateway's 502/504, an HTML 500) may come after
    // the method ran: evidence, like a timeout.
    if (httpStatus >= 500) return { kind: "ambiguous", code: `HTTP_${httpStatus}` };
    return byStatus(httpStatus, `HTTP_${httpStatus}`, nowMs, ok);
  }

  const code = answer.error;
  if (code === USER_MESSAGE_LIMIT) return { kind: "limited", code };
  if (configCodes.has(code)) return { kind: "config", code, status: httpStatus };
  // Both mean "not processed": a clean retry, the portal held back (OVERLOAD_LIMIT for long).
  if (code === QUERY_LIMIT_EXCEEDED || code === OVERLOAD_LIMIT) {
    return {
      kind: "retry",
      code,
      status: httpStatus,
      retryAfterMs: code === OVERLOAD_LIMIT ? OVERLOAD_LIMIT_HOLD_MS : OVERLOAD_RETRY_MS,
      overloaded: true,
    };
  }
  if (code === OPERATION_TIME_LIMIT) return operatingLimit(httpStatus, answer, nowMs);
  if (permanentCodes.has(code)) return { kind: "permanent", code, status: httpStatus };
  return byStatus(httpStatus, code, nowMs, answer);
}

const isTrue = (result: unknown): boolean => result === true;

/** `im.notify.system.add` answers the new notification's id (docs/notify.md). */
export const isNotificationId = (result: unknown): boolean =>
  (typeof result === "number" && Number.isSafeInteger(result) && result > 0) ||
  (typeof result === "string" && /^[1-9]\d*$/.test(result)) ||
  result === true;

/** An error code we do not know: the HTTP status decides. */
function byStatus(
  status: number,
  code: string,
  nowMs: number,
  answer: BitrixAnswer | undefined,
): SendResult {
  if (status === 401 || status === 403) return { kind: "config", code, status };
  if (status === 429) return operatingLimit(status, answer, nowMs, code);
  if (status === 408 || status >= 500) {
    return { kind: "retry", code, status, retryAfterMs: SERVER_ERROR_RETRY_MS, overloaded: false };
  }
  // A redirect the client did not follow (a second one): the webhook URL must be updated.
  if (status >= 300 && status < 400) return { kind: "config", code, status };
  // 4xx, and a 2xx that carries an error envelope: rejected, a retry would not change it.
  return { kind: "permanent", code, status };
}

function operatingLimit(
  status: number,
  answer: BitrixAnswer | undefined,
  nowMs: number,
  code = OPERATION_TIME_LIMIT,
): SendResult {
  const resetAt = answer?.time?.operating_reset_at;
  return {
    kind: "retry",
    code,
    status,
    retryAfterMs: operatingRetryAfterMs(resetAt, nowMs),
    overloaded: false,
  };
}
