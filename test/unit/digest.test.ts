import { describe, expect, it } from "vitest";
import { DEFAULT_DIGEST_MESSAGE } from "../../functions/core/config";
import { makeDigestComposer } from "../../functions/core/digest";
import { MAX_DIGEST_BUTTONS } from "../../functions/core/digest-entries";
import { MAX_MESSAGE_LENGTH } from "../../functions/core/message";
import type { PendingEvent } from "../../functions/core/ports";
import { makeTemplateEngine } from "../../functions/core/template";

const engine = makeTemplateEngine({});

const event = (
  index: number,
  message: string,
  extra: Partial<PendingEvent> = {},
): PendingEvent => ({
  jobId: `src:evt-${index}:0`,
  sourceId: "src",
  eventId: `evt-${index}`,
  eventName: "order.paid",
  receivedAt: new Date(Date.UTC(2030, 0, 1, 10, index)).toISOString(),
  message: { userId: 7, message },
  ...extra,
});

describe("the weekly digest", () => {
  it("shows each event's message as it was escaped, oldest first, under a bold count", () => {
    const compose = makeDigestComposer({ message: DEFAULT_DIGEST_MESSAGE, maxEvents: 20 }, engine);
    const { message, shown, more } = compose([
      event(1, "[b]Orders[/b]: order ［1］ paid"),
      event(2, "[b]Orders[/b]: order 2 paid"),
    ]);
    expect(shown).toBe(2);
    expect(more).toBe(0);
    expect(message.userId).toBe(7);
    expect(message.message).toBe(
      "[b]2 updates[/b] since 2030-01-01 10:01 UTC\n" +
        "[b]Orders[/b]: order ［1］ paid\n[b]Orders[/b]: order 2 paid",
    );
  });

  it("still escapes every other value, such as a sender-chosen event name", () => {
    const compose = makeDigestComposer(
      { message: "{% for e in events %}{{ e.name }}: {{ e.message }}\n{% endfor %}", maxEvents: 5 },
      engine,
    );
    const { message } = compose([
      event(1, "[i]kept[/i]", { eventName: "[url=https://evil.example]x[/url]" }),
      event(2, "two"),
    ]);
    expect(message.message).toContain("［url=https://evil.example］x［/url］: [i]kept[/i]");
  });

  it("shows maxEvents in full and counts the rest", () => {
    const compose = makeDigestComposer({ message: DEFAULT_DIGEST_MESSAGE, maxEvents: 2 }, engine);
    const { message, shown, more } = compose([event(1, "one"), event(2, "two"), event(3, "three")]);
    expect([shown, more]).toEqual([2, 1]);
    expect(message.message).toMatch(/3 updates[\s\S]*one\ntwo\n…and 1 more$/);
    expect(message.message).not.toContain("three");
  });

  it("shows fewer events when the text would pass Bitrix24's 20,000 characters", () => {
    const compose = makeDigestComposer({ message: DEFAULT_DIGEST_MESSAGE, maxEvents: 20 }, engine);
    const events = Array.from({ length: 10 }, (_, index) =>
      event(index, `${index} ${"x".repeat(4000)}`),
    );
    const { message, shown, more } = compose(events);
    expect(message.message.length).toBeLessThanOrEqual(MAX_MESSAGE_LENGTH);
    expect(shown + more).toBe(10);
    expect(shown).toBeGreaterThanOrEqual(1);
    expect(message.message).toContain(`…and ${more} more`);
  });

  it("sends a digest of one event as that event's own message, ATTACH and KEYBOARD included", () => {
    const compose = makeDigestComposer({ message: DEFAULT_DIGEST_MESSAGE, maxEvents: 20 }, engine);
    const only = event(1, "just this", {
      message: {
        userId: 7,
        message: "just this",
        keyboard: [{ TEXT: "Open", LINK: "https://example.com/1" }],
        urlPreview: false,
      },
    });
    expect(compose([only])).toEqual({ message: only.message, shown: 1, more: 0 });
  });

  it("shows events with identical text once, with a count, under the count of all events", () => {
    const compose = makeDigestComposer({ message: DEFAULT_DIGEST_MESSAGE, maxEvents: 20 }, engine);
    const { message, shown } = compose([
      event(1, "Build failed"),
      event(2, "Deploy done"),
      event(3, "Build failed"),
    ]);
    expect(shown).toBe(3);
    expect(message.message).toBe(
      "[b]3 updates[/b] since 2030-01-01 10:01 UTC\nBuild failed (×2)\nDeploy done",
    );
  });

  it("keeps each event's link as a KEYBOARD button, one per row, within the limits", () => {
    const compose = makeDigestComposer({ message: DEFAULT_DIGEST_MESSAGE, maxEvents: 20 }, engine);
    const linked = (index: number) =>
      event(index, `issue ${index}`, {
        message: {
          userId: 7,
          message: `issue ${index}`,
          keyboard: [{ TEXT: `Open ${index}`, LINK: `https://example.com/${index}` }],
        },
      });
    const { message } = compose([linked(1), event(2, "no link"), linked(3)]);
    expect(message.keyboard).toEqual([
      { TEXT: "Open 1", LINK: "https://example.com/1" },
      { TYPE: "NEWLINE" },
      { TEXT: "Open 3", LINK: "https://example.com/3" },
    ]);
    const many = compose(Array.from({ length: 15 }, (_, index) => linked(index)));
    const buttons = (many.message.keyboard as { LINK?: string }[]).filter((button) => button.LINK);
    expect(buttons).toHaveLength(MAX_DIGEST_BUTTONS);
    expect(compose([event(1, "a"), event(2, "b")]).message.keyboard).toBeUndefined();
  });

  it("falls back to the default template when the configured one fails while rendering", () => {
    const compose = makeDigestComposer(
      { message: "{% for i in (1..100000000) %}{{ i }}{% endfor %}", maxEvents: 20 },
      engine,
    );
    const { message } = compose([event(1, "one"), event(2, "two")]);
    expect(message.message).toMatch(/^\[b\]2 updates\[\/b\][\s\S]*one\ntwo$/);
  });
});
