import { describe, expect, it } from "vitest";
import { parseConfig } from "../../functions/core/config";
import { deliverConcurrency } from "../../lib/capacity";
import { portalsWithoutTarget } from "../../lib/hookline-stack";

const LINE = "ab515f5d85a8b844d484f6ea75a2e494";
const sources = [{ id: "gh", type: "github", secret: "env:GH" }];
const oauth = { clientId: "env:ID", clientSecret: "env:SECRET", refreshToken: "env:RT" };

describe("portals on AWS", () => {
  it("need somewhere to send: a webhook URL, or an OAuth app with the portal's address", () => {
    const config = parseConfig({
      sources,
      portals: [
        { id: "hook", webhookUrl: "env:HOOK", openLines: { a: LINE } },
        { id: "app", url: "https://app.bitrix24.com", oauth, openLines: { a: LINE } },
        { id: "nowhere", openLines: { a: LINE } },
        { id: "noaddress", oauth, openLines: { a: LINE } },
      ],
      routes: [],
    });
    expect(portalsWithoutTarget(config)).toEqual([
      'portals[2] ("nowhere"): webhookUrl or oauth',
      `portals[3] ("noaddress").url: the portal's address, for its OAuth app`,
    ]);
    expect(portalsWithoutTarget(parseConfig({ sources, bitrix: { openLineCode: LINE } }))).toEqual([
      "bitrix.webhookUrl",
    ]);
  });

  it("get deliver workers for the sum of their rates", () => {
    const config = parseConfig({
      sources,
      portals: [
        { id: "a", webhookUrl: "env:A", openLines: { a: LINE }, rateLimit: { perSecond: 2 } },
        { id: "b", webhookUrl: "env:B", openLines: { a: LINE }, rateLimit: { perSecond: 5 } },
      ],
    });
    expect(deliverConcurrency(config)).toBe(7);
  });
});
