import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { neededScopes } from "../../cli/commands/doctor";
import type { Io } from "../../cli/output";
import { runCli } from "../../cli/program";
import { parseConfig } from "../../functions/core/config";

const LINE = "ab515f5d85a8b844d484f6ea75a2e494";

/** One portal, one source, one route that notifies when the week is taken. */
function notifyingConfig(options: { scopes?: string[]; whenLimited?: string } = {}) {
  return {
    bitrix: {
      openLineCode: LINE,
      ...(options.scopes && { scopes: options.scopes }),
    },
    sources: [{ id: "stripe", type: "stripe", secret: "env:STRIPE_SECRET" }],
    routes: [
      {
        source: "stripe",
        events: ["invoice.payment_failed"],
        userId: "5",
        message: "Payment failed",
        whenLimited: options.whenLimited ?? "notify",
      },
    ],
  };
}

function check(config: unknown, args: string[] = ["check"], files: Record<string, unknown> = {}) {
  const dir = mkdtempSync(join(tmpdir(), "hookline-notify-"));
  writeFileSync(join(dir, "hookline.config.json"), JSON.stringify(config));
  for (const [name, content] of Object.entries(files))
    writeFileSync(join(dir, name), JSON.stringify(content));
  const out: string[] = [];
  const err: string[] = [];
  const io: Io = {
    stdout: { write: (text: string) => out.push(text), isTTY: false },
    stderr: { write: (text: string) => err.push(text), isTTY: false },
    env: {},
    cwd: dir,
    fetch: async () => {
      throw new Error("no network in this test");
    },
    now: () => new Date("2026-12-04T09:00:00Z"),
  };
  return { run: () => runCli(args, io), out: () => out.join(""), err: () => err.join("") };
}

describe("a route that notifies, at load", () => {
  it.each(["notify", "notify-only"])(
    "hookline check refuses whenLimited %s on a portal without the im scope, naming the key and the fix",
    async (whenLimited) => {
      const cli = check(notifyingConfig({ whenLimited }));
      expect(await cli.run()).toBe(1);
      expect(cli.err()).toContain("routes[0].whenLimited");
      expect(cli.err()).toContain("needs the im scope");
      expect(cli.err()).toContain('add "im" to bitrix.scopes');
    },
  );

  it("hookline check accepts it once the portal declares im, and lists the route's whenLimited", async () => {
    const cli = check(notifyingConfig({ scopes: ["imopenlines", "im"] }));
    expect(await cli.run()).toBe(0);
    expect(cli.out()).toContain("0\tstripe\tinvoice.payment_failed\t\tnotify");
  });

  it("names the portal's index in a config of several portals", () => {
    const config = {
      portals: [
        { id: "main", openLines: { support: LINE }, scopes: ["imopenlines", "im"] },
        { id: "eu", openLines: { billing: LINE } },
      ],
      sources: [{ id: "stripe", type: "stripe", secret: "env:STRIPE_SECRET" }],
      routes: [
        {
          source: "stripe",
          events: ["*"],
          userId: "5",
          message: "x",
          whenLimited: "notify",
          to: { portal: "main" },
        },
        {
          source: "stripe",
          events: ["*"],
          userId: "5",
          message: "x",
          whenLimited: "notify",
          to: { portal: "eu" },
        },
      ],
    };
    expect(() => parseConfig(config)).toThrow(
      /routes\[1\]\.whenLimited: "notify" sends im\.notify\.system\.add, which needs the im scope: portal "eu" declares imopenlines\..*portals\[1\]\.scopes/,
    );
    expect(() => parseConfig(config)).not.toThrow(/routes\[0\]/);
  });

  it("refuses notify and notifyTag on a route that does not notify", () => {
    const config = notifyingConfig({ whenLimited: "digest" });
    const route = { ...config.routes[0], notify: "x", notifyTag: "y" };
    expect(() => parseConfig({ ...config, routes: [route] })).toThrow(
      /routes\[0\]\.notify: is used only with whenLimited "notify" or "notify-only".*routes\[0\]\.notifyTag/,
    );
  });

  it("refuses scopes without imopenlines, and a template error in notify names its key", () => {
    expect(() => parseConfig(notifyingConfig({ scopes: ["im"] }))).toThrow(
      /bitrix\.scopes: must include imopenlines/,
    );
    const config = notifyingConfig({ scopes: ["imopenlines", "im"] });
    const route = { ...config.routes[0], notifyTag: "{{ payload.x | mony }}" };
    expect(() => parseConfig({ ...config, routes: [route] })).toThrow(
      /routes\[0\]\.notifyTag: .*mony/,
    );
  });

  it("hookline doctor checks the declared scopes too, and im where a route notifies", () => {
    const config = parseConfig(notifyingConfig({ scopes: ["imopenlines", "im", "crm"] }));
    const portal = config.portals[0];
    if (!portal) throw new Error("no portal");
    expect(neededScopes(config, portal)).toEqual(["imopenlines", "im", "crm"]);
  });

  it("hookline render shows the notification and its TAG, sender text escaped as in the message", async () => {
    const config = notifyingConfig({ scopes: ["imopenlines", "im"] });
    const route = {
      ...config.routes[0],
      notify: "[b]Urgent[/b] {{ payload.note }}",
      notifyTag: "dunning:{{ payload.customer }}",
    };
    const cli = check(
      { ...config, routes: [route] },
      ["render", "stripe", "--event", "invoice.payment_failed", "--payload", "event.json"],
      { "event.json": { note: "[url=https://evil.example]x[/url]", customer: "cus_1" } },
    );
    expect(await cli.run()).toBe(0);
    expect(cli.out()).toContain("notification (TAG dunning:cus_1)");
    expect(cli.out()).toContain("[b]Urgent[/b]");
    expect(cli.out()).not.toContain("[url=");
  });
});
