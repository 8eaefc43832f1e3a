import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readEnvironment } from "../../functions/adapters/environment";
import { makeSecretResolver } from "../../functions/adapters/secrets";
import { loadConfigFile, parseConfig } from "../../functions/core/config";
import { MAX_BODY_BYTES } from "../../functions/core/config-schema";
import { ConfigError } from "../../functions/core/errors";
import { compileRoutes } from "../../functions/core/routes";
import { problemsOf } from "../support/config-problems";

const CODE = "ab515f5d85a8b844d484f6ea75a2e494";
const minimal = () => ({
  bitrix: { openLineCode: CODE },
  sources: [{ id: "github", type: "github", secret: "env:GITHUB_SECRET" }],
});

describe("config", () => {
  it("fills the documented defaults", () => {
    const config = parseConfig(minimal());
    // The single bitrix block is one portal, "default", with one open line, "default".
    expect(config.portals).toEqual([
      expect.objectContaining({
        id: "default",
        openLines: { default: expect.stringMatching(/^[A-Za-z0-9]{32}$/) },
        rateLimit: { perSecond: 2, burst: 50, operatingSeconds: 480, operatingWindowSeconds: 600 },
        batch: { maxMessages: 50, gatherMs: 1000 },
        weeklyLimit: true,
        timeoutMs: 8000,
        weekSeconds: 604_800,
        weekMarginSeconds: 300,
        requestLimitSeconds: 60,
      }),
    ]);
    expect(config.limits.maxBodyBytes).toBe(1024 * 1024);
    expect(config.delivery).toEqual({
      retryFor: 86_400,
      maxBackoffSeconds: 900,
      leaseSeconds: 120,
    });
    expect(config.digest).toMatchObject({ maxEvents: 20 });
    expect(config.routes.every((route) => route.whenLimited === "digest")).toBe(true);
    expect(config.sources[0]?.secret).toEqual(["env:GITHUB_SECRET"]);
    expect(config.routes).toEqual([]);
  });

  it.each([
    [
      "a short open line code",
      { bitrix: { openLineCode: "abc" } },
      "bitrix.openLineCode: must be the 32-character code of the open line",
    ],
    [
      "a literal secret",
      { sources: [{ id: "g", type: "github", secret: "hunter2" }] },
      "sources[0].secret: must be a secret reference",
    ],
    [
      "an unknown source type",
      { sources: [{ id: "g", type: "gitlab", secret: "env:X" }] },
      "sources[0].type",
    ],
    ["an unknown key", { bitrix: { openLineCode: CODE, webhook: "env:X" } }, "bitrix"],
    [
      "a negative rate",
      { bitrix: { openLineCode: CODE, rateLimit: { perSecond: -1 } } },
      "bitrix.rateLimit.perSecond",
    ],
    [
      "an hmac source without its signature header",
      {
        sources: [
          {
            id: "h",
            type: "hmac",
            secret: "env:X",
            eventId: { path: "id" },
            eventName: { path: "t" },
          },
        ],
      },
      "sources[0].header",
    ],
    ["OAuth (not supported yet)", { bitrix: { openLineCode: CODE, auth: {} } }, "bitrix.auth"],
  ])("rejects %s, naming the key", (_name, override, expected) => {
    const message = problemsOf({ ...minimal(), ...override });
    expect(message).toContain("test.json: ");
    expect(message).toContain(expected);
    expect(message).not.toContain("hunter2");
  });

  it("rejects routes to unknown sources and duplicate source ids", () => {
    const message = problemsOf({
      ...minimal(),
      sources: [...minimal().sources, { id: "github", type: "stripe", secret: "env:S" }],
      routes: [{ source: "gitlab", events: ["push"], userId: "1", message: "hi" }],
    });
    expect(message).toContain('sources[1].id: duplicate source id "github"');
    expect(message).toContain('routes[0].source: no source with id "gitlab"');
  });

  it("caps the body limit where Lambda still takes the event (6 MB, the body maybe base64)", () => {
    const at = (maxBodyBytes: number) => ({ ...minimal(), limits: { maxBodyBytes } });
    expect(parseConfig(at(MAX_BODY_BYTES), "test").limits.maxBodyBytes).toBe(4 * 1024 * 1024);
    expect(problemsOf(at(MAX_BODY_BYTES + 1))).toContain(
      "limits.maxBodyBytes: must be at most 4194304 (4 MiB): a larger body never reaches ingest on AWS",
    );
    // What the schema used to take: 10 MiB bodies that AWS answers itself, not with hookline's 413.
    expect(problemsOf(at(10 * 1024 * 1024))).toContain("limits.maxBodyBytes: must be at most");
  });

  it("says which key is missing and what it looks like", () => {
    const message = problemsOf({ ...minimal(), bitrix: {} });
    expect(message).toContain(
      "bitrix.openLineCode: required: the 32-character code of the open line that sends the messages, e.g. ab515f5d85a8b844d484f6ea75a2e494",
    );
    expect(message).not.toContain("Invalid input");
    expect(problemsOf({ sources: minimal().sources })).toContain(
      "bitrix: required: a bitrix block (one portal) or a portals list",
    );
  });

  const route = (fields: Record<string, unknown>) => ({
    source: "github",
    events: ["issues.opened"],
    userId: "1",
    message: "hi",
    ...fields,
  });

  it.each([
    [
      "an unknown filter",
      { routes: [route({}), route({ message: '{{ payload.amount | mony: "eur" }}' })] },
      "routes[1].message: undefined filter: mony",
    ],
    [
      "an unclosed {{",
      { routes: [route({ userId: "{{ payload.sender.id" })] },
      'routes[0].userId: output "{{ payload.sender.id" not closed',
    ],
    [
      "an unknown lookup table",
      { routes: [route({ userId: "{{ payload.sender.id | lookup: 'githubUser' }}" })] },
      'routes[0].userId: unknown lookup table "githubUser"',
    ],
    [
      "a condition with a syntax error",
      { routes: [route({ condition: "payload.x > " })] },
      "routes[0].condition: an operator without a value after it",
    ],
    [
      "two values without an operator in a condition",
      { routes: [route({ condition: "payload.action 'closed'" })] },
      "routes[0].condition: a value where an operator belongs",
    ],
    [
      "a template inside a keyboard",
      { routes: [route({ keyboard: [{ TEXT: "Open", LINK: "{{ payload.url | nope }}" }] })] },
      "routes[0].keyboard[0].LINK: undefined filter: nope",
    ],
    [
      "the digest template",
      { digest: { message: "{% for e in events %}{{ e.message | bogus }}{% endfor %}" } },
      "digest.message: undefined filter: bogus",
    ],
  ])("compiles every template at load: rejects %s, naming the key", (_name, override, expected) => {
    expect(problemsOf({ ...minimal(), ...override })).toContain(`test.json: ${expected}`);
  });

  it("accepts well-formed conditions", () => {
    for (const condition of [
      "payload.sender.login != 'dependabot[bot]'",
      "payload.x >= 1 or not payload.y",
      "payload.labels contains 'bug' and payload.issue.number > 10",
      "payload.items | size",
      "true",
    ]) {
      expect(() => parseConfig({ ...minimal(), routes: [route({ condition })] })).not.toThrow();
    }
  });

  it("fails loading a file whose template is broken, as npm start and cdk synth do", () => {
    const dir = mkdtempSync(join(tmpdir(), "hookline-config-"));
    const file = join(dir, "typo.json");
    writeFileSync(
      file,
      JSON.stringify({ ...minimal(), routes: [route({ message: "{{ payload.x | mony }}" })] }),
    );
    expect(() => loadConfigFile(file)).toThrow(
      `${file}: routes[0].message: undefined filter: mony`,
    );
  });

  it("loads the shipped example config, and compiles its templates", () => {
    const config = loadConfigFile(join(import.meta.dirname, "../../hookline.config.json"));
    expect(config.sources.map((source) => source.type).sort()).toEqual([
      "github",
      "hmac",
      "standard-webhooks",
      "stripe",
    ]);
    expect(() => compileRoutes(config)).not.toThrow();
  });

  it("names the file when it is missing or not JSON", () => {
    const dir = mkdtempSync(join(tmpdir(), "hookline-config-"));
    const broken = join(dir, "broken.json");
    writeFileSync(broken, "{ nope");
    expect(() => loadConfigFile(join(dir, "missing.json"))).toThrow(
      /cannot read config file .*missing\.json/,
    );
    expect(() => loadConfigFile(broken)).toThrow(/broken\.json: not valid JSON/);
  });
});

describe("environment", () => {
  it("defaults the table and config path", () => {
    const env = readEnvironment({});
    expect(env.HOOKLINE_TABLE).toBe("hookline");
    expect(env.configPath).toMatch(/hookline\.config\.json$/);
  });

  it("resolves the config path against the Lambda task root", () => {
    expect(readEnvironment({ LAMBDA_TASK_ROOT: "/var/task" }).configPath).toBe(
      "/var/task/hookline.config.json",
    );
  });

  it("names a bad variable", () => {
    expect(() => readEnvironment({ HOOKLINE_SECRET_PREFIX: "hookline" })).toThrow(
      /HOOKLINE_SECRET_PREFIX: must be a parameter path/,
    );
    expect(() => readEnvironment({ HOOKLINE_QUEUE_URL: "nope" })).toThrow(/HOOKLINE_QUEUE_URL/);
  });
});

describe("secret references", () => {
  const fetched: string[] = [];
  const fetchSecret = async (arn: string) => {
    fetched.push(arn);
    return `value of ${arn}`;
  };

  it("read env variables locally, Secrets Manager by name", async () => {
    const resolve = makeSecretResolver({ env: { LOCAL: "local-value" }, fetchSecret });
    expect(await resolve("env:LOCAL")).toBe("local-value");
    expect(await resolve("secretsmanager:shop-hmac")).toBe("value of shop-hmac");
    expect(fetched).toEqual(["shop-hmac"]);
  });

  it("read env: references from Parameter Store under one prefix on AWS, never the environment", async () => {
    const parameters: string[] = [];
    const resolve = makeSecretResolver({
      env: { LOCAL: "local-value" },
      parameterPrefix: "/hookline/Hookline/",
      fetchParameter: async (name) => {
        parameters.push(name);
        return name === "/hookline/Hookline/EMPTY" ? "" : `value of ${name}`;
      },
      fetchSecret,
    });
    expect(await resolve("env:LOCAL")).toBe("value of /hookline/Hookline/LOCAL");
    expect(await resolve("env:BITRIX_PORTAL_7_URL")).toBe(
      "value of /hookline/Hookline/BITRIX_PORTAL_7_URL",
    );
    await expect(resolve("env:EMPTY")).rejects.toThrow("secret for env:EMPTY is empty");
    expect(parameters).toEqual([
      "/hookline/Hookline/LOCAL",
      "/hookline/Hookline/BITRIX_PORTAL_7_URL",
      "/hookline/Hookline/EMPTY",
    ]);
  });

  it("reads the prefix from HOOKLINE_SECRET_PREFIX", () => {
    expect(
      readEnvironment({ HOOKLINE_SECRET_PREFIX: "/hookline/Hookline/" }).HOOKLINE_SECRET_PREFIX,
    ).toBe("/hookline/Hookline/");
  });

  it("name a missing variable, never a value", async () => {
    const resolve = makeSecretResolver({ env: { OTHER: "s3cr3t" } });
    await expect(resolve("env:MISSING")).rejects.toThrow("environment variable MISSING is not set");
    await expect(resolve("env:MISSING")).rejects.toBeInstanceOf(ConfigError);
  });
});
