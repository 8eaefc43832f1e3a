import { describe, expect, it } from "vitest";
import { parseConfig } from "../../functions/core/config";
import { EU_OAUTH } from "../support/config-fixtures";
import { problemsOf } from "../support/config-problems";

const SUPPORT = "ab515f5d85a8b844d484f6ea75a2e494";
const SALES = "0123456789abcdef0123456789abcdef";
const BILLING = "fedcba9876543210fedcba9876543210";

const sources = [{ id: "github", type: "github", secret: "env:GITHUB_SECRET" }];
const route = (to?: Record<string, string>) => ({
  source: "github",
  events: ["issues.opened"],
  userId: "1",
  message: "hi",
  ...(to && { to }),
});
const twoPortals = [
  {
    id: "main",
    webhookUrl: "env:MAIN_URL",
    openLines: { support: SUPPORT, sales: SALES },
    rateLimit: { perSecond: 2, burst: 50 },
  },
  {
    id: "eu",
    url: "https://eu-example.bitrix24.com",
    oauth: EU_OAUTH,
    openLines: { billing: BILLING },
    rateLimit: { perSecond: 5, burst: 250 },
  },
];

describe("several portals and open lines", () => {
  it("reads a portals list with a webhook portal and an OAuth portal", () => {
    const config = parseConfig({
      portals: twoPortals,
      sources,
      routes: [route({ portal: "main", openLine: "sales" }), route({ portal: "eu" })],
    });
    expect(config.portals.map((portal) => portal.id)).toEqual(["main", "eu"]);
    expect(config.portals[1]?.oauth).toEqual({
      clientId: "env:EU_ID",
      clientSecret: "env:EU_SECRET",
      refreshToken: "env:EU_REFRESH",
      server: "https://oauth.bitrix.info",
      keepAliveDays: 3,
    });
    // A part of `to` may be left out where there is one choice: eu has one line.
    expect(config.routes.map((r) => r.to)).toEqual([
      { portal: "main", openLine: "sales", openLineCode: SALES },
      { portal: "eu", openLine: "billing", openLineCode: BILLING },
    ]);
  });

  it("reads the single bitrix block as the portal default with the line default", () => {
    const config = parseConfig({ bitrix: { openLineCode: SUPPORT }, sources, routes: [route()] });
    expect(config.routes[0]?.to).toEqual({
      portal: "default",
      openLine: "default",
      openLineCode: SUPPORT,
    });
  });

  it("reads its own output again unchanged (the checked config bundled into the Lambdas)", () => {
    const config = parseConfig({ portals: twoPortals, sources, routes: [route({ portal: "eu" })] });
    expect(parseConfig(JSON.parse(JSON.stringify(config)))).toEqual(config);
  });

  it.each([
    [
      "a route names an unknown portal",
      { portals: twoPortals, routes: [route({ portal: "us" })] },
      'routes[0].to.portal: no portal with id "us" (portals: main, eu)',
    ],
    [
      "a route leaves the portal out though there are two",
      { portals: twoPortals, routes: [route()] },
      "routes[0].to.portal: required: this config has 2 portals (main, eu)",
    ],
    [
      "a route leaves the line out of a portal with two",
      { portals: twoPortals, routes: [route({ portal: "main" })] },
      'routes[0].to.openLine: required: portal "main" has 2 open lines (support, sales)',
    ],
    [
      "a route names a line the portal does not have",
      { portals: twoPortals, routes: [route({ portal: "main", openLine: "billing" })] },
      'routes[0].to.openLine: portal "main" has no open line "billing" (lines: support, sales)',
    ],
    [
      "both a bitrix block and portals",
      { bitrix: { openLineCode: SUPPORT }, portals: twoPortals },
      "portals: set either bitrix (one portal) or portals, not both",
    ],
    [
      "two portals with one id",
      { portals: [twoPortals[0], twoPortals[0]] },
      'portals[1].id: duplicate portal id "main"',
    ],
    [
      "a portal with a webhook URL and an OAuth app",
      { portals: [{ ...twoPortals[1], webhookUrl: "env:X" }] },
      "portals[0].oauth: set either webhookUrl or oauth, not both",
    ],
    [
      "an open line code that is not 32 characters",
      { portals: [{ ...twoPortals[0], openLines: { support: "short" } }] },
      "portals[0].openLines.support: must be the 32-character code",
    ],
    [
      "a portal with no open line",
      { portals: [{ ...twoPortals[0], openLines: {} }] },
      "portals[0].openLines: name at least one open line",
    ],
    [
      "OAuth in the old bitrix block",
      { bitrix: { openLineCode: SUPPORT, auth: {} } },
      "bitrix.auth: OAuth apps are configured in portals[] with an oauth block",
    ],
  ])("fails at load, naming the key, when %s", (_name, config, expected) => {
    expect(problemsOf({ sources, routes: [], ...config })).toContain(expected);
  });
});
