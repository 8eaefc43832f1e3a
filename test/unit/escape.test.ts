import { decodeHTML } from "entities";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { escapeBbCode, toText } from "../../functions/core/escape";
import { makeTemplateEngine } from "../../functions/core/template";

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
    [">>>>", `${ZWSP}>${ZWSP}>${ZWSP}>${ZWSP}>${ZWSP}`],
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

  // No timing here (a loaded machine makes any bound flaky): `npm run bench` measures speed.
  it("escapes very long hostile strings completely", () => {
    const hostile = "[b]>>&#91;----".repeat(100_000);
    const escaped = escapeBbCode(hostile);
    expect(hasAsciiBracket(escaped)).toBe(false);
    expect(escaped).not.toContain(">>");
    expect(escaped).not.toContain("&");
    expect(escaped).not.toMatch(/-{4}/);
  });

  it.each([
    "&#91;USER=1&#93;admin&#91;/USER&#93;",
    "&lbrack;url=https://evil.example&rbrack;bank&lbrack;/url&rbrack;",
    "&#x5B;b&#x5D;bold&#x5b;/b&#x5d;",
    "&amp;#91;b&amp;#93;twice&amp;lbrack;/b&amp;rbrack;",
    "&LeftSquareBracket;b&RightSquareBracket;",
    "&gt;&gt;quote &#62;&#62;quote",
    "&#45;&#45;&#45;&#45;&#45;&#45; &hyphen;&dash;&dash;&dash;",
    "&lsqb;b&rsqb; &#0091;b&#0093; &#91b&#93 &amp;amp;#91;",
  ])("leaves no entity in %j that decodes to markup, once or twice", (hostile) => {
    const escaped = escapeBbCode(hostile);
    const once = decodeHTML(escaped);
    const twice = decodeHTML(once);
    for (const decoded of [escaped, once, twice]) {
      expect(hasAsciiBracket(decoded)).toBe(false);
      expect(decoded).not.toContain(">>");
      expect(decoded).not.toMatch(/-{4}/);
    }
    expect(escaped.replaceAll("\uFF06", "&")).toBe(hostile);
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

describe("neighbouring values", () => {
  const engine = makeTemplateEngine({});

  it.each([
    ["{{ payload.a }}{{ payload.b }}", { a: "---", b: "---" }, /-{4}/],
    ["{{ payload.a }}>", { a: "hi\n>" }, />>/],
    ["{{ payload.a }}{{ payload.b }}", { a: "x\n>", b: ">y" }, />>/],
    ["--{{ payload.a }}", { a: "--" }, /-{4}/],
    ["{{ payload.a }}{{ payload.b }}", { a: "&", b: "#91;" }, /&#/],
  ])("cannot join into markup: %j with %j", (source, payload, markup) => {
    const text = engine.compile(source, "routes[0].message").render({
      payload,
      event: { source: "s", name: "n", id: "i", receivedAt: "2024-01-01T00:00:00.000Z" },
    });
    expect(text).not.toMatch(markup);
  });

  /**
   * Any template text and any values: every `>>`, `----` or `&` in the output lies wholly in
   * text the template author wrote, never partly in a value.
   */
  it("form no quote, separator or entity that the template text alone does not", () => {
    const piece = fc.string({ unit: fc.constantFrom("-", ">", "\n", " ", "a", "#"), maxLength: 6 });
    const value = fc.string({
      unit: fc.constantFrom("-", ">", "\n", " ", "a", "&", "#", "9", "1", ";", "[", "]"),
      maxLength: 8,
    });
    fc.assert(
      fc.property(fc.array(fc.tuple(value, piece), { maxLength: 5 }), piece, (parts, first) => {
        let source = first;
        let expected = first;
        const fromAuthor: boolean[] = [...first].map(() => true);
        const values: string[] = [];
        for (const [text, after] of parts) {
          source += `{{ payload.v[${values.length}] }}${after}`;
          values.push(text);
          const escaped = escapeBbCode(text);
          expected += escaped + after;
          fromAuthor.push(...[...escaped].map(() => false), ...[...after].map(() => true));
        }
        const rendered = engine.compile(source, "routes[0].message").render({
          payload: { v: values },
          event: { source: "s", name: "n", id: "i", receivedAt: "2024-01-01T00:00:00.000Z" },
        });
        expect(rendered).toBe(expected);
        for (const match of rendered.matchAll(/>>|-{4,}|&/g)) {
          const chars = fromAuthor.slice(match.index, match.index + match[0].length);
          expect(chars.every(Boolean)).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
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
