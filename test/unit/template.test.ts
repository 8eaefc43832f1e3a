import { describe, expect, it } from "vitest";
import { ConfigError } from "../../functions/core/errors";
import {
  formatMoney,
  makeTemplateEngine,
  type TemplateContext,
} from "../../functions/core/template";

const engine = makeTemplateEngine({
  githubUsers: { "583231": 2, octocat: "7" },
  empty: {},
});

const context = (payload: unknown): TemplateContext => ({
  payload,
  event: {
    source: "github",
    name: "issues.closed",
    id: "delivery-1",
    receivedAt: "2024-05-01T12:00:00.000Z",
  },
});

const render = (source: string, payload: unknown = {}): string =>
  engine.compile(source, "routes[0].message").render(context(payload));

describe("escaping in templates", () => {
  const hostile = { title: "[b]x[/b] [url=javascript:alert(1)]go[/url]\n>>quote" };

  it("escapes every output but keeps the author's own BB-codes", () => {
    const text = render("[b]{{ payload.title }}[/b]", hostile);
    expect(text.startsWith("[b]")).toBe(true);
    expect(text.endsWith("[/b]")).toBe(true);
    expect(text.slice(3, -4)).not.toMatch(/[[\]]|>>/);
  });

  it.each([
    "{{ payload.title | raw }}",
    "{% assign t = payload.title %}{{ t | raw }}",
    "{% capture t %}{{ payload.title }}{% endcapture %}{{ t | raw }}",
    "{% echo payload.title | raw %}",
    "{% liquid\necho payload.title | raw\n%}",
    "{% cycle payload.title %}",
    "{{ payload.title | upcase | raw }}",
    "{{ payload.title | escape | raw }}",
    "{% for c in payload.title %}{{ c | raw }}{% endfor %}",
  ])("cannot be bypassed with %j", (source) => {
    const text = render(source, hostile);
    expect(text).not.toMatch(/[[\]]/);
    expect(text).not.toContain(">>");
  });

  it("has no file tags (include, render, layout)", () => {
    for (const source of ["{% include 'x' %}", "{% render 'x' %}", "{% layout 'x' %}"]) {
      expect(() => engine.compile(source, "routes[0].message")).toThrow(ConfigError);
    }
  });

  it("renders missing values as empty text and objects as JSON", () => {
    expect(render("a{{ payload.nope.deeper }}b")).toBe("ab");
    expect(render("{{ payload.labels }}", { labels: ["bug", "ui"] })).toBe("bug, ui");
    expect(render("{{ payload.n }}", { n: 3 })).toBe("3");
  });

  it("exposes event facts", () => {
    expect(
      render("{{ event.source }} {{ event.name }} {{ event.id }} {{ event.receivedAt }}"),
    ).toBe("github issues.closed delivery-1 2024-05-01T12:00:00.000Z");
  });

  it("hides prototype properties of the payload", () => {
    expect(render("{{ payload.constructor }}{{ payload.__proto__ }}", {})).toBe("");
  });
});

describe("values inside an author's URL", () => {
  const hostile = "a b/../@evil.example?x=1&y=[2]#top";
  const encoded = "a%20b%2F..%2F%40evil.example%3Fx%3D1%26y%3D%5B2%5D%23top";

  it.each([
    ["https://x.example/{{ payload.path }}", `https://x.example/${encoded}`],
    ["https://x.example/issues?q={{ payload.path }}", `https://x.example/issues?q=${encoded}`],
    [
      "[url=https://x.example/{{ payload.path }}]open[/url] {{ payload.path }}",
      `[url=https://x.example/${encoded}]open[/url] `,
    ],
    [
      "{% if payload.path %}https://x.example/{{ payload.path }}{% endif %}",
      `https://x.example/${encoded}`,
    ],
  ])("percent-encodes each value as a URL component: %s", (source, expected) => {
    const rendered = render(source, { path: hostile });
    expect(rendered.startsWith(expected)).toBe(true);
    const url = /https:\/\/[^\]\s]*/.exec(rendered)?.[0] ?? "";
    expect(new URL(url).host).toBe("x.example");
  });

  it("leaves a value that is the whole URL, and text outside URLs, as it was", () => {
    expect(render("{{ payload.url }}", { url: "https://github.com/o/r/issues/1" })).toBe(
      "https://github.com/o/r/issues/1",
    );
    expect(render("see https://x.example/ and {{ payload.path }}", { path: "a/b" })).toBe(
      "see https://x.example/ and a/b",
    );
  });

  it.each([
    "https://{{ payload.tenant }}.example.com/",
    "https://x.example{{ payload.path }}",
    "http://x.example:{{ payload.port }}/",
  ])("refuses a value before the host ends: %s", (source) => {
    expect(() => engine.compile(source, "routes[0].attach")).toThrow(ConfigError);
    expect(() => engine.compile(source, "routes[0].attach")).toThrow(/before the host ends/);
  });
});

describe("compile errors", () => {
  it("names the key and fails on syntax errors and unknown filters", () => {
    expect(() => engine.compile("{{ payload.x ", "routes[3].userId")).toThrow(
      /^routes\[3\]\.userId: /,
    );
    expect(() => engine.compile("{{ payload.x | upcsae }}", "routes[0].message")).toThrow(
      /routes\[0\]\.message: .*upcsae/,
    );
    expect(() => engine.compileCondition("(payload.x", "routes[1].condition")).toThrow(
      /routes\[1\]\.condition/,
    );
  });

  it("rejects a literal lookup table that the config does not define", () => {
    expect(() =>
      engine.compile("{{ payload.id | lookup: 'githubUser' }}", "routes[0].userId"),
    ).toThrow(/routes\[0\]\.userId: unknown lookup table "githubUser"/);
  });
});

describe("lookup filter", () => {
  it("maps values through the table, as text keys", () => {
    expect(render("{{ payload.id | lookup: 'githubUsers' }}", { id: 583231 })).toBe("2");
    expect(render('{{ payload.login | lookup: "githubUsers" }}', { login: "octocat" })).toBe("7");
  });

  it("renders empty for absent keys, prototype keys and tables only known at render time", () => {
    expect(render("{{ payload.id | lookup: 'githubUsers' }}", { id: 1 })).toBe("");
    expect(render("{{ 'constructor' | lookup: 'githubUsers' }}")).toBe("");
    expect(render("{{ payload.id | lookup: payload.table }}", { id: 583231, table: "nope" })).toBe(
      "",
    );
    expect(
      render("{{ payload.id | lookup: payload.table }}", { id: 583231, table: "githubUsers" }),
    ).toBe("2");
  });
});

describe("money filter", () => {
  it.each([
    [1234, "usd", "$12.34"],
    [1234, "JPY", "¥1,234"],
    [500, "eur", "€5.00"],
    [123456789, "USD", "$1,234,567.89"],
    [1234, "KWD", "KWD 1.234"],
    ["1999", "usd", "$19.99"],
    [-250, "usd", "-$2.50"],
  ])("formats %j %s as %s", (amount, currency, expected) => {
    expect(formatMoney(amount, currency).replace(/\u00A0/g, " ")).toBe(expected);
  });

  it.each([
    [null, "usd"],
    ["12.34x", "usd"],
    [Number.NaN, "usd"],
    [1234, "dollars"],
    [1234, undefined],
    [1234, 12],
    [{}, "usd"],
  ])("renders %j %j as empty text", (amount, currency) => {
    expect(formatMoney(amount, currency)).toBe("");
  });

  it("works in templates", () => {
    expect(
      render("{{ payload.amount | money: payload.currency }}", { amount: 990, currency: "gbp" }),
    ).toBe("£9.90");
    expect(render("{{ payload.amount | money: payload.currency }}", { amount: 990 })).toBe("");
  });
});

describe("date filter", () => {
  it("reads unix seconds (Stripe's created) and ISO strings, in UTC", () => {
    expect(render("{{ payload.created | date: '%Y-%m-%d %H:%M' }}", { created: 1700000000 })).toBe(
      "2023-11-14 22:13",
    );
    expect(
      render("{{ payload.created | date: '%Y-%m-%d %H:%M' }}", { created: "1700000000" }),
    ).toBe("2023-11-14 22:13");
    expect(
      render("{{ payload.at | date: '%d %b %Y %H:%M' }}", { at: "2024-03-05T23:30:00+02:00" }),
    ).toBe("05 Mar 2024 21:30");
  });

  it("has a readable UTC default format and leaves unreadable input as text", () => {
    expect(render("{{ payload.at | date }}", { at: "2024-03-05T10:20:30Z" })).toBe(
      "2024-03-05 10:20 UTC",
    );
    expect(render("{{ payload.at | date: '%Y' }}", { at: "not a date" })).toBe("not a date");
  });
});

describe("conditions", () => {
  const condition = engine.compileCondition(
    "payload.issue.user.login == 'octocat' and payload.action != 'deleted'",
    "routes[0].condition",
  );

  it("is true only when the expression is truthy", () => {
    expect(
      condition.test(context({ issue: { user: { login: "octocat" } }, action: "closed" })),
    ).toBe(true);
    expect(condition.test(context({ issue: { user: { login: "other" } }, action: "closed" }))).toBe(
      false,
    );
    expect(condition.test(context({}))).toBe(false);
  });

  it("is not fooled by payload text that looks like the marker", () => {
    const echo = engine.compileCondition("payload.flag", "routes[0].condition");
    expect(echo.test(context({ flag: false }))).toBe(false);
    expect(echo.test(context({ flag: "1" }))).toBe(true);
    expect(echo.test(context({}))).toBe(false);
  });
});
