import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { Io } from "../../cli/output";
import { runCli } from "../../cli/program";

const NOW = new Date("2026-11-25T09:00:00Z");

/** A working directory holding `config` as hookline.config.json. */
function workspace(config: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), "hookline-cli-"));
  writeFileSync(join(dir, "hookline.config.json"), JSON.stringify(config));
  return dir;
}

function capture(cwd: string, options: { tty?: boolean; fetch?: typeof fetch } = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const io: Io = {
    stdout: { write: (text: string) => out.push(text), isTTY: options.tty ?? false },
    stderr: { write: (text: string) => err.push(text), isTTY: options.tty ?? false },
    env: {},
    cwd,
    fetch:
      options.fetch ??
      (async () => {
        throw new Error("no network in this test");
      }),
    now: () => NOW,
  };
  return { io, out: () => out.join(""), err: () => err.join("") };
}

const baseConfig = {
  bitrix: { openLineCode: "ab515f5d85a8b844d484f6ea75a2e494" },
  sources: [
    { id: "github", type: "github", secret: "env:GITHUB_SECRET" },
    { id: "stripe", type: "stripe", secret: "env:STRIPE_SECRET" },
  ],
  routes: [
    {
      source: "stripe",
      events: ["invoice.payment_failed"],
      userId: "{{ payload.data.object.customer | lookup: 'customers' }}",
      message:
        "[b]Payment failed[/b] for {{ payload.data.object.customer_emial }}: {{ payload.data.object.amount_due | money: payload.data.object.currency }}",
      attach: [{ LINK: { NAME: "Invoice", LINK: "{{ payload.data.object.hosted_invoice_url }}" } }],
    },
    {
      source: "github",
      events: ["issues.*"],
      condition: "payload.action == 'closed'",
      userId: "{{ payload.issue.user.id | lookup: 'githubUsers' }}",
      message: "closed: {{ payload.issue.title }}",
    },
  ],
  lookups: { customers: { cus_local_demo: 5 }, githubUsers: { "21031067": 6 } },
};

describe("hookline check", () => {
  it("lists sources with their webhook paths and routes with their events", async () => {
    const run = capture(workspace(baseConfig));
    expect(await runCli(["check"], run.io)).toBe(0);
    expect(run.out()).toContain("hookline.config.json is valid");
    expect(run.out()).toContain("github\tgithub\tPOST /webhooks/github");
    expect(run.out()).toContain("1\tgithub\tissues.*\tpayload.action == 'closed'\tdigest");
  });

  it("prints one JSON document with --json", async () => {
    const run = capture(workspace(baseConfig));
    expect(await runCli(["check", "--json"], run.io)).toBe(0);
    const report = JSON.parse(run.out());
    expect(report.sources).toEqual([
      { id: "github", type: "github", path: "/webhooks/github" },
      { id: "stripe", type: "stripe", path: "/webhooks/stripe" },
    ]);
    expect(report.routes[0]).toMatchObject({ index: 0, source: "stripe" });
  });

  it("fails with the config's own error, naming the key", async () => {
    const broken = {
      ...baseConfig,
      routes: [{ ...baseConfig.routes[0], message: "{{ payload.x | mony: 'eur' }}" }],
    };
    const run = capture(workspace(broken));
    expect(await runCli(["check"], run.io)).toBe(1);
    expect(run.err()).toMatch(/^error: configuration: .*routes\[0\]\.message: .*mony/);
  });

  it("aligns tables and colours only on a terminal", async () => {
    const run = capture(workspace(baseConfig), { tty: true });
    expect(await runCli(["check"], run.io)).toBe(0);
    expect(run.out()).toContain("\u001b[1mid      type    webhook path\u001b[22m");
    const plain = capture(workspace(baseConfig));
    await runCli(["check"], plain.io);
    expect(plain.out()).not.toContain("\u001b[");
  });
});

describe("hookline send with a secret it cannot read", () => {
  it("says which secret it cannot read to sign with, not that npm start may be down", async () => {
    const config = {
      ...baseConfig,
      sources: [{ id: "shop", type: "github", secret: "secretsmanager:shop-signing" }],
      routes: [],
    };
    const run = capture(workspace(config));
    expect(await runCli(["send", "shop", "--url", "http://127.0.0.1:9"], run.io)).toBe(1);
    expect(run.err()).toContain(
      "cannot sign for shop: secretsmanager:shop-signing cannot be read here (",
    );
    expect(run.err()).not.toContain("is npm start running");
  });
});

describe("hookline check warnings", () => {
  it("warns about a test week, naming the portal and what synth does with it", async () => {
    const run = capture(
      workspace({ ...baseConfig, bitrix: { ...baseConfig.bitrix, weekSeconds: 60 } }),
    );
    expect(await runCli(["check"], run.io)).toBe(0);
    expect(run.err()).toContain(
      "warning: bitrix.weekSeconds: 60, not Bitrix24's 604800: for simulators and tests only; cdk synth refuses it unless -c allowTestWeek=true",
    );
    const weekly = capture(workspace(baseConfig));
    await runCli(["check"], weekly.io);
    expect(weekly.err()).not.toContain("weekSeconds");
  });

  it("names a --config file it cannot read, and does not advise HOOKLINE_CONFIG then", async () => {
    const run = capture(workspace(baseConfig));
    expect(await runCli(["check", "--config", "nowhere.json"], run.io)).toBe(1);
    expect(run.err()).toContain("nowhere.json (no such file; check the --config path)");
    expect(run.err()).not.toContain("HOOKLINE_CONFIG");
  });

  it("warns about an event name the sender never sends, with a did-you-mean, in text and JSON", async () => {
    const typo = {
      ...baseConfig,
      routes: [{ ...baseConfig.routes[0], events: ["invoice.payment_faild"] }],
    };
    const run = capture(workspace(typo));
    expect(await runCli(["check"], run.io)).toBe(0);
    expect(run.err()).toContain(
      'warning: routes[0].events[0]: stripe sends no "invoice.payment_faild" event; did you mean "invoice.payment_failed"?',
    );
    const json = capture(workspace(typo));
    await runCli(["check", "--json"], json.io);
    expect(JSON.parse(json.out()).warnings).toEqual([
      {
        key: "routes[0].events[0]",
        message:
          'stripe sends no "invoice.payment_faild" event; did you mean "invoice.payment_failed"?',
      },
    ]);
  });
});

describe("hookline check: unsigned event names", () => {
  const hmac = (extra: Record<string, unknown>) => ({
    id: "shop",
    type: "hmac",
    secret: "env:SHOP_SECRET",
    header: "x-shop-signature",
    eventId: { path: "id" },
    ...extra,
  });
  const withSource = (source: Record<string, unknown>) => ({
    ...baseConfig,
    sources: [...baseConfig.sources, source],
  });

  it("warns when an HMAC source names events from a header and signs no timestamp", async () => {
    const run = capture(workspace(withSource(hmac({ eventName: { header: "x-shop-event" } }))));
    expect(await runCli(["check", "--json"], run.io)).toBe(0);
    expect(JSON.parse(run.out()).warnings).toEqual([
      {
        key: "sources[2].eventName",
        message: expect.stringMatching(/x-shop-event.*unsigned.*relabel/),
      },
    ]);
  });

  it.each([
    ["a signed JSON path", { eventName: { path: "type" } }],
    [
      "a header with a signed timestamp",
      { eventName: { header: "x-shop-event" }, timestampHeader: "x-shop-timestamp" },
    ],
  ])("does not warn for %s", async (_, extra) => {
    const run = capture(workspace(withSource(hmac(extra))));
    expect(await runCli(["check", "--json"], run.io)).toBe(0);
    expect(JSON.parse(run.out()).warnings).toEqual([]);
  });
});

describe("hookline check --stack", () => {
  const TOPIC = "arn:aws:sns:eu-central-1:123456789012:Hookline-AlarmTopic";
  const options = (confirmed: number, asked: string[]) => ({
    readOutputs: async (stack: string) => {
      asked.push(stack);
      return { AlarmTopicArn: TOPIC, TableName: "t" };
    },
    alarmSubscriptions: async (topicArn: string, region?: string) => {
      asked.push(`${topicArn} in ${region}`);
      return confirmed;
    },
  });

  it("warns when the deployed alarm topic has no confirmed subscription", async () => {
    const asked: string[] = [];
    const run = capture(workspace(baseConfig));
    expect(await runCli(["check", "--stack", "Hookline"], run.io, options(0, asked))).toBe(0);
    expect(run.err()).toContain(
      "warning: stack Hookline: AlarmTopicArn: the alarm topic has no confirmed subscription, so alarms reach nobody",
    );
    expect(asked).toEqual(["Hookline", `${TOPIC} in eu-central-1`]);
  });

  it("says nothing of alarms when someone is subscribed, or without --stack", async () => {
    const subscribed = capture(workspace(baseConfig));
    expect(await runCli(["check", "--stack", "Hookline"], subscribed.io, options(1, []))).toBe(0);
    expect(subscribed.err()).not.toContain("alarm");
    const asked: string[] = [];
    const local = capture(workspace(baseConfig));
    expect(await runCli(["check"], local.io, options(0, asked))).toBe(0);
    expect(asked).toEqual([]);
  });
});

describe("hookline render", () => {
  it("renders the Stripe example with ATTACH and warns about a variable that rendered empty", async () => {
    const run = capture(workspace(baseConfig));
    expect(
      await runCli(["render", "stripe", "--event", "invoice.payment_failed", "--example"], run.io),
    ).toBe(0);
    expect(run.out()).toContain("routes[0] (invoice.payment_failed)  rendered for user 5");
    expect(run.out()).toContain("[b]Payment failed[/b] for : $20.00");
    expect(run.out()).toContain('"NAME": "Invoice"');
    expect(run.err()).toContain(
      "routes[0].message: payload.data.object.customer_emial rendered empty",
    );
  });

  it("says when a route listens but its condition is false, in JSON too", async () => {
    const run = capture(workspace(baseConfig));
    expect(
      await runCli(["render", "github", "--event", "issues.opened", "--example", "--json"], run.io),
    ).toBe(0);
    const report = JSON.parse(run.out());
    expect(report).toMatchObject({
      source: "github",
      event: { name: "issues.opened" },
      matched: 0,
      payload: "example",
      routes: [{ index: 1, result: "condition-false" }],
    });
  });

  it("renders a payload file, and exits 1 when a route fails to render", async () => {
    const dir = workspace(baseConfig);
    writeFileSync(
      join(dir, "event.json"),
      JSON.stringify({ data: { object: { customer: "cus_unknown" } } }),
    );
    const run = capture(dir);
    expect(
      await runCli(
        ["render", "stripe", "--event", "invoice.payment_failed", "--payload", "event.json"],
        run.io,
      ),
    ).toBe(1);
    expect(run.out()).toContain('failed: userId rendered as "" (no user id found)');
  });

  it.each([
    [
      "lists nearby examples when there is none for the name",
      ["render", "stripe", "--event", "invoice.paid", "--example", "invoice.voided"],
      "no example for invoice.voided; examples near it: invoice.payment_failed, invoice.paid",
    ],
    [
      "suggests the example a typo meant",
      ["render", "stripe", "--event", "x", "--example", "invoice.payment_faild"],
      "no example for invoice.payment_faild; did you mean invoice.payment_failed?",
    ],
    [
      "names the sources there are for an unknown one",
      ["render", "gitlab", "--event", "push"],
      'no source "gitlab" in the config (sources: github, stripe)',
    ],
  ])("%s", async (_name, argv, error) => {
    const run = capture(workspace(baseConfig));
    expect(await runCli(argv, run.io)).toBe(1);
    expect(run.err()).toContain(error);
  });
});

describe("hookline send", () => {
  it("signs with the source's secret from the environment and prints the answer", async () => {
    const requests: { url: string; headers: Record<string, string> }[] = [];
    const run = capture(workspace(baseConfig), {
      fetch: async (url, init) => {
        requests.push({ url: String(url), headers: init?.headers as Record<string, string> });
        return new Response(JSON.stringify({ status: "accepted", messages: 1 }), { status: 202 });
      },
    });
    const io = { ...run.io, env: { STRIPE_SECRET: "whsec_from_env" } };
    expect(await runCli(["send", "stripe", "--url", "http://bridge.test/"], io)).toBe(0);
    expect(requests[0]?.url).toBe("http://bridge.test/webhooks/stripe");
    expect(requests[0]?.headers["stripe-signature"]).toMatch(/^t=\d+,v1=[0-9a-f]{64}/);
    expect(run.out()).toContain('202 {"status":"accepted","messages":1}');
  });

  it("exits 1 and names the variable when the secret is not set", async () => {
    const run = capture(workspace(baseConfig));
    expect(await runCli(["send", "stripe", "--url", "http://bridge.test"], run.io)).toBe(1);
    expect(run.err()).toContain("STRIPE_SECRET is not set");
  });

  it("says how to reach the bridge when nothing answers", async () => {
    const run = capture(workspace(baseConfig));
    const io = { ...run.io, env: { GITHUB_SECRET: "s" } };
    expect(await runCli(["send", "github"], io)).toBe(1);
    expect(run.err()).toContain(
      "could not reach http://127.0.0.1:3000 (no network in this test); is npm start running? Or pass --url",
    );
  });
});
