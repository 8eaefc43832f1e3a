import type { DigestConfig } from "./config";
import { DEFAULT_DIGEST_MESSAGE } from "./config-defaults";
import { digestKeyboard, foldRepeats } from "./digest-entries";
import type { RenderedMessage } from "./job";
import { MAX_MESSAGE_LENGTH, truncateMessage } from "./message";
import type { PendingEvent } from "./ports";
import { type TemplateEngine, TrustedBbCode } from "./template";

/** One composed digest: the message, and how many of its events it shows in full. */
export interface ComposedDigest {
  message: RenderedMessage;
  shown: number;
  /** Events counted in "and N more" instead of shown. */
  more: number;
}

export type DigestComposer = (events: readonly PendingEvent[]) => ComposedDigest;

/**
 * Builds the digest composer from the config's `digest` block: the template is compiled once, at
 * start, like every route template.
 *
 * The digest shows the oldest `maxEvents` events in full and counts the rest in `more`; when the
 * text would pass Bitrix24's 20,000 characters, it shows fewer. Each event's `message` is its
 * own rendered message, escaped when it was rendered, so it goes in as it is; every other value
 * (source, name, id) is escaped as usual. A digest of one event is that event's own message,
 * ATTACH and KEYBOARD included.
 *
 * @example
 * const compose = makeDigestComposer(config.digest, engine);
 * const { message } = compose(pendingEvents);
 */
export function makeDigestComposer(digest: DigestConfig, engine: TemplateEngine): DigestComposer {
  const template = engine.compile(digest.message, "digest.message");
  // A template that fails at render time (its limits, an odd value) must not hold events back.
  const fallback =
    digest.message === DEFAULT_DIGEST_MESSAGE
      ? undefined
      : engine.compile(DEFAULT_DIGEST_MESSAGE, "digest.message (default)");

  const render = (events: readonly PendingEvent[], shown: number): string => {
    const context = digestContext(events, shown);
    try {
      return template.render(context);
    } catch (error) {
      if (!fallback) throw error;
      return fallback.render(context);
    }
  };

  return (events) => {
    const first = events[0];
    if (!first) throw new RangeError("a digest needs at least one event");
    if (events.length === 1) return { message: first.message, shown: 1, more: 0 };

    let shown = Math.min(digest.maxEvents, events.length);
    let text = render(events, shown);
    // Fewer events in full until it fits; one event alone is cut at a safe place instead.
    while (text.length > MAX_MESSAGE_LENGTH && shown > 1) {
      shown = Math.max(1, Math.floor((shown * MAX_MESSAGE_LENGTH) / text.length));
      text = render(events, shown);
    }
    const message = truncateMessage(text.trim());
    const keyboard = digestKeyboard(foldRepeats(events.slice(0, shown)));
    return {
      message: { userId: first.message.userId, message, ...(keyboard && { keyboard }) },
      shown,
      more: events.length - shown,
    };
  };
}

/**
 * What a digest template sees; each event's message is trusted BB-code, not escaped again.
 * `events` are the shown events one by one; `entries` the same with identical texts folded into
 * one with a `count` (digest-entries.ts); `total` counts every event, shown or not. `notified`
 * marks an event that already reached the user as a system notification (docs/notify.md).
 */
function digestContext(events: readonly PendingEvent[], shown: number) {
  const shownEvents = events.slice(0, shown);
  // An entry is marked notified when every event folded into it already reached the user so.
  const notified = (event: PendingEvent, count: number) =>
    count === 1
      ? event.notifiedAt !== undefined
      : shownEvents.every((e) => e.message.message !== event.message.message || e.notifiedAt);
  const view = (event: PendingEvent, count = 1) => ({
    message: new TrustedBbCode(event.message.message),
    source: event.sourceId,
    name: event.eventName,
    id: event.eventId,
    receivedAt: event.receivedAt,
    count,
    /** It reached the user at once as a system notification (`whenLimited: "notify"`). */
    notified: notified(event, count),
  });
  return {
    events: shownEvents.map((event) => view(event)),
    entries: foldRepeats(shownEvents).map((entry) => view(entry.event, entry.count)),
    total: events.length,
    since: events[0]?.receivedAt ?? "",
    more: events.length - shown,
  };
}
