import { describe, expect, it } from "vitest";
import type { RenderedMessage } from "../../functions/core/job";
import {
  checkAttach,
  checkKeyboard,
  MAX_JSON_BYTES,
  MAX_MESSAGE_LENGTH,
  truncateMessage,
  validateMessage,
} from "../../functions/core/message";

const base: RenderedMessage = { userId: 2, message: "Your issue was closed." };
const reasonOf = (message: RenderedMessage): string => {
  const result = validateMessage(message);
  return result.ok ? "ok" : result.reason;
};

/** A MESSAGE block array whose JSON is exactly `bytes` long. */
function attachOfSize(bytes: number): unknown[] {
  const overhead = JSON.stringify([{ MESSAGE: "" }]).length;
  return [{ MESSAGE: "x".repeat(bytes - overhead) }];
}

describe("validateMessage", () => {
  it("passes a plain message through unchanged", () => {
    expect(validateMessage({ ...base, urlPreview: false })).toEqual({
      ok: true,
      message: { ...base, urlPreview: false },
    });
  });

  it.each([0, -1, 1.5, Number.NaN, 2 ** 53])("rejects userId %s", (userId) => {
    expect(reasonOf({ ...base, userId })).toMatch(/^userId must be a positive integer/);
  });

  it("rejects an empty or blank message", () => {
    expect(reasonOf({ ...base, message: "" })).toBe("message is empty");
    expect(reasonOf({ ...base, message: " \n\t " })).toBe("message is empty");
  });

  it("cuts a long message to the limit", () => {
    const result = validateMessage({ ...base, message: "word ".repeat(10_000) });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.message.message.length).toBeLessThanOrEqual(MAX_MESSAGE_LENGTH);
    expect(result.message.message.endsWith("word (...)")).toBe(true);
  });
});

describe("truncateMessage", () => {
  it("leaves text at the limit alone", () => {
    const text = "a".repeat(MAX_MESSAGE_LENGTH);
    expect(truncateMessage(text)).toBe(text);
  });

  it("prefers a space or newline near the cut", () => {
    const text = `${"a".repeat(90)}\n${"b".repeat(30)}`;
    expect(truncateMessage(text, 100)).toBe(`${"a".repeat(90)} (...)`);
  });

  it("does not cut inside a tag at the cut point", () => {
    const head = "x".repeat(80);
    const text = `${head}[url=https://example.com/a/very/long/path]link[/url] tail`;
    const cut = truncateMessage(text, 100);
    expect(cut).toBe(`${head} (...)`);
    expect(cut.length).toBeLessThanOrEqual(100);
  });

  it("does not cut inside a tag even when the tag has spaces", () => {
    const head = "x".repeat(80);
    const text = `${head}[icon=https://e.example/i.png size=20 title=smile]${"y".repeat(40)}`;
    expect(truncateMessage(text, 110)).toBe(`${head} (...)`);
  });

  it("cuts after a complete tag", () => {
    const text = `[b]${"x".repeat(200)}[/b]`;
    const cut = truncateMessage(text, 100);
    expect(cut).toBe(`[b]${"x".repeat(91)} (...)`);
  });

  it("does not split an emoji at the cut point", () => {
    const text = `${"a".repeat(93)}😀😀😀😀😀`;
    const cut = truncateMessage(text, 100);
    expect(cut.length).toBeLessThanOrEqual(100);
    expect(cut).toBe(`${"a".repeat(93)} (...)`);
    expect(cut).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
    const odd = truncateMessage(`${"a".repeat(92)}😀😀😀😀😀`, 100);
    expect(odd).toBe(`${"a".repeat(92)}😀 (...)`);
  });

  it("stays within the limit with no whitespace at all", () => {
    const cut = truncateMessage("z".repeat(50_000));
    expect(cut).toHaveLength(MAX_MESSAGE_LENGTH);
    expect(cut.endsWith("z (...)")).toBe(true);
  });
});

describe("ATTACH", () => {
  const full = {
    ID: 1,
    COLOR_TOKEN: "primary",
    COLOR: "#29619b",
    BLOCKS: [
      { MESSAGE: "API in [B]im 24.0.0[/B]" },
      { LINK: { NAME: "Ticket", DESC: "d", LINK: "https://api.bitrix24.com/", WIDTH: "1000" } },
      {
        IMAGE: [{ NAME: "m", LINK: "https://x.example/m.jpg", PREVIEW: "http://x.example/p.jpg" }],
      },
      { FILE: [{ NAME: "m.jpg", LINK: "https://x.example/m.jpg", SIZE: 1500000 }] },
      { DELIMITER: { SIZE: 200, COLOR: "#c6c6c6" } },
      { GRID: [{ NAME: "Priority", VALUE: "High", DISPLAY: "LINE", COLOR_TOKEN: "alert" }] },
      { USER: { NAME: "John", AVATAR: "https://x.example/a.png", LINK: "https://x.example" } },
    ],
  };

  it("accepts the documented full and short forms", () => {
    expect(checkAttach(full)).toMatchObject({ ok: true });
    expect(checkAttach(full.BLOCKS)).toMatchObject({ ok: true });
  });

  it.each([
    [{ BLOCKS: [] }, /^attach\.BLOCKS/],
    [[], /^attach/],
    ["text", /^attach/],
    [
      [{ LINK: { LINK: "javascript:alert(1)" } }],
      /^attach\[0\]\.LINK\.LINK: must be an http\(s\) URL/,
    ],
    [[{ IMAGE: [{ LINK: "/relative.png" }] }], /^attach\[0\]\.IMAGE\[0\]\.LINK/],
    [
      [{ LINK: [{ LINK: "https://x.example" }, { LINK: "ftp://x.example" }] }],
      /^attach\[0\]\.LINK\[1\]\.LINK: must be an http\(s\) URL/,
    ],
    [[{ USER: { NAME: "x", AVATAR: "data:image/png;base64,AAAA" } }], /^attach\[0\]\.USER/],
    [[{ MESSAGE: "a", DELIMITER: {} }], /exactly one of/],
    [[{}], /exactly one of/],
    [[{ VIDEO: { LINK: "https://x.example" } }], /^attach\[0\]/],
    [[{ LINK: { LINK: "https://x.example", HTML: "<b>x</b>" } }], /^attach\[0\]\.LINK/],
    [[{ GRID: [{ NAME: "a", VALUE: "b", DISPLAY: "WIDE" }] }], /DISPLAY/],
    [[{ DELIMITER: { COLOR: "red" } }], /COLOR: must be #RGB or #RRGGBB/],
    [
      [{ FILE: { LINK: "https://x.example/f", SIZE: "big" } }],
      /^attach\[0\]\.FILE\.SIZE: must be a whole number/,
    ],
    [{ BLOCKS: [{ MESSAGE: "x" }], EXTRA: 1 }, /^attach/],
  ])("rejects %j", (attach, reason) => {
    const result = validateMessage({ ...base, attach });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(reason);
  });

  it("allows exactly 30 KB of JSON and rejects one byte more", () => {
    expect(JSON.stringify(attachOfSize(MAX_JSON_BYTES))).toHaveLength(MAX_JSON_BYTES);
    expect(checkAttach(attachOfSize(MAX_JSON_BYTES))).toMatchObject({ ok: true });
    expect(checkAttach(attachOfSize(MAX_JSON_BYTES + 1))).toEqual({
      ok: false,
      reason: `attach is ${MAX_JSON_BYTES + 1} bytes as JSON, over the ${MAX_JSON_BYTES}-byte limit`,
    });
  });

  it("counts UTF-8 bytes, not characters", () => {
    const text = "я".repeat(MAX_JSON_BYTES / 2); // 2 bytes each: over the limit with the JSON around it
    expect(checkAttach([{ MESSAGE: text }]).ok).toBe(false);
    expect(checkAttach([{ MESSAGE: text.slice(20) }]).ok).toBe(true);
  });
});

describe("KEYBOARD", () => {
  const link = (text: string) => ({ TEXT: text, LINK: `https://x.example/${text}` });

  it("accepts link buttons with styling and NEWLINE separators, bare or in BUTTONS", () => {
    const buttons = [
      { ...link("a"), BG_COLOR: "#29619b", TEXT_COLOR: "#fff", DISPLAY: "LINE", BLOCK: "Y" },
      { TYPE: "NEWLINE" },
      { ...link("b"), BG_COLOR_TOKEN: "secondary", WIDTH: 100, DISABLED: "N" },
    ];
    expect(checkKeyboard(buttons)).toMatchObject({ ok: true });
    expect(checkKeyboard({ BUTTONS: buttons })).toMatchObject({ ok: true });
    expect(validateMessage({ ...base, keyboard: buttons }).ok).toBe(true);
  });

  it.each([
    [[{ TEXT: "Echo", COMMAND: "echo", COMMAND_PARAMS: "x" }], /keyboard\[0\]: .*COMMAND/],
    [[link("a"), { TEXT: "App", APP_ID: 1, APP_PARAMS: "x" }], /keyboard\[1\]: .*APP_ID/],
    [[{ ...link("a"), ACTION: "SEND", ACTION_VALUE: "hi" }], /keyboard\[0\]: .*ACTION/],
    [
      [{ TEXT: "Bad", LINK: "javascript:alert(1)" }],
      /keyboard\[0\]\.LINK: must be an http\(s\) URL/,
    ],
    [[{ TEXT: "", LINK: "https://x.example" }], /keyboard\[0\]\.TEXT/],
    [[{ LINK: "https://x.example" }], /keyboard\[0\]\.TEXT/],
    [[{ TYPE: "NEWLINE" }], /no link button/],
    [[], /no link button/],
    [{ BUTTONS: [{ TEXT: "x", COMMAND: "y" }] }, /keyboard\.BUTTONS\[0\]: .*COMMAND/],
    [{ BUTTONS: [link("a")], OTHER: 1 }, /only hold BUTTONS/],
    [{ buttons: [] }, /array of buttons/],
    ["button", /array of buttons/],
  ])("rejects %j", (keyboard, reason) => {
    expect(reasonOf({ ...base, keyboard })).toMatch(reason);
  });

  it.each([
    [" https://x.example", "whitespace"],
    ["https://x.example\n", "whitespace"],
    ["https://x.example/a b", "whitespace"],
    ["https://x.example/\u0007", "control character"],
    ["https://evil.example\\@good.example", "backslash"],
    ["https://good.example@evil.example/", "user info"],
    ["https://user:pass@x.example/", "user info"],
    ["HTTPS://x.example:99999/", "not a URL"],
    ["data:text/html,hi", "data:"],
  ])("refuses the link %j (%s)", (url, why) => {
    const reason = reasonOf({ ...base, keyboard: [{ TEXT: "Open", LINK: url }] });
    expect(reason).toMatch(/^keyboard\[0\]\.LINK: must be an http\(s\) URL/);
    expect(reason).toContain(why);
    expect(reasonOf({ ...base, attach: [{ LINK: { LINK: url } }] })).toMatch(
      /^attach\[0\]\.LINK\.LINK: must be an http\(s\) URL/,
    );
  });

  it("sends each link as the URL parser's normalised href", () => {
    const result = validateMessage({
      ...base,
      keyboard: { BUTTONS: [{ TEXT: "Open", LINK: "HTTPS://X.Example/a/../b?q=1" }] },
      attach: [{ IMAGE: [{ LINK: "http://x.example", PREVIEW: "https://x.example/p.png" }] }],
    });
    expect(result.ok && result.message.keyboard).toEqual({
      BUTTONS: [{ TEXT: "Open", LINK: "https://x.example/b?q=1" }],
    });
    expect(result.ok && result.message.attach).toEqual([
      { IMAGE: [{ LINK: "http://x.example/", PREVIEW: "https://x.example/p.png" }] },
    ]);
  });

  it("keeps a query's & and a trailing - that the escape had marked in a link", () => {
    const escapedByTemplate = "https://x.example/a-?x=1\uFF06y=2-\u200B";
    const result = validateMessage({
      ...base,
      keyboard: [{ TEXT: "Open", LINK: escapedByTemplate }],
    });
    expect(result.ok && result.message.keyboard).toEqual([
      { TEXT: "Open", LINK: "https://x.example/a-?x=1&y=2-" },
    ]);
  });

  it("rejects a keyboard over 30 KB", () => {
    const buttons = Array.from({ length: 400 }, (_, index) => link(`${index}-${"x".repeat(60)}`));
    expect(Buffer.byteLength(JSON.stringify(buttons))).toBeGreaterThan(MAX_JSON_BYTES);
    expect(reasonOf({ ...base, keyboard: buttons })).toMatch(/^keyboard is \d+ bytes/);
    expect(checkKeyboard(buttons.slice(0, 100))).toMatchObject({ ok: true });
  });
});
