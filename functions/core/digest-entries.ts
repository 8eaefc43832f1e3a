import { MAX_JSON_BYTES } from "./message";
import type { PendingEvent } from "./ports";
import { isRecord } from "./values";

/**
 * What a digest shows of its events besides their text: repeats folded into one entry with a
 * count, and each event's link kept as a KEYBOARD link button (its own message's first one),
 * within the method's KEYBOARD limit. Pure; digest.ts composes with it.
 */

/** One line of a digest: an event's message, and how many of the shown events had that text. */
export interface DigestEntry {
  event: PendingEvent;
  count: number;
}

/** A digest's KEYBOARD holds at most this many buttons (one row each). */
export const MAX_DIGEST_BUTTONS = 10;

/** Events with identical message text become one entry, at the first one's place. */
export function foldRepeats(events: readonly PendingEvent[]): DigestEntry[] {
  const entries = new Map<string, DigestEntry>();
  for (const event of events) {
    const known = entries.get(event.message.message);
    if (known) known.count += 1;
    else entries.set(event.message.message, { event, count: 1 });
  }
  return [...entries.values()];
}

type Button = { TEXT: string; LINK: string };

/**
 * One link button per entry that has one (its keyboard's first link button), in order, each on
 * its own row; as many as fit in {@link MAX_DIGEST_BUTTONS} and the 30 KB limit. Undefined when
 * no entry has a link.
 */
export function digestKeyboard(entries: readonly DigestEntry[]): unknown[] | undefined {
  const keyboard: unknown[] = [];
  let buttons = 0;
  for (const { event } of entries) {
    const button = firstLinkButton(event.message.keyboard);
    if (!button) continue;
    const next = buttons === 0 ? [button] : [{ TYPE: "NEWLINE" }, button];
    if (buttons >= MAX_DIGEST_BUTTONS) break;
    if (Buffer.byteLength(JSON.stringify([...keyboard, ...next])) > MAX_JSON_BYTES) break;
    keyboard.push(...next);
    buttons += 1;
  }
  return buttons > 0 ? keyboard : undefined;
}

function firstLinkButton(keyboard: unknown): Button | undefined {
  const buttons = Array.isArray(keyboard)
    ? keyboard
    : isRecord(keyboard) && Array.isArray(keyboard.BUTTONS)
      ? keyboard.BUTTONS
      : [];
  for (const button of buttons) {
    if (isRecord(button) && typeof button.LINK === "string" && button.LINK !== "") {
      return {
        TEXT: typeof button.TEXT === "string" ? button.TEXT : button.LINK,
        LINK: button.LINK,
      };
    }
  }
  return undefined;
}
