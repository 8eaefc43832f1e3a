import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Io } from "../../cli/output";
import { runCli } from "../../cli/program";
import type { StackOutputsReader } from "../../cli/target";
import { makeDynamoTokenStore } from "../../functions/adapters/dynamo/tokens";
import { type BitrixSimulator, startBitrixSimulator } from "../../functions/local/bitrix-simulator";
import { ensureTable } from "../../functions/local/ensure-table";
import { transcriptIo } from "../support/cli-io";
import { type LocalDynamo, makeTestClient, startDynalite } from "../support/dynamo-servers";
import { useStarted } from "../support/use-started";

/**
 * `hookline doctor` against simulated portals over HTTP: a webhook portal (scopes, lines joined
 * or not, `--join`, clock skew, an address that does not answer) and, with `--stack`, secrets
 * read from a small Parameter Store fake and OAuth tokens from the stack's table (dynalite).
 */

const JOINED = "0123456789abcdef0123456789abcdef";
const NOT_JOINED = "fedcba9876543210fedcba9876543210";
const INACTIVE = "aaaabbbbccccddddeeeeffff00001111";
const UNKNOWN = "99998888777766665555444433332222";
const OAUTH = { clientId: "local.app.7", clientSecret: "app-secret", refreshToken: "first-rt" };
const TABLE = "hookline-doctor";

describe("hookline doctor", () => {
  const portal = useStarted("the simulated portal", () =>
    startBitrixSimulator({
      openLineCodes: [JOINED],
      networkLines: [{ code: NOT_JOINED }, { code: INACTIVE, active: false }],
      scopes: ["imopenlines", "crm"],
    }),
  );
  let cwd: string;
  beforeAll(() => {
    cwd = mkdtempSync(join(tmpdir(), "hookline-doctor-"));
  });

  function writeConfig(lines: Record<string, string>, extra: Record<string, unknown> = {}) {
    writeFileSync(
      join(cwd, "hookline.config.json"),
      JSON.stringify({
        portals: [{ id: "main", webhookUrl: "env:BITRIX_WEBHOOK_URL", openLines: lines }],
        sources: [{ id: "app", type: "standard-webhooks", secret: "env:APP_SECRET" }],
        ...extra,
      }),
    );
  }

  async function doctor(argv: string[], io: Partial<Io> = {}) {
    const run = transcriptIo({ env: { BITRIX_WEBHOOK_URL: portal.webhookUrl }, cwd, ...io });
    const code = await runCli(["doctor", ...argv], run.io);
    return { code, text: run.text() };
  }

  it("passes every check of a healthy webhook portal, one ✓ line each, and exits 0", async () => {
    writeConfig({ support: JOINED });
    const { code, text } = await doctor([]);
    expect(text.trim().split("\n")).toEqual([
      expect.stringMatching(/^✓ main reach: 127\.0\.0\.1:\d+ answers with the incoming webhook$/),
      "✓ main clock: our clock and the portal's agree (margin 300 s)",
      "✓ main scope: has imopenlines",
      "✓ main line support: joined to the portal",
      expect.stringMatching(
        /^✓ main rate: paced at 2\/s, burst 50, within the standard plan's bucket; operating time 0\.05 s/,
      ),
    ]);
    expect(code).toBe(0);
    // The probe sent nothing, and the webhook URL (a secret) is never printed.
    expect(portal.messages).toHaveLength(0);
    expect(text).not.toContain(portal.webhookUrl);
  });

  it("names a line that is not joined with its fix, and --join joins it", async () => {
    writeConfig({ support: JOINED, sales: NOT_JOINED });
    const before = await doctor(["--json"]);
    expect(before.code).toBe(1);
    expect(JSON.parse(before.text).checks).toContainEqual({
      portal: "main",
      check: "line sales",
      ok: false,
      detail: expect.stringContaining("not joined"),
      fix: expect.stringContaining("hookline doctor --join"),
    });

    const joined = await doctor(["--join"]);
    expect(joined.text).toContain("✓ main line sales: joined to the portal (the line's bot is");
    expect(joined.code).toBe(0);
    // Joined for good: the read-only probe now passes too.
    expect((await doctor([])).code).toBe(0);
  });

  it("--join says whether a line's code exists and is active", async () => {
    writeConfig({ old: INACTIVE, typo: UNKNOWN });
    const { code, text } = await doctor(["--join"]);
    expect(text).toContain("✗ main line old: the open line exists but is not active");
    expect(text).toContain("✗ main line typo: no open line has this code");
    expect(text).toContain("    fix: activate the line");
    expect(code).toBe(1);
  });

  it("fails the clock check when our clock is off by more than the week margin", async () => {
    writeConfig({ support: JOINED });
    const ahead = await doctor([], { now: () => new Date(Date.now() + 10 * 60_000) });
    expect(ahead.text).toMatch(/✗ main clock: our clock is (59\d|60\d) s ahead of the portal's/);
    expect(ahead.text).toContain("synchronise this machine's clock");
    expect(ahead.code).toBe(1);
  });

  it("fails the rate check for an Enterprise bucket until --plan enterprise confirms it", async () => {
    writeFileSync(
      join(cwd, "hookline.config.json"),
      JSON.stringify({
        portals: [
          {
            id: "big",
            webhookUrl: "env:BITRIX_WEBHOOK_URL",
            openLines: { support: JOINED },
            rateLimit: { perSecond: 5, burst: 250 },
          },
        ],
        sources: [{ id: "app", type: "standard-webhooks", secret: "env:APP_SECRET" }],
      }),
    );
    const unconfirmed = await doctor(["--portal", "big"]);
    expect(unconfirmed.text).toContain(
      "✗ big rate: paced at 5/s, burst 250, above the standard plan's bucket",
    );
    expect(unconfirmed.text).toContain("--plan enterprise");
    expect(unconfirmed.code).toBe(1);
    expect((await doctor(["--portal", "big", "--plan", "enterprise"])).code).toBe(0);
  });

  it("reports a portal that does not answer, and a missing secret, with what to do", async () => {
    writeConfig({ support: JOINED });
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const down = await doctor([], {
      env: { BITRIX_WEBHOOK_URL: `http://127.0.0.1:${port}/rest/1/abc/` },
    });
    expect(down.text).toContain(`✗ main reach: 127.0.0.1:${port} does not answer (ECONNREFUSED)`);
    expect(down.code).toBe(1);

    const unset = await doctor([], { env: {} });
    expect(unset.text).toContain("✗ main reach: secret env:BITRIX_WEBHOOK_URL");
    expect(unset.text).toContain("--stack");
    expect(unset.code).toBe(1);

    expect((await doctor(["--portal", "nope"])).text).toContain(
      'no portal "nope" in the config (portals: main)',
    );
  });
});

describe("hookline doctor --stack", () => {
  let webhookPortal: BitrixSimulator;
  let appPortal: BitrixSimulator;
  let dynamo: LocalDynamo;
  let parameterStore: Server;
  let cwd: string;
  const saved = { ...process.env };
  const secrets = new Map<string, string>();
  const secretsAsked: string[] = [];
  const readOutputs: StackOutputsReader = async (stackName) => {
    if (stackName !== "hookline-prod") throw new Error(`Stack with id ${stackName} does not exist`);
    return {
      TableName: TABLE,
      SecretParameterPrefix: "/hookline/hookline-prod/",
    };
  };

  beforeAll(async () => {
    [webhookPortal, appPortal, dynamo] = await Promise.all([
      startBitrixSimulator({ openLineCodes: [JOINED] }),
      startBitrixSimulator({ openLineCodes: [JOINED], oauth: OAUTH }),
      startDynalite(),
    ]);
    await ensureTable(makeTestClient(dynamo.endpoint), TABLE);
    secrets.set("/hookline/hookline-prod/BITRIX_WEBHOOK_URL", webhookPortal.webhookUrl);
    secrets.set("/hookline/hookline-prod/APP_CLIENT_ID", OAUTH.clientId);
    secrets.set("/hookline/hookline-prod/APP_CLIENT_SECRET", OAUTH.clientSecret);
    secrets.set("/hookline/hookline-prod/APP_REFRESH_TOKEN", OAUTH.refreshToken);
    // Parameter Store's GetParameter (JSON 1.1 protocol), as the SDK calls it.
    parameterStore = createServer((req, res) => {
      let raw = "";
      req.on("data", (chunk) => {
        raw += chunk;
      });
      req.on("end", () => {
        const { Name } = JSON.parse(raw) as { Name: string };
        secretsAsked.push(Name);
        const value = secrets.get(Name);
        res.writeHead(value ? 200 : 400, { "content-type": "application/x-amz-json-1.1" });
        res.end(
          JSON.stringify(
            value
              ? { Parameter: { Name, Type: "SecureString", Value: value, Version: 1 } }
              : { __type: "ParameterNotFound", message: "not found" },
          ),
        );
      });
    });
    await new Promise<void>((resolve) => parameterStore.listen(0, "127.0.0.1", resolve));
    Object.assign(process.env, {
      AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
      AWS_ENDPOINT_URL_SSM: `http://127.0.0.1:${(parameterStore.address() as AddressInfo).port}`,
      // The test servers' credentials: the embedded store answers only clients that sign with them.
      AWS_ACCESS_KEY_ID: dynamo.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: dynamo.credentials.secretAccessKey,
    });
    cwd = mkdtempSync(join(tmpdir(), "hookline-doctor-stack-"));
    writeFileSync(
      join(cwd, "hookline.config.json"),
      JSON.stringify({
        portals: [
          { id: "hook", webhookUrl: "env:BITRIX_WEBHOOK_URL", openLines: { support: JOINED } },
          {
            id: "app",
            url: appPortal.origin,
            oauth: {
              clientId: "env:APP_CLIENT_ID",
              clientSecret: "env:APP_CLIENT_SECRET",
              refreshToken: "env:APP_REFRESH_TOKEN",
              server: appPortal.origin,
            },
            openLines: { sales: JOINED },
          },
        ],
        sources: [{ id: "app", type: "standard-webhooks", secret: "env:APP_SECRET" }],
      }),
    );
  });
  afterAll(async () => {
    process.env = saved;
    await Promise.allSettled([webhookPortal?.close(), appPortal?.close(), dynamo?.close()]);
    await new Promise<void>((resolve) =>
      parameterStore ? parameterStore.close(() => resolve()) : resolve(),
    );
  });

  async function doctor(argv: string[], now = () => new Date()) {
    // Nothing from the environment: every secret comes from the stack.
    const run = transcriptIo({ env: { AWS_REGION: "eu-west-1" }, cwd, now });
    const code = await runCli(["doctor", "--stack", "hookline-prod", ...argv], run.io, {
      readOutputs,
    });
    return { code, text: run.text() };
  }

  it("reads the secrets from the stack's parameters, and checks an OAuth portal through a refresh", async () => {
    const { code, text } = await doctor([]);
    expect(text).toContain("✓ hook reach:");
    expect(text).toContain("✓ hook line support: joined to the portal");
    expect(text).toContain("✓ app oauth: tokens refreshed 0 h ago, refreshing works");
    expect(text).toMatch(/✓ app reach: 127\.0\.0\.1:\d+ answers with the app's access token/);
    expect(text).toContain("✓ app line sales: joined to the portal");
    expect(code).toBe(0);
    expect(secretsAsked).toContain("/hookline/hookline-prod/BITRIX_WEBHOOK_URL");
    // The refresh rotated the token and stored the new one where the stack's Lambdas read it.
    const stored = await makeDynamoTokenStore(makeTestClient(dynamo.endpoint), TABLE).read("app");
    expect(stored?.refreshToken).toBe(appPortal.oauth?.currentRefreshToken());
    expect(text).not.toContain(stored?.refreshToken ?? "?");
  });

  it("fails the OAuth check when refreshing fails, and when the tokens went unused too long", async () => {
    const store = makeDynamoTokenStore(makeTestClient(dynamo.endpoint), TABLE);
    // Tokens last refreshed 200 days ago: the refresh token has run out.
    await store.replace("app", { refreshToken: "dead" }, new Date(Date.now() - 200 * 86_400_000));
    const stale = await doctor(["--portal", "app"]);
    expect(stale.text).toContain(
      "✗ app oauth: the OAuth server refused to refresh the tokens (invalid_grant)",
    );
    expect(stale.text).toContain("fix: hookline oauth app --code");
    expect(stale.code).toBe(1);
    // The refused refresh is now recorded as failing: the doctor says since when.
    const failing = await doctor(["--portal", "app"]);
    expect(failing.text).toMatch(/✗ app oauth: refreshing fails since \S+: invalid_grant/);
    expect(failing.code).toBe(1);
  });
});
