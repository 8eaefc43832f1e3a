import { describe, expect, it } from "vitest";
import { parseConfig } from "../../functions/core/config";
import { ConfigError } from "../../functions/core/errors";
import {
  compileRoutes,
  conditionKey,
  type EventForRouting,
  patternToRegExp,
  routeLookup,
} from "../../functions/core/routes";

const base = {
  bitrix: { openLineCode: "ab515f5d85a8b844d484f6ea75a2e494" },
  sources: [
    { id: "github", type: "github", secret: "env:GITHUB_SECRET" },
    { id: "stripe", type: "stripe", secret: "env:STRIPE_SECRET" },
  ],
  lookups: { githubUsers: { "583231": 2, "1": 9 } },
};

const configWith = (routes: unknown[], extra: object = {}) =>
  parseConfig({ ...base, ...extra, routes });

const issueRoute = {
  source: "github",
  events: ["issues.closed"],
  userId: "{{ payload.issue.user.id | lookup: 'githubUsers' }}",
  message: "Your issue [b]{{ payload.issue.title }}[/b] was closed.",
};

const event = (overrides: Partial<EventForRouting> = {}): EventForRouting => ({
  sourceId: "github",
  eventId: "d1",
  eventName: "issues.closed",
  receivedAt: new Date("2024-05-01T12:00:00Z"),
  payload: { issue: { title: "Crash on start", user: { id: 583231, login: "octocat" } } },
  ...overrides,
});

describe("patternToRegExp", () => {
  it.each([
    ["issues.closed", "issues.closed", true],
    ["issues.closed", "issuesXclosed", false],
    ["issues.*", "issues.closed", true],
    ["issues.*", "issues", false],
    ["issues.*", "pull_request.closed", false],
    ["*", "anything.at.all", true],
    ["*.created", "customer.created", true],
    ["*.created", "customer.updated", false],
    ["invoice.*.failed", "invoice.payment.failed", true],
    ["push", "push", true],
    ["push", "pushed", false],
  ])("%s matches %s: %s", (pattern, name, expected) => {
    expect(patternToRegExp(pattern).test(name)).toBe(expected);
  });
});

/** The single bitrix block's portal and line. */
const DEFAULT_TARGET = expect.objectContaining({ portal: "default", openLine: "default" });

/** The result of the first route rendered, as a digest-when-limited message to the default line. */
const renderedFirst = (message: object) => ({
  routeIndex: 0,
  ok: true,
  whenLimited: "digest",
  target: DEFAULT_TARGET,
  message,
});

describe("compileRoutes", () => {
  it("renders a matching route with escaped payload text", () => {
    const router = compileRoutes(configWith([issueRoute]));
    const hostile = event({
      payload: { issue: { title: "[url=https://evil.example]x[/url]", user: { id: 583231 } } },
    });
    const [result] = router.route(hostile);
    expect(result).toEqual(
      renderedFirst({
        userId: 2,
        message:
          "Your issue [b]\uFF3Burl=https://evil.example\uFF3Dx\uFF3B/url\uFF3D[/b] was closed.",
      }),
    );
  });

  it("returns nothing for other sources or event names", () => {
    const router = compileRoutes(configWith([issueRoute]));
    expect(router.route(event({ eventName: "issues.opened" }))).toEqual([]);
    expect(router.route(event({ sourceId: "stripe" }))).toEqual([]);
    expect(router.hasCandidates("github", "issues.closed")).toBe(true);
    expect(router.hasCandidates("github", "issues.opened")).toBe(false);
    expect(router.hasCandidates("stripe", "issues.closed")).toBe(false);
  });

  it("matches wildcards and gives one result per matching route, in config order", () => {
    const router = compileRoutes(
      configWith([
        { ...issueRoute, events: ["push", "issues.*"], message: "first {{ event.name }}" },
        { ...issueRoute, source: "stripe", events: ["*"], message: "stripe" },
        { ...issueRoute, events: ["*"], message: "second {{ event.id }}" },
      ]),
    );
    const results = router.route(event());
    expect(results.map((r) => r.routeIndex)).toEqual([0, 2]);
    expect(results.map((r) => (r.ok ? r.message.message : r.reason))).toEqual([
      "first issues.closed",
      "second d1",
    ]);
  });

  it("applies conditions, ignoring them in hasCandidates", () => {
    const router = compileRoutes(
      configWith([{ ...issueRoute, condition: "payload.issue.user.login == 'octocat'" }]),
    );
    expect(router.route(event())).toHaveLength(1);
    const other = event({ payload: { issue: { title: "t", user: { id: 583231, login: "x" } } } });
    expect(router.route(other)).toEqual([]);
    expect(router.hasCandidates("github", "issues.closed")).toBe(true);
  });

  it("formats Stripe amounts and dates", () => {
    const router = compileRoutes(
      configWith([
        {
          source: "stripe",
          events: ["invoice.payment_failed"],
          userId: "{{ payload.data.object.metadata.bitrix_user }}",
          message:
            "Payment of {{ payload.data.object.amount_due | money: payload.data.object.currency }} failed on {{ payload.created | date: '%Y-%m-%d' }}",
        },
      ]),
    );
    const [result] = router.route(
      event({
        sourceId: "stripe",
        eventName: "invoice.payment_failed",
        payload: {
          created: 1700000000,
          data: {
            object: { amount_due: 1234, currency: "usd", metadata: { bitrix_user: " 15 " } },
          },
        },
      }),
    );
    expect(result).toEqual(
      renderedFirst({ userId: 15, message: "Payment of $12.34 failed on 2023-11-14" }),
    );
  });

  it.each([
    [{ issue: { title: "t", user: { id: 404 } } }, 'userId rendered as "" (no user id found)'],
    [{ issue: { title: "t" } }, 'userId rendered as "" (no user id found)'],
  ])("fails when the lookup finds no user", (payload, reason) => {
    const router = compileRoutes(configWith([issueRoute]));
    expect(router.route(event({ payload }))).toEqual([{ routeIndex: 0, ok: false, reason }]);
  });

  it.each([
    ["abc", /userId rendered as "abc" \(not a positive integer\)/],
    ["0", /userId rendered as "0"/],
    ["-3", /userId rendered as "-3"/],
    ["1.5", /userId rendered as "1.5"/],
    ["99999999999999999999", /not a positive integer/],
    ["x".repeat(500), /userId rendered as "x{39}…" \(not a positive integer\)/],
  ])("fails when userId renders as %j", (raw, reason) => {
    const router = compileRoutes(configWith([{ ...issueRoute, userId: "{{ payload.uid }}" }]));
    const [result] = router.route(event({ payload: { uid: raw } }));
    expect(result?.ok).toBe(false);
    if (result && !result.ok) expect(result.reason).toMatch(reason);
  });

  it("fails an empty message and turns render errors into reasons", () => {
    const router = compileRoutes(
      configWith([
        { ...issueRoute, message: "{{ payload.missing }}" },
        { ...issueRoute, message: "{% for i in (1..payload.count) %}.{% endfor %}" },
        { ...issueRoute, message: "{{ payload.issue.title | find_exp: 'i', '' }}" },
        issueRoute,
      ]),
    );
    const base = event();
    const results = router.route({
      ...base,
      payload: { ...(base.payload as object), count: 1e308 },
    });
    expect(results[0]).toEqual({ routeIndex: 0, ok: false, reason: "message is empty" });
    expect(results[1]).toEqual({
      routeIndex: 1,
      ok: false,
      reason: expect.stringMatching(/^message: memory alloc limit exceeded/),
    });
    expect(results[2]).toMatchObject({
      routeIndex: 2,
      ok: false,
      reason: expect.stringMatching(/^message: /),
    });
    expect(results[3]?.ok).toBe(true);
  });

  it("stops a loop sized by the payload", () => {
    const router = compileRoutes(
      configWith([
        {
          ...issueRoute,
          message:
            "{% for a in payload.list %}{% for b in payload.list %}{% endfor %}{% endfor %}x",
        },
      ]),
    );
    const list = Array.from({ length: 5000 }, (_, index) => index);
    const [result] = router.route(event({ payload: { ...(event().payload as object), list } }));
    expect(result).toMatchObject({ ok: false, reason: expect.stringMatching(/limit exceeded/) });
  });

  it("renders attach and keyboard leaf by leaf and validates them", () => {
    // The attach as written with `title` and `login`: templates in the route, values once rendered.
    const issueAttach = (title: string, login: string) => ({
      COLOR_TOKEN: "primary",
      BLOCKS: [
        { MESSAGE: `[b]${title}[/b]` },
        { DELIMITER: { SIZE: 200, COLOR: "#c6c6c6" } },
        { GRID: [{ NAME: "By", VALUE: login, DISPLAY: "ROW" }] },
      ],
    });
    const router = compileRoutes(
      configWith([
        {
          ...issueRoute,
          urlPreview: false,
          attach: issueAttach("{{ payload.issue.title }}", "{{ payload.issue.user.login }}"),
          keyboard: [{ TEXT: "Open", LINK: "{{ payload.issue.html_url }}" }],
        },
      ]),
    );
    const payload = {
      issue: {
        title: "[i]t",
        html_url: "https://github.com/o/r/issues/1",
        user: { id: 583231, login: "octocat" },
      },
    };
    expect(router.route(event({ payload }))).toEqual([
      renderedFirst({
        userId: 2,
        message: "Your issue [b]\uFF3Bi\uFF3Dt[/b] was closed.",
        urlPreview: false,
        attach: issueAttach("\uFF3Bi\uFF3Dt", "octocat"),
        keyboard: [{ TEXT: "Open", LINK: "https://github.com/o/r/issues/1" }],
      }),
    ]);

    const query = { issue: { ...payload.issue, html_url: "https://x.example/a?b=1&c=d-" } };
    const [withQuery] = router.route(event({ payload: query }));
    expect(withQuery?.ok && withQuery.message.keyboard).toEqual([
      { TEXT: "Open", LINK: "https://x.example/a?b=1&c=d-" },
    ]);

    const userInfo = { issue: { ...payload.issue, html_url: "https://evil.example\\@x.example" } };
    expect(router.route(event({ payload: userInfo }))[0]).toMatchObject({ ok: false });

    const evil = { issue: { ...payload.issue, html_url: "javascript:alert(1)" } };
    expect(router.route(event({ payload: evil }))).toEqual([
      {
        routeIndex: 0,
        ok: false,
        reason: "keyboard[0].LINK: must be an http(s) URL (javascript:)",
      },
    ]);
  });

  it("fails a route whose rendered attach is over 30 KB", () => {
    const router = compileRoutes(
      configWith([{ ...issueRoute, attach: [{ MESSAGE: "{{ payload.issue.body }}" }] }]),
    );
    const body = "x".repeat(31 * 1024);
    const [result] = router.route(event({ payload: { issue: { body, user: { id: 583231 } } } }));
    expect(result).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^attach is \d+ bytes/),
    });
    expect(result?.ok === false && result.reason.length).toBeLessThan(100);
  });
});

describe("compile errors name the key, at config load", () => {
  it.each([
    [{ ...issueRoute, message: "{{ payload.x " }, /^config: routes\[0\]\.message: /],
    [
      { ...issueRoute, message: "{{ payload.x | nosuchfilter }}" },
      /^config: routes\[0\]\.message: .*nosuchfilter/,
    ],
    [
      { ...issueRoute, userId: "{{ payload.id | lookup: 'nope' }}" },
      /^config: routes\[0\]\.userId: unknown lookup table "nope"/,
    ],
    [{ ...issueRoute, condition: "(payload.x" }, /^config: routes\[0\]\.condition: /],
    [
      { ...issueRoute, attach: [{ MESSAGE: "{% if %}" }] },
      /^config: routes\[0\]\.attach\[0\]\.MESSAGE: /,
    ],
    [
      { ...issueRoute, keyboard: { BUTTONS: [{ TEXT: "{{ x | bad }}" }] } },
      /^config: routes\[0\]\.keyboard\.BUTTONS\[0\]\.TEXT: /,
    ],
    [
      { ...issueRoute, message: "{% include 'secrets.txt' %}" },
      /^config: routes\[0\]\.message: .*include/,
    ],
  ])("%#", (route, message) => {
    const secondKey = (pattern: RegExp) =>
      new RegExp(pattern.source.replace("routes\\[0\\]", "routes\\[1\\]"));
    expect(() => configWith([issueRoute, route])).toThrow(ConfigError);
    expect(() => configWith([issueRoute, route])).toThrow(secondKey(message));
    expect(() => configWith([route])).toThrow(message);
  });
});

describe("routes looked up, not scanned", () => {
  it.each([
    ["payload.tenant == 'acme'", { path: ["tenant"], value: "acme" }],
    ['payload.data.portal == "eu-1"', { path: ["data", "portal"], value: "eu-1" }],
    ["payload.tenant == 'acme' and payload.amount > 100", { path: ["tenant"], value: "acme" }],
    ["  payload.tenant=='acme'  ", { path: ["tenant"], value: "acme" }],
    ["payload.tenant == 'acme' or payload.vip", undefined],
    ["payload.tenant == 'acme' and payload.a or payload.b", undefined],
    ["payload.tenant != 'acme'", undefined],
    ["payload.tenant == 5", undefined],
    ["'acme' == payload.tenant", undefined],
    ["event.name == 'push'", undefined],
    ["payload.items.size == '2'", undefined],
    ["payload.items.first == 'a'", undefined],
    ["payload.constructor == 'x'", undefined],
    ["payload['tenant'] == 'acme'", undefined],
  ])("%s keys on %j", (condition, key) => {
    expect(conditionKey(condition)).toEqual(key);
  });

  const tenantRoutes = Array.from({ length: 1000 }, (_, i) => ({
    source: i % 2 === 0 ? "github" : "stripe",
    condition: `payload.tenant == 't${i}'`,
  }));

  it("finds the one route of 1,000 whose tenant the payload names, and every unkeyed route", () => {
    const lookup = routeLookup([
      ...tenantRoutes,
      { source: "github" },
      { source: "github", condition: "payload.vip" },
    ]);
    expect(lookup("github", { tenant: "t500" })).toEqual([500, 1000, 1001]);
    expect(lookup("github", { tenant: "t501" })).toEqual([1000, 1001]); // a stripe route
    expect(lookup("stripe", { tenant: "t501" })).toEqual([501]);
    expect(lookup("stripe", { tenant: 501 })).toEqual([]);
    expect(lookup("stripe", {})).toEqual([]);
    expect(lookup("gitlab", { tenant: "t500" })).toEqual([]);
  });

  it("checks every keyed route when a list or a string sits on the field's path", () => {
    const lookup = routeLookup([
      { source: "github", condition: "payload.org.id == 'a'" },
      { source: "github", condition: "payload.org.id == 'b'" },
    ]);
    expect(lookup("github", { org: { id: "b" } })).toEqual([1]);
    expect(lookup("github", { org: [{ id: "b" }] })).toEqual([0, 1]);
    expect(lookup("github", { org: "b" })).toEqual([0, 1]);
    expect(lookup("github", { org: null })).toEqual([]);
  });

  it("routes as checking every route's condition would", () => {
    const payloads = [
      { tenant: "acme", amount: 500, org: { id: "x" } },
      { tenant: "acme", amount: 5, org: { id: "y" } },
      { tenant: "globex", org: [{ id: "x" }] },
      { tenant: 7, org: "x" },
      { org: { id: "x" } },
      "acme",
      null,
    ];
    const conditions = [
      "payload.tenant == 'acme'",
      "payload.tenant == 'acme' and payload.amount > 100",
      "payload.tenant == 'globex'",
      "payload.tenant == '7'",
      "payload.org.id == 'x'",
      "payload.org.id == 'x' and payload.tenant == 'acme'",
      "payload.org.first == 'x'",
      "payload.tenant == 'acme' or payload.amount > 100",
    ];
    const routesWith = (wrap: (condition: string) => string) =>
      conditions.map((condition, i) => ({
        source: "github",
        events: ["*"],
        condition: wrap(condition),
        userId: `${i + 1}`,
        message: `route ${i}`,
      }));
    const keyed = compileRoutes(configWith(routesWith((c) => c)));
    // `true and …` means the same to LiquidJS, but no route is keyed: every condition is checked.
    const scanned = compileRoutes(configWith(routesWith((c) => `true and ${c}`)));
    for (const payload of payloads) {
      const users = (router: typeof keyed) =>
        router.route(event({ eventName: "any", payload })).map((result) => result.routeIndex);
      expect(users(keyed), JSON.stringify(payload)).toEqual(users(scanned));
    }
    expect(
      keyed.route(event({ eventName: "any", payload: payloads[0] })).map((r) => r.routeIndex),
    ).toEqual([0, 1, 4, 5, 7]);
  });
});
