import { outcomeLine, requestLine } from "./request-lines";
import type { LoggedOutcome, LoggedRequest, RequestLogChange } from "./request-log";
import { plainStyle, type Style } from "./terminal-style";

/** More lines than this within one second make a burst: a summary line a second instead. */
export const BURST_LINES_PER_SECOND = 20;

export interface TerminalOutputOptions {
  /** Writes one line (no newline at its end). */
  write: (line: string) => void;
  style?: Style;
  /** Epoch milliseconds. */
  now?: () => number;
  /** Runs `flush` after `ms`: the summary of a second is printed once that second is over. */
  schedule?: (flush: () => void, ms: number) => void;
  burstLinesPerSecond?: number;
}

/** What a second of a burst held, by the word its summary uses. */
type Tally = Map<string, number>;

/**
 * The terminal of `npm start`: a line per request and per outcome while traffic is quiet; during
 * a burst (more than {@link BURST_LINES_PER_SECOND} lines within a second) one summary line a
 * second instead, with the counts by answer and by outcome. The burst ends with the first second
 * that is quiet again. The inbox (`/_inbox`) shows the latest requests either way.
 *
 * @example
 * requestLog.subscribe(makeTerminalOutput({ write: (line) => process.stdout.write(`${line}\n`) }));
 * // 09:01:02 202 accepted  github issues.opened id 5f1c…  1 message queued
 * // 09:01:04 burst     1,988 requests: 1,950 accepted, 35 duplicate, 3 rejected; outcomes: 4 sent
 */
export function makeTerminalOutput(
  options: TerminalOutputOptions,
): (change: RequestLogChange) => void {
  const { write, style = plainStyle } = options;
  const now = options.now ?? Date.now;
  const schedule = options.schedule ?? ((flush, ms) => setTimeout(flush, ms).unref());
  const limit = options.burstLinesPerSecond ?? BURST_LINES_PER_SECOND;
  let second = Number.NEGATIVE_INFINITY;
  let lines = 0;
  let summarising = false;
  let requests: Tally = new Map();
  let outcomes: Tally = new Map();
  let flushPlanned = false;

  const flush = () => {
    if (requests.size === 0 && outcomes.size === 0) return;
    write(summaryLine(second, requests, outcomes, style));
    requests = new Map();
    outcomes = new Map();
  };
  /** The second is over: its summary is printed, unless a later change has printed it already. */
  const flushWhenOver = () => {
    const at = now();
    if (Math.floor(at / 1000) <= second) return schedule(flushWhenOver, 1000 - (at % 1000));
    flush();
    flushPlanned = false;
  };
  const enterSecond = (current: number) => {
    if (current === second) return;
    flush();
    // A burst goes on while the second before was busy too.
    summarising = summarising && current === second + 1 && lines > limit;
    second = current;
    lines = 0;
  };

  return (change) => {
    const at = now();
    enterSecond(Math.floor(at / 1000));
    lines += 1;
    if (lines > limit) summarising = true;
    if (!summarising) {
      write(
        change.kind === "request"
          ? requestLine(change.request, style)
          : outcomeLine(change.request, change.outcome, style),
      );
      return;
    }
    if (change.kind === "request") count(requests, requestWord(change.request));
    else count(outcomes, outcomeWord(change.outcome));
    if (!flushPlanned) {
      flushPlanned = true;
      schedule(flushWhenOver, 1000 - (at % 1000));
    }
  };
}

function count(tally: Tally, word: string): void {
  tally.set(word, (tally.get(word) ?? 0) + 1);
}

/** `accepted`, `duplicate`, `ignored`, or `rejected` for any 4xx and 5xx. */
function requestWord(request: LoggedRequest): string {
  if (request.status >= 400) return "rejected";
  return request.answer.status ?? String(request.status);
}

const outcomeWord = (outcome: LoggedOutcome): string => outcome.outcome;

const SUMMARY_ORDER = ["accepted", "duplicate", "ignored", "rejected"];

function summaryLine(second: number, requests: Tally, outcomes: Tally, style: Style): string {
  const total = [...requests.values()].reduce((sum, n) => sum + n, 0);
  const ordered = [
    ...SUMMARY_ORDER.filter((word) => requests.has(word)),
    ...[...requests.keys()].filter((word) => !SUMMARY_ORDER.includes(word)),
  ];
  const parts = ordered.map((word) => {
    const text = `${thousands(requests.get(word) ?? 0)} ${word}`;
    return word === "rejected" ? style.yellow(text) : text;
  });
  const outcomeParts = [...outcomes].map(([word, n]) => `${thousands(n)} ${word}`);
  const head = `${style.dim(new Date(second * 1000).toISOString().slice(11, 19))} ${style.cyan("burst    ")}`;
  const counts = [
    total > 0 ? `${thousands(total)} request${total === 1 ? "" : "s"}: ${parts.join(", ")}` : "",
    outcomeParts.length > 0 ? `outcomes: ${outcomeParts.join(", ")}` : "",
  ].filter((text) => text !== "");
  return `${head} ${counts.join("; ")}`;
}

const thousands = (n: number): string => n.toLocaleString("en-US");
