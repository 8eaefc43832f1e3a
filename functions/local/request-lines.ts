import { clip } from "../core/values";
import type { LoggedOutcome, LoggedRequest } from "./request-log";
import { plainStyle, type Style } from "./terminal-style";

/** Ids and names come from senders: long ones are clipped so a line stays a line. */
const MAX_SHOWN = 48;

/**
 * One readable terminal line per request: time, status and answer, source, event name and id,
 * then the reason (errors), the queued count (accepted) or what the routes expect (ignored).
 *
 * @example
 * requestLine(entry)
 * // "09:01:02 202 accepted   github issues.opened id 5f1c…  1 message queued"
 */
export function requestLine(request: LoggedRequest, style: Style = plainStyle): string {
  const answer = request.answer.status ?? request.answer.error ?? "";
  const colour =
    request.status >= 500
      ? style.red
      : request.status >= 400
        ? style.yellow
        : request.status === 202
          ? style.green
          : style.cyan;
  const parts = [
    style.dim(clock(request.at)),
    colour(`${request.status} ${answer.padEnd(9)}`),
    request.sourceId === undefined
      ? `${request.method} ${shown(request.path)}`
      : style.bold(shown(request.sourceId)),
  ];
  if (request.eventName !== undefined) parts.push(shown(request.eventName));
  if (request.eventId !== undefined) parts.push(style.dim(`id ${shown(request.eventId)}`));
  const detail = detailOf(request);
  return detail ? `${parts.join(" ")}  ${detail}` : parts.join(" ");
}

function detailOf(request: LoggedRequest): string {
  switch (request.answer.status) {
    case "accepted": {
      const queued = plural(request.messages ?? 0, "message");
      const failed = request.failed ? `, ${request.failed} failed to render` : "";
      return `${queued} queued${failed}`;
    }
    case "duplicate":
      return "already accepted (the sender's retry): nothing queued";
    case "ignored": {
      // Ingest's own reason (a route whose condition was false, or what the routes expect).
      if (request.answer.message !== undefined) return shown(request.answer.message, 300);
      const expected = request.expected ?? [];
      return expected.length === 0
        ? "no route for this source"
        : `no route matches; routes expect ${expected.map((name) => shown(name)).join(", ")}`;
    }
    default:
      return request.answer.message === undefined ? "" : shown(request.answer.message, 300);
  }
}

/**
 * A line for an outcome that arrived after its request was printed.
 *
 * @example "09:01:03   ↳ deferred github issues.opened id 5f1c…  user 1, digest due 2026-12-02 09:01 UTC"
 */
export function outcomeLine(
  request: LoggedRequest | undefined,
  outcome: LoggedOutcome,
  style: Style = plainStyle,
): string {
  const colour =
    outcome.outcome === "sent"
      ? style.green
      : outcome.outcome === "deferred" ||
          outcome.outcome === "notified" ||
          outcome.outcome === "suppressed"
        ? style.cyan
        : style.red;
  const parts = [style.dim(clock(outcome.at)), `  ↳ ${colour(outcome.outcome.padEnd(9))}`];
  if (request?.sourceId !== undefined) parts.push(style.bold(shown(request.sourceId)));
  if (request?.eventName !== undefined) parts.push(shown(request.eventName));
  parts.push(style.dim(`job ${shown(outcome.jobId)}`));
  const details: string[] = [];
  if (outcome.userId !== undefined) details.push(`user ${outcome.userId}`);
  // Both deliveries of one event: the notification first, then its digest.
  if (outcome.notifiedAt !== undefined)
    details.push(
      `notified ${whenText(outcome.notifiedAt)} (tag ${shown(outcome.notifyTag ?? "?")})`,
    );
  if (outcome.dueAt !== undefined) details.push(`digest due ${whenText(outcome.dueAt)}`);
  const reason = outcome.reason !== outcome.outcome ? outcome.reason : "";
  if (outcome.digestId !== undefined && !reason.includes(outcome.digestId))
    details.push(`in digest ${shown(outcome.digestId)}`);
  if (reason) details.push(shown(reason, 300));
  return `${parts.join(" ")}  ${details.join(", ")}`.trimEnd();
}

/** `2026-12-02T09:01:00.000Z` -> `2026-12-02 09:01 UTC`. */
export function whenText(iso: string): string {
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}

const clock = (iso: string): string => iso.slice(11, 19);

const plural = (count: number, word: string): string => `${count} ${word}${count === 1 ? "" : "s"}`;

/**
 * Sender text made safe for a terminal: control characters (escape sequences that could
 * repaint the screen) become `?`, and long values are clipped.
 */
export function shown(text: string, max = MAX_SHOWN): string {
  const safe = text.replace(CONTROL_CHARACTERS, "?");
  return clip(safe, max);
}

/** Multi-line sender text for a terminal: as `shown`, but line breaks stay and nothing is clipped. */
export const printable = (text: string): string =>
  text
    .split("\n")
    .map((line) => line.replace(CONTROL_CHARACTERS, "?"))
    .join("\n");

// biome-ignore lint/suspicious/noControlCharactersInRegex: they are what is replaced
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/g;
