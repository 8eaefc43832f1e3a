import fc from "fast-check";
import { Liquid } from "liquidjs";
import { describe, expect, it, vi } from "vitest";
import { escapeBbCode } from "../../functions/core/escape";
import { compileInterpolation } from "../../functions/core/interpolation";
import {
  makeTemplateEngine,
  type TemplateContext,
  TrustedBbCode,
} from "../../functions/core/template";

const lookups = { users: { "583231": 2, octocat: "7", "[x]": "[b]" }, empty: {} };
const fast = makeTemplateEngine(lookups);
const liquid = makeTemplateEngine(lookups, { interpolation: false });

const hostile = "[b]x[/b] [url=javascript:alert(1)]go[/url]\n>>quote ---- &#91; \u202E -";
const payload = {
  title: hostile,
  id: 583231,
  login: "octocat",
  n: 0,
  neg: -1.5,
  yes: true,
  no: false,
  nothing: null,
  labels: ["bug", "[ui]", { name: "x" }],
  nested: { deeper: { value: "ok", size: 3, first: "f" }, list: [] },
  amount: 1234,
  currency: "usd",
  table: "users",
  constructor: "own",
  toString: "own too",
  text: "плюс 😀 > -",
  odd: { toString: "not a function" },
};
const context: TemplateContext = {
  payload,
  event: { source: "github", name: "issues.closed", id: "d-1", receivedAt: "2024-05-01T12:00:00Z" },
};

const same = (source: string, ctx: object = context) => {
  const expected = liquid.compile(source, "routes[0].message").render(ctx);
  expect(fast.compile(source, "routes[0].message").render(ctx)).toBe(expected);
};

describe("plain interpolation renders what LiquidJS renders", () => {
  it.each([
    "no outputs at all",
    "",
    "[b]{{ payload.title }}[/b]",
    "{{payload.title}}{{payload.title}}",
    "{{ payload.id }} {{ payload.n }} {{ payload.neg }} {{ payload.yes }} {{ payload.no }}",
    "a{{ payload.nothing }}b{{ payload.missing }}c{{ payload.nothing.deeper }}d{{ nope.x }}",
    "{{ payload.labels }}",
    "{{ payload.nested }} {{ payload.nested.deeper.value }} {{ payload.nested | lookup: 'users' }}",
    "{{ payload.constructor }}{{ payload.toString }}{{ payload.__proto__ }}{{ payload.hasOwnProperty }}",
    "{{ payload.title.length }} {{ payload.login.length }}",
    "{{ event.source }} {{ event.name }} {{ event.id }} {{ event.receivedAt }}",
    "{{ payload.id | lookup: 'users' }} {{ payload.login | lookup: \"users\" }}",
    "{{ payload.id | lookup: payload.table }} {{ payload.id | lookup: payload.nope }}",
    "{{ 'constructor' | lookup: 'users' }} {{ payload.id | lookup }}",
    "{{ payload.amount | money: payload.currency }} {{ payload.amount | money: 'JPY' }}",
    "{{ payload.title | raw }} {{ payload.title | raw | raw }}",
    "{{ payload.id | lookup: 'users' | raw }}",
    "{{\n  payload.title\n}} }} {{ payload.text }}",
    "text } with { braces }}",
    "{{ payload.text }}---{{ payload.text }}",
    "{{ payload.odd | lookup: 'users' }}",
  ])("%j", (source) => same(source));

  it("keeps a digest's own messages as they are, escaping everything else", () => {
    const digest = { events: [{ message: new TrustedBbCode("[b]mine[/b]") }], more: hostile };
    same("{{ events }}|{{ more }}", digest);
    expect(
      fast
        .compile("{{ e.message }} {{ e.other }}", "digest.message")
        .render({ e: { message: new TrustedBbCode("[b]mine[/b]"), other: "[b]" } }),
    ).toBe("[b]mine[/b] ［b］");
  });

  it("leaves everything else to LiquidJS", () => {
    const filters = { lookup: () => "", raw: (value: unknown) => value };
    for (const source of [
      "{% if payload.yes %}y{% endif %}",
      "{{- payload.title }}",
      "{{ payload.title -}}",
      "{{ payload.labels.size }}",
      "{{ payload.labels.first }}",
      "{{ payload.labels[0] }}",
      "{{ payload.labels.0 }}",
      "{{ 'literal' }}",
      "{{ nil }}",
      "{{ payload.title | upcase }}",
      "{{ payload.id | lookup: }}",
      "{{ payload.id | lookup: 'a', 'b' }}x{{ payload.id | lookup: 'a,b' }}",
      "{{ payload.id | lookup: 'users', key: 'x' }}",
      "{{ payload['id'] }}",
      "{{ payload.foo-bar }}",
      "{{ 'a\\'b' | lookup: 'x' }}",
      "{{ payload.title }",
    ]) {
      expect(compileInterpolation(source, filters, escapeBbCode), source).toBeUndefined();
    }
    same("{{ payload.labels.size }} {{ payload.labels.first }} {{ payload.nested.deeper.size }}");
    same("{{- payload.title }} x {{ payload.title | upcase }}");
  });

  it("agrees with LiquidJS on random payload values", () => {
    const value = fc.oneof(
      fc.string({ unit: "grapheme-composite" }),
      fc.string({ unit: fc.constantFrom("[", "]", "&", ">", "-", "\r", "\n", "\u0000", "a", " ") }),
      fc.integer(),
      fc.double(),
      fc.boolean(),
      fc.constant(null),
      fc.array(fc.string(), { maxLength: 3 }),
      fc.dictionary(fc.string(), fc.string(), { maxKeys: 3 }),
    );
    const template =
      "[b]{{ payload.a }}[/b]{{ payload.b.c }}>{{ payload.a | lookup: 'users' }}-{{ payload.b }}";
    const both = [fast, liquid].map((engine) => engine.compile(template, "routes[0].message"));
    fc.assert(
      fc.property(value, value, (a, c) => {
        const ctx = { ...context, payload: { a, b: { c } } };
        expect(both[0]?.render(ctx)).toBe(both[1]?.render(ctx));
      }),
      { numRuns: 300 },
    );
  });
});

describe("a checked engine (templates checked at synth)", () => {
  it("never hands plain templates to LiquidJS, and parses the others on first use", () => {
    const expected = liquid.compile("[b]{{ payload.title }}[/b]", "m").render(context);
    const parse = vi.spyOn(Liquid.prototype, "parse");
    try {
      const checked = makeTemplateEngine(lookups, { checked: true });
      const plain = checked.compile("[b]{{ payload.title }}[/b]", "routes[0].message");
      const loop = checked.compile("{% for l in payload.labels %}{{ l }};{% endfor %}", "m");
      const condition = checked.compileCondition("payload.yes and payload.n == 0", "c");
      expect(parse).not.toHaveBeenCalled();
      expect(plain.render(context)).toBe(expected);
      expect(parse).not.toHaveBeenCalled();
      expect(loop.render(context)).toBe('bug;［ui］;{"name":"x"};');
      expect(condition.test(context)).toBe(true);
      expect(parse).toHaveBeenCalledTimes(2);
      loop.render(context);
      condition.test(context);
      expect(parse).toHaveBeenCalledTimes(2);
    } finally {
      parse.mockRestore();
    }
  });
});
