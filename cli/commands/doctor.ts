import type { Command } from "commander";
import { refreshWithBitrix } from "../../functions/adapters/bitrix-oauth";
import { makeDynamoTokenStore } from "../../functions/adapters/dynamo/tokens";
import { makeSecretResolver, type SecretFetcher } from "../../functions/adapters/secrets";
import type { Config, PortalConfig } from "../../functions/core/config";
import { NOTIFYING } from "../../functions/core/job";
import { makeTokenProvider, OAuthUnavailableError } from "../../functions/core/oauth";
import { resolveTarget as routeTarget } from "../../functions/core/portals";
import { printable } from "../../functions/local/request-lines";
import {
  type CliContext,
  configFor,
  outputFor,
  type TargetFlags,
  targetFor,
  withTargetFlags,
} from "../context";
import {
  clockCheck,
  type DoctorCheck,
  joinCheck,
  lineCheck,
  PLANS,
  type Plan,
  type RestAnswer,
  rateCheck,
  reachCheck,
  scopeCheck,
  tokenCheck,
} from "../doctor-checks";
import { CliError, ExitCode } from "../errors";
import type { Output } from "../output";
import { cloudFormationOutputs, type Target } from "../target";

/**
 * `hookline doctor`: looks at the real Bitrix24 portal behind the config, where the simulator
 * cannot: the URL answers, the scopes, each open line joined, the rate, the clock, and for OAuth
 * portals the tokens. Each check is one line, ✓ or ✗ with the fix; any ✗ exits 1. It reads and
 * probes only: the one call that changes the portal, `imopenlines.network.join`, runs with
 * `--join`. The decisions are in cli/doctor-checks.ts.
 */

export interface DoctorReport {
  ok: boolean;
  checks: DoctorCheck[];
}

export interface DoctorDeps {
  fetch: typeof fetch;
  now: () => number;
  /** A config secret reference's value (the environment, or the stack's secrets). */
  resolveSecret: (ref: string) => Promise<string>;
  /** Where OAuth tokens are kept (the local run's table or the stack's); absent: why not. */
  tokenTable: () => Promise<Target>;
}

export interface DoctorOptions {
  portal?: string;
  join?: boolean;
  plan?: Plan;
}

/** Methods the doctor calls; `server.time` and `scope` need no scope of their own. */
const SERVER_TIME = "server.time";
const SCOPE = "scope";
const LINE_PROBE = "imopenlines.network.message.add";
const JOIN = "imopenlines.network.join";

export async function runDoctor(
  config: Config,
  options: DoctorOptions,
  deps: DoctorDeps,
): Promise<DoctorReport> {
  const portals = selectPortals(config, options.portal);
  const checks: DoctorCheck[] = [];
  for (const portal of portals) {
    const found = await examinePortal(config, portal, options, deps);
    checks.push(...found.map((check) => ({ portal: portal.id, ...check })));
  }
  return { ok: checks.every((check) => check.ok), checks };
}

type Check = Omit<DoctorCheck, "portal">;
type Call = (method: string, params?: Record<string, unknown>) => Promise<RestAnswer>;

async function examinePortal(
  config: Config,
  portal: PortalConfig,
  options: DoctorOptions,
  deps: DoctorDeps,
): Promise<Check[]> {
  const checks: Check[] = [];
  const connection = await connect(portal, deps);
  if ("failed" in connection) return [connection.failed];
  if (connection.token) checks.push(connection.token);
  const { call, where } = connection;

  const time = await call(SERVER_TIME);
  const reach = reachCheck(time, where, portal.oauth !== undefined);
  checks.push(reach);
  if (!reach.ok) return checks;
  const clock = clockCheck(time, portal.weekMarginSeconds);
  if (clock) checks.push(clock);
  checks.push(
    scopeCheck(await call(SCOPE), neededScopes(config, portal), portal.oauth !== undefined),
  );
  for (const [name, code] of Object.entries(portal.openLines)) {
    const answer = options.join
      ? await call(JOIN, { CODE: code })
      : await call(LINE_PROBE, { CODE: code });
    checks.push(options.join ? joinCheck(name, answer) : lineCheck(name, answer));
  }
  checks.push(rateCheck(portal.rateLimit, options.plan, time));
  return checks;
}

/**
 * `imopenlines` always; `im` when a route to this portal notifies when the week is used
 * (`im.notify.system.add`); and whatever the portal's `scopes` declare, since `check` and
 * `cdk synth` trust that declaration.
 */
export function neededScopes(config: Config, portal: PortalConfig): string[] {
  const notifies = config.routes.some((route) => {
    const target = routeTarget(config.portals, route.to);
    return (
      "portal" in target && target.portal === portal.id && NOTIFYING.includes(route.whenLimited)
    );
  });
  return [...new Set(["imopenlines", ...(notifies ? ["im"] : []), ...(portal.scopes ?? [])])];
}

type Connection = { call: Call; where: string; token?: Check } | { failed: Check };

/** How to call the portal: its webhook, or its OAuth app with a (refreshed) access token. */
async function connect(portal: PortalConfig, deps: DoctorDeps): Promise<Connection> {
  const timeoutMs = portal.timeoutMs;
  if (portal.oauth) {
    if (!portal.url) {
      return {
        failed: failed(
          "reach",
          "the OAuth portal has no url",
          "set the portal's url (https://<portal>.bitrix24.<zone>)",
        ),
      };
    }
    const portalUrl = portal.url;
    const tokens = await oauthToken(portal, deps);
    if ("failed" in tokens) return tokens;
    const call: Call = (method, params = {}) =>
      post(
        deps,
        new URL(`/rest/${method}`, portalUrl),
        { ...params, auth: tokens.accessToken },
        timeoutMs,
      );
    return { call, where: new URL(portalUrl).host, token: tokens.check };
  }
  if (!portal.webhookUrl) {
    return {
      failed: failed(
        "reach",
        "the portal has no webhookUrl: the local run answers it with the simulator",
        "set the portal's webhookUrl (a secret reference such as env:BITRIX_WEBHOOK_URL) to check the real portal",
      ),
    };
  }
  let base: URL;
  try {
    base = new URL(await deps.resolveSecret(portal.webhookUrl));
  } catch (error) {
    return {
      failed: failed(
        "reach",
        (error as Error).message,
        "give the secret the webhook URL from Bitrix24, or pass --stack to read the deployed one",
      ),
    };
  }
  if (!base.pathname.endsWith("/")) base.pathname += "/";
  const call: Call = (method, params = {}) => post(deps, new URL(method, base), params, timeoutMs);
  return { call, where: base.host };
}

/** An access token through the same fenced refresh the Lambdas use, and the tokens' health. */
async function oauthToken(
  portal: PortalConfig,
  deps: DoctorDeps,
): Promise<{ accessToken: string; check: Check } | { failed: Check }> {
  const oauth = portal.oauth;
  if (!oauth) throw new Error("not an OAuth portal");
  let target: Target;
  try {
    target = await deps.tokenTable();
  } catch (error) {
    return {
      failed: failed(
        "oauth",
        `cannot read the tokens: ${(error as Error).message}`,
        "start npm start (it keeps the tokens), or pass --stack NAME",
      ),
    };
  }
  try {
    const store = makeDynamoTokenStore(target.dynamo, target.tableName);
    const stored = await store.read(portal.id);
    if (stored?.lastError)
      return { failed: tokenCheck(stored, deps.now(), oauth.keepAliveDays, portal.id) };
    const provider = makeTokenProvider({
      portal: portal.id,
      store,
      initialRefreshToken: () => deps.resolveSecret(oauth.refreshToken),
      refresh: async (refreshToken) =>
        refreshWithBitrix(
          {
            server: oauth.server,
            clientId: await deps.resolveSecret(oauth.clientId),
            clientSecret: await deps.resolveSecret(oauth.clientSecret),
          },
          refreshToken,
        ),
      clock: { now: () => new Date(deps.now()) },
    });
    let accessToken: string;
    try {
      accessToken = await provider.accessToken();
    } catch (error) {
      if (!(error instanceof OAuthUnavailableError)) throw error;
      return {
        failed: failed(
          "oauth",
          `the OAuth server refused to refresh the tokens (${error.code})`,
          error.fatal
            ? `hookline oauth ${portal.id} --code <code from a fresh install of the app>`
            : `the OAuth server (${oauth.server}) is unreachable or failing: try again later`,
        ),
      };
    }
    const check = tokenCheck(
      await store.read(portal.id),
      deps.now(),
      oauth.keepAliveDays,
      portal.id,
    );
    return { accessToken, check };
  } catch (error) {
    return {
      failed: failed(
        "oauth",
        `cannot read the tokens from ${target.label}: ${(error as Error).message}`,
        "check the AWS credentials and region, or that npm start runs",
      ),
    };
  } finally {
    target.dynamo.destroy();
  }
}

/** One REST call, JSON body; never throws. Redirects are reported, not followed. */
async function post(
  deps: DoctorDeps,
  url: URL,
  params: object,
  timeoutMs: number,
): Promise<RestAnswer> {
  const sentAt = deps.now();
  try {
    const response = await deps.fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify(params),
      redirect: "manual",
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // An HTML error page: kept as text.
    }
    const location = response.headers.get("location");
    return {
      kind: "answer",
      status: response.status,
      body,
      sentAt,
      receivedAt: deps.now(),
      ...(location && { location }),
    };
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code;
    return { kind: "unreachable", reason: cause ?? (error as Error).name };
  }
}

const failed = (check: string, detail: string, fix: string): Check => ({
  check,
  ok: false,
  detail,
  fix,
});

function selectPortals(config: Config, id: string | undefined): PortalConfig[] {
  if (id === undefined) {
    if (config.portals.length === 0) throw new CliError("the config has no portal to check");
    return [...config.portals];
  }
  const portal = config.portals.find((candidate) => candidate.id === id);
  if (!portal) {
    throw new CliError(
      `no portal "${id}" in the config (portals: ${config.portals.map((p) => p.id).join(", ")})`,
    );
  }
  return [portal];
}

export function printDoctor(report: DoctorReport, output: Output): void {
  const { style } = output;
  for (const check of report.checks) {
    const mark = check.ok ? style.green("✓") : style.red("✗");
    // A detail may quote what the portal's URL answered: no control character reaches the terminal.
    output.line(`${mark} ${check.portal} ${check.check}: ${printable(check.detail)}`);
    if (check.fix) output.line(`    fix: ${printable(check.fix)}`);
  }
}

/**
 * Secrets as the deployed functions read them: `env:NAME` from the Parameter Store SecureString
 * `<SecretParameterPrefix output>NAME`, `secretsmanager:` references directly, with the user's AWS
 * credentials.
 */
async function stackSecrets(
  ctx: CliContext,
  flags: TargetFlags,
): Promise<(ref: string) => Promise<string>> {
  const stack = flags.stack ?? "";
  const region = flags.region ?? ctx.io.env.AWS_REGION ?? ctx.io.env.AWS_DEFAULT_REGION;
  const outputs = await (ctx.options.readOutputs ?? cloudFormationOutputs)(stack, region).catch(
    (error: Error) => {
      throw new CliError(`cannot read stack ${stack}: ${error.message}`);
    },
  );
  const parameterPrefix = outputs.SecretParameterPrefix;
  const resolve = makeSecretResolver({
    env: {},
    parameterPrefix,
    fetchParameter: parameterStoreFetcher(region),
    fetchSecret: secretsManagerFetcher(region),
  });
  return async (ref) => {
    if (ref.startsWith("env:") && parameterPrefix === undefined)
      throw new CliError(`stack ${stack} has no SecretParameterPrefix output to read ${ref} from`);
    return resolve(ref);
  };
}

function parameterStoreFetcher(region: string | undefined): SecretFetcher {
  return async (name) => {
    const { SSMClient, GetParameterCommand } = await import("@aws-sdk/client-ssm");
    const client = new SSMClient(region ? { region } : {});
    try {
      const { Parameter } = await client.send(
        new GetParameterCommand({ Name: name, WithDecryption: true }),
      );
      return Parameter?.Value ?? "";
    } catch (error) {
      if ((error as Error).name !== "ParameterNotFound") throw error;
      throw new CliError(
        `parameter ${name} does not exist: aws ssm put-parameter --type SecureString --name ${name} --value <value>`,
      );
    } finally {
      client.destroy();
    }
  };
}

function secretsManagerFetcher(region: string | undefined): SecretFetcher {
  return async (secretId) => {
    const { SecretsManagerClient, GetSecretValueCommand } = await import(
      "@aws-sdk/client-secrets-manager"
    );
    const client = new SecretsManagerClient(region ? { region } : {});
    try {
      const { SecretString } = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
      return SecretString ?? "";
    } finally {
      client.destroy();
    }
  };
}

const parsePlan = (text: string): Plan => {
  if (text in PLANS) return text as Plan;
  throw new CliError(`--plan must be one of ${Object.keys(PLANS).join(", ")}`);
};

export function registerDoctor(program: Command, ctx: CliContext): void {
  withTargetFlags(program.command("doctor"))
    .description(
      "check the real Bitrix24 portal behind the config: it answers, scopes, open lines joined, rate, clock, OAuth tokens",
    )
    .option("--portal <id>", "check only this portal")
    .option("--join", "join each open line to its portal (imopenlines.network.join)")
    .option("--plan <plan>", "the portal's plan, for the rate check: standard or enterprise")
    .action(async (flags: TargetFlags & { portal?: string; join?: boolean; plan?: string }) => {
      const output = outputFor(ctx, flags);
      const { config } = configFor(ctx, flags);
      const resolveSecret = flags.stack
        ? await stackSecrets(ctx, flags)
        : makeSecretResolver({ env: ctx.io.env });
      const report = await runDoctor(
        config,
        {
          ...(flags.portal !== undefined && { portal: flags.portal }),
          ...(flags.join && { join: true }),
          ...(flags.plan !== undefined && { plan: parsePlan(flags.plan) }),
        },
        {
          fetch: ctx.io.fetch,
          now: () => ctx.io.now().getTime(),
          resolveSecret,
          tokenTable: () => targetFor(ctx, flags),
        },
      );
      output.document(report);
      printDoctor(report, output);
      if (!report.ok) throw new ExitCode(1);
    });
}
