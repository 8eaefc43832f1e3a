import type { OperatingMeter } from "./simulator-operating";

/**
 * The `batch` method as the simulator answers it (docs/bitrix24.md, "Rate limits"): up to 50
 * commands, each `method?query` (PHP form encoding), run in order; HTTP 200 with every command's
 * `result`, `result_error` and `result_time`, even when commands fail. `halt=1` stops at the first
 * error. The request took one token of the bucket (the dispatcher's business); each command spends
 * its own method's operating time, and one whose method's window is spent answers
 * `OPERATION_TIME_LIMIT` in its place.
 */

export const BATCH_METHOD = "batch";
export const MAX_BATCH_COMMANDS = 50;

interface Answer {
  status: number;
  body: unknown;
}

export interface BatchDeps {
  meter: OperatingMeter;
  /** One method call as the dispatcher runs it (no bucket token, no operating check). */
  run: (method: string, params: Record<string, unknown>, at: number) => Answer;
  /** `method?query`'s query as the REST server reads it (names upper-cased). */
  parse: (query: string) => Record<string, unknown>;
  /** The `time` block of an answer for `method`, from `start` to `finish`. */
  time: (method: string, start: number, finish: number) => object;
  now: () => number;
}

/** Runs one `batch` request's commands; the caller has checked auth and taken the bucket token. */
export function runBatch(params: Record<string, unknown>, at: number, deps: BatchDeps): Answer {
  const commands = commandsOf(params.CMD);
  if (!commands) return fault(400, "INVALID_ARG_VALUE", "cmd must be a map or list of commands");
  if (commands.length > MAX_BATCH_COMMANDS) {
    return fault(400, "ERROR_BATCH_LENGTH_EXCEEDED", "Max batch length exceeded");
  }
  const halt = String(params.HALT ?? "0") === "1" || params.HALT === true;
  const result: Record<string, unknown> = {};
  const resultError: Record<string, unknown> = {};
  const resultTime: Record<string, unknown> = {};
  const methods = new Set<string>();
  for (const [key, command] of commands) {
    const start = deps.now();
    const [rawMethod = "", query = ""] = splitOnce(command, "?");
    const method = decodeURIComponent(rawMethod)
      .toLowerCase()
      .replace(/\.json$/, "");
    methods.add(method);
    let answer: Answer;
    if (method === BATCH_METHOD) {
      answer = fault(400, "ERROR_BATCH_METHOD_NOT_ALLOWED", "Batch call is not allowed in batch");
    } else if (deps.meter.exhausted(method, start)) {
      answer = fault(429, "OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit.");
    } else {
      deps.meter.spend(method, start);
      answer = deps.run(method, deps.parse(query), start);
    }
    const body = (answer.body ?? {}) as { result?: unknown; error?: unknown };
    if (answer.status === 200) {
      result[key] = body.result;
      resultTime[key] = deps.time(method, start, deps.now());
    } else {
      resultError[key] = body;
      if (halt) break;
    }
  }
  // The request's own block: the most any of its methods has spent.
  const busiest = [...methods].sort(
    (a, b) => operatingOf(deps.time(b, at, at)) - operatingOf(deps.time(a, at, at)),
  )[0];
  return {
    status: 200,
    body: {
      result: {
        result,
        result_error: resultError,
        result_total: [],
        result_next: [],
        result_time: resultTime,
      },
      time: deps.time(busiest ?? BATCH_METHOD, at, deps.now()),
    },
  };
}

/** The methods a `batch` request names (for the operating check before it runs). */
export function batchMethods(params: Record<string, unknown>): string[] {
  return (commandsOf(params.CMD) ?? []).map(([, command]) =>
    decodeURIComponent(splitOnce(command, "?")[0] ?? "")
      .toLowerCase()
      .replace(/\.json$/, ""),
  );
}

/** `cmd` as a map (`{key: "method?query"}`) or a list; `undefined` when it is neither. */
function commandsOf(cmd: unknown): [string, string][] | undefined {
  if (typeof cmd !== "object" || cmd === null) return undefined;
  const entries = Object.entries(cmd);
  if (entries.some(([, value]) => typeof value !== "string")) return undefined;
  return entries as [string, string][];
}

function splitOnce(text: string, separator: string): [string, string] {
  const at = text.indexOf(separator);
  return at < 0 ? [text, ""] : [text.slice(0, at), text.slice(at + 1)];
}

const operatingOf = (time: object): number =>
  Number((time as { operating?: unknown }).operating ?? 0);

const fault = (status: number, code: string, description: string): Answer => ({
  status,
  body: { error: code, error_description: description },
});
