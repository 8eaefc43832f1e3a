import { describe, expect, it } from "vitest";
import { escapeBbCode, toText } from "../../functions/core/escape";

const ZWSP = "\u200B";

/** A BB-code tag can only be recognised with ASCII brackets. */
const hasAsciiBracket = (text: string): boolean => /[[\]]/.test(text);
/** A quote needs `>>` at the start of a line (after `\n`). */
const hasLineQuote = (text: string): boolean => /(^|\n)\s*>>/.test(text);

describe("escapeBbCode", () => {
  it("leaves ordinary text alone", () => {
    expect(escapeBbCode("Fix login on Safari (#42) - thanks!")).toBe(
      "Fix login on Safari (#42) - thanks!",
    );
    expect(escapeBbCode("Привет, 世界 👋")).toBe("Привет, 世界 👋");
  });

  it.each([
    "[b]bold[/b]",
    "[URL=javascript:alert(1)]click[/URL]",
    "[url=https://evil.example]bank[/url]",
    "[USER=1]admin[/USER]",
    "[user=all]everyone[/user]",
    "[send=/delete]ok[/send]",
    "[put=/x]y[/put]",
    "a[br]b",
    "[[b]]nested[[/b]]",
    "[b[b]]]",
    "[img size=large]https://x.example/a.png [/img]",
    "[icon=https://x.example/i.png size=30]",
    "[timestamp=1645844720 format=SHORT_TIME_FORMAT]",
    "x]closes an author tag[/url][url=https://evil.example]",
  ])("neutralises BB-codes in %j", (hostile) => {
    const escaped = escapeBbCode(hostile);
    expect(hasAsciiBracket(escaped)).toBe(false);
    expect(escaped.replaceAll("\uFF3B", "[").replaceAll("\uFF3D", "]")).toBe(hostile);
  });

  it("replaces brackets with fullwidth look-alikes", () => {
    expect(escapeBbCode("[b]x[/b]")).toBe("\uFF3Bb\uFF3Dx\uFF3B/b\uFF3D");
  });

  it.each([
    [">>quote", `${ZWSP}>${ZWSP}>quote`],
    ["line\n>>quote", `line\n>${ZWSP}>quote`],
    ["line\r\n>>quote", `line\n>${ZWSP}>quote`],
    [">>>>", `${ZWSP}>${ZWSP}>${ZWSP}>${ZWSP}>`],
    ["a > b", "a > b"],
  ])("breaks quote markers in %j", (hostile, expected) => {
    const escaped = escapeBbCode(hostile);
    expect(escaped).toBe(expected);
    expect(escaped).not.toContain(">>");
    expect(hasLineQuote(`author text\n${escaped}`)).toBe(false);
  });

  it("breaks a control character hiding a quote marker or a tag", () => {
    expect(escapeBbCode(">\u0000>x")).not.toContain(">>");
    expect(escapeBbCode("[\u0007b]")).toBe("\uFF3Bb\uFF3D");
  });

  it("splits long dash runs so a value cannot open a ------ quote", () => {
    const escaped = escapeBbCode(`${"-".repeat(54)}\nfake quote\n${"-".repeat(54)}`);
    expect(escaped).not.toMatch(/-{4}/);
    expect(escaped.replaceAll(ZWSP, "")).toBe(`${"-".repeat(54)}\nfake quote\n${"-".repeat(54)}`);
    expect(escapeBbCode("a -- b --- c")).toBe("a -- b --- c");
  });

  it("strips control, bidi and lone surrogate characters but keeps tab and newline", () => {
    expect(escapeBbCode("a\u0000b\u0008c\u001Bd\u007Fe\u0085f")).toBe("abcdef");
    expect(escapeBbCode("tab\there\nnext\r\nlast\rx")).toBe("tab\there\nnext\nlastx");
    expect(escapeBbCode("evil\u202Etxt.exe\u2066x\u2069")).toBe("eviltxt.exex");
    expect(escapeBbCode("lone \uD800 high, lone \uDC00 low, 😀 pair")).toBe(
      "lone  high, lone  low, 😀 pair",
    );
  });

  it("is idempotent, so values escaped twice (capture, then output) do not change", () => {
    const hostile = "[b]x[/b]\n>>>q\r\n----------\u0000[url=javascript:1]";
    const once = escapeBbCode(hostile);
    expect(escapeBbCode(once)).toBe(once);
  });

  it("handles very long hostile strings quickly", () => {
    const hostile = "[b]>>".repeat(100_000);
    const started = performance.now();
    const escaped = escapeBbCode(hostile);
    expect(performance.now() - started).toBeLessThan(500);
    expect(hasAsciiBracket(escaped)).toBe(false);
    expect(escaped).not.toContain(">>");
  });

  it("turns non-string values into sensible text, escaped too", () => {
    expect(escapeBbCode(42)).toBe("42");
    expect(escapeBbCode(1.5)).toBe("1.5");
    expect(escapeBbCode(true)).toBe("true");
    expect(escapeBbCode(null)).toBe("");
    expect(escapeBbCode(undefined)).toBe("");
    expect(escapeBbCode(["a", 1, null])).toBe("a, 1, ");
    expect(escapeBbCode({ title: "[b]x" })).toBe('{"title":"\uFF3Bb\uFF3Dx"}');
    expect(escapeBbCode([[1, 2], "[i]"])).toBe("1, 2, \uFF3Bi\uFF3D");
  });
});

describe("toText", () => {
  it("renders dates as ISO text and survives cycles", () => {
    expect(toText(new Date("2024-01-02T03:04:05Z"))).toBe("2024-01-02T03:04:05.000Z");
    expect(toText(new Date("nope"))).toBe("");
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(toText(cyclic)).toBe("");
    expect(toText(10n)).toBe("10");
  });
});
