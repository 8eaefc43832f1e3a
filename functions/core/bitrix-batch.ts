import { classifyBitrixAnswer } from "./bitrix-errors";
import type { OperatingReport, SendResult } from "./ports";
import { isRecord } from "./values";

/**
 * Bitrix24's `batch` method in hookline's words (docs/bitrix24.md, "Rate limits"): up to 50
 * commands in one request, one token of the portal's bucket, each command answered on its own.
 * Pure: the clients build the body and read the answer with these.
 */

/** The most commands one `batch` request carries. */
export const MAX_BATCH_COMMANDS = 50;

/** The key of the i-th command in `cmd` and in the answer's maps. */
export const commandKey = (index: number): string => `m${index}`;

/**
 * `{ cmd, halt: 0 }` for these commands (`halt=0`: a failing command never stops the others).
 *
 * @example batchBody([["imopenlines.network.message.add", { CODE, USER_ID: 2, MESSAGE: "Hi" }]])
 */
export function batchBody(commands: readonly (readonly [string, object])[]) {
  if (commands.length === 0 || commands.length > MAX_BATCH_COMMANDS) {
    throw new RangeError(`a batch carries 1 to ${MAX_BATCH_COMMANDS} commands`);
  }
  return {
    halt: 0,
    cmd: Object.fromEntries(
      commands.map(([method, params], index) => [
        commandKey(index),
        `${method}?${phpQuery(params)}`,
      ]),
    ),
  };
}

/**
 * PHP's `http_build_query`, which is how a command's parameters travel inside `cmd`: nested
 * objects and arrays as `A[k][j]=v`, `true`/`false` as 1/0, null and undefined left out.
 */
export function phpQuery(params: object): string {
  const pairs: string[] = [];
  const add = (name: string, value: unknown) => {
    if (value === undefined || value === null) return;
    if (typeof value === "object") {
      for (const [key, inner] of Object.entries(value)) add(`${name}[${key}]`, inner);
      return;
    }
    const text = typeof value === "boolean" ? (value ? "1" : "0") : String(value);
    pairs.push(`${encodeURIComponent(name)}=${encodeURIComponent(text)}`);
  };
  for (const [key, value] of Object.entries(params)) add(key, value);
  return pairs.join("&");
}

/**
 * One answer per command, in order. An answer for the whole request (an error envelope, a 5xx, a
 * body that is not a batch's) is every command's answer: a batch with no answer is ambiguous for
 * every command in it. Inside a 200, a command's `result_error` goes through the same table as a
 * single call's error (docs/bitrix24.md), and a command with neither result nor error may have run.
 *
 * @example classifyBatchAnswer(200, { result: { result: { m0: true }, result_error: {} } }, now, 1)
 * // => [{ kind: "sent" }]
 */
export function classifyBatchAnswer(
  httpStatus: number,
  body: unknown,
  nowMs: number,
  commands: number,
): SendResult[] {
  const inner = isRecord(body) && !("error" in body) ? body.result : undefined;
  const ok = httpStatus >= 200 && httpStatus < 300;
  if (!ok || !isRecord(inner) || !isRecord(inner.result ?? {})) {
    const whole = classifyBitrixAnswer(httpStatus, body, nowMs);
    // A 2xx that is not a batch's answer: the commands may have run.
    const each: SendResult =
      whole.kind === "sent" ? { kind: "ambiguous", code: "BAD_BATCH_ANSWER" } : whole;
    return Array.from({ length: commands }, () => each);
  }
  const results = isRecord(inner.result) ? inner.result : {};
  const errors = isRecord(inner.result_error) ? inner.result_error : {};
  const time = isRecord(body) ? body.time : undefined;
  return Array.from({ length: commands }, (_, index): SendResult => {
    const key = commandKey(index);
    if (Object.hasOwn(errors, key)) {
      // A command's error carries no HTTP status of its own: the code decides, else "rejected".
      const error = errors[key];
      return classifyBitrixAnswer(400, isRecord(error) ? { ...error, time } : error, nowMs);
    }
    if (Object.hasOwn(results, key))
      return classifyBitrixAnswer(200, { result: results[key] }, nowMs);
    return { kind: "ambiguous", code: "NO_COMMAND_ANSWER" };
  });
}

/**
 * What an answer's `time` block says of the method's operating window, when it says it: seconds
 * spent (`operating`) and when the oldest basket resets (`operating_reset_at`, unix seconds); and
 * what one command cost (a batch's `result_time` durations, or the single call's `duration`).
 */
export function operatingReport(body: unknown, atMs: number): OperatingReport | undefined {
  const time = isRecord(body) ? body.time : undefined;
  if (!isRecord(time)) return undefined;
  const operating = Number(time.operating ?? Number.NaN);
  const resetAt = Number(time.operating_reset_at ?? Number.NaN);
  if (!Number.isFinite(operating) || !Number.isFinite(resetAt)) return undefined;
  const inner = isRecord(body) && isRecord(body.result) ? body.result.result_time : undefined;
  const durations = (isRecord(inner) ? Object.values(inner) : [time])
    .map((entry) => (isRecord(entry) ? Number(entry.duration) : Number.NaN))
    .filter((duration) => Number.isFinite(duration) && duration >= 0);
  const commandMs =
    durations.length > 0
      ? (durations.reduce((sum, duration) => sum + duration, 0) * 1000) / durations.length
      : undefined;
  return {
    operatingSeconds: operating,
    resetAtMs: resetAt * 1000,
    at: atMs,
    ...(commandMs !== undefined && { commandMs }),
  };
}
