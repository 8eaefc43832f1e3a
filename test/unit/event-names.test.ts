import { join } from "node:path";
import { build } from "esbuild";
import { describe, expect, it } from "vitest";
import { senderEventNames, stripeEventTypes } from "../../cli/sender-event-names";
import { loadConfigFile, parseConfig } from "../../functions/core/config";
import { closest, unknownEventWarnings } from "../../functions/core/event-names";
import { hooklineEsbuildOptions } from "../../lib/bundling";

const ROOT = join(import.meta.dirname, "../..");

const configWith = (routes: { source: string; events: string[] }[]) =>
  parseConfig({
    bitrix: { openLineCode: "ab515f5d85a8b844d484f6ea75a2e494" },
    sources: [
      { id: "gh", type: "github", secret: "env:G" },
      { id: "billing", type: "stripe", secret: "env:S" },
      { id: "app", type: "standard-webhooks", secret: "env:A" },
    ],
    routes: routes.map((route) => ({ ...route, userId: "1", message: "hi" })),
  });

describe("the senders' own event names", () => {
  it("come from @octokit/webhooks for GitHub and the stripe package for Stripe", () => {
    const known = senderEventNames();
    expect(known.github).toContain("issues.closed");
    expect(known.github).toContain("push");
    expect(stripeEventTypes()).toContain("invoice.payment_failed");
    expect(stripeEventTypes().length).toBeGreaterThan(200);
  });
});

describe("unknownEventWarnings", () => {
  it("says nothing about the shipped example config", () => {
    expect(
      unknownEventWarnings(loadConfigFile(join(ROOT, "hookline.config.json")), senderEventNames()),
    ).toEqual([]);
  });

  it("names a typo in a Stripe event, with the real name", () => {
    const config = configWith([
      { source: "billing", events: ["invoice.paid", "invoice.payment_faild"] },
    ]);
    expect(unknownEventWarnings(config, senderEventNames())).toEqual([
      'routes[0].events[1]: stripe sends no "invoice.payment_faild" event; did you mean "invoice.payment_failed"?',
    ]);
  });

  it("names a typo in a GitHub event, and patterns that match nothing", () => {
    const config = configWith([
      { source: "gh", events: ["issue.closed", "pull_request.*", "pul_request.*", "*"] },
    ]);
    expect(unknownEventWarnings(config, senderEventNames())).toEqual([
      'routes[0].events[0]: github sends no "issue.closed" event; did you mean "issues.closed"?',
      "routes[0].events[2]: matches no github event",
    ]);
  });

  it("explains that GitHub events with an action are named event.action", () => {
    const [warning] = unknownEventWarnings(
      configWith([{ source: "gh", events: ["issues"] }]),
      senderEventNames(),
    );
    expect(warning).toMatch(/^routes\[0\]\.events\[0\]: GitHub issues events carry an action/);
    expect(warning).toContain('"issues.*"');
    expect(
      unknownEventWarnings(configWith([{ source: "gh", events: ["push"] }]), senderEventNames()),
    ).toEqual([]);
  });

  it("leaves sources without a published list alone, and uses the lists it is given", () => {
    const config = configWith([
      { source: "app", events: ["anything.at_all"] },
      { source: "billing", events: ["custom.event"] },
    ]);
    expect(unknownEventWarnings(config, { stripe: ["custom.event"] })).toEqual([]);
  });

  it("suggests only names near enough to be a typo", () => {
    expect(closest("invoice.paid", ["invoice.paid", "invoice.sent"])).toBe("invoice.paid");
    expect(closest("completely.different", ["invoice.paid"])).toBeUndefined();
  });
});

describe("the Lambda bundles", () => {
  it("never include the event name lists", async () => {
    const result = await build({
      ...hooklineEsbuildOptions,
      entryPoints: ["ingest", "deliver", "sweep"].map((name) =>
        join(ROOT, "functions", name, "handler.ts"),
      ),
      outdir: join(ROOT, "cdk.out", "event-names-test"),
      write: false,
      metafile: true,
      minify: false,
      sourcemap: false,
      logLevel: "silent",
    });
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.some((input) => input.includes("functions/ingest/handler.ts"))).toBe(true);
    expect(
      inputs.filter((input) =>
        /event-names|@octokit\/webhooks\/|node_modules\/stripe\//.test(input),
      ),
    ).toEqual([]);
  });
});
