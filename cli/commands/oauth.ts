import type { Command } from "commander";
import {
  DEFAULT_OAUTH_SERVER,
  exchangeAuthorizationCode,
  type OAuthApp,
} from "../../functions/adapters/bitrix-oauth";
import { makeDynamoTokenStore } from "../../functions/adapters/dynamo/tokens";
import { makeSecretResolver } from "../../functions/adapters/secrets";
import type { Config, PortalConfig } from "../../functions/core/config";
import {
  type CliContext,
  configFor,
  onTarget,
  type TargetFlags,
  withTargetFlags,
} from "../context";
import { CliError } from "../errors";
import type { Output } from "../output";
import type { Target } from "../target";

export interface OAuthReport {
  portal: string;
  /** What was stored: tokens from an authorization code, or a refresh token given by hand. */
  stored: "authorization-code" | "refresh-token";
  /** When the access token runs out (absent when only a refresh token was stored). */
  accessExpiresAt?: string;
}

/**
 * `hookline oauth <portal>`: gives an OAuth portal its first tokens, or new ones after they were
 * lost (see docs/oauth.md). With `--code`, exchanges an authorization code from the app's
 * install for tokens; with `--refresh-token`, stores that refresh token. Either way the tokens go
 * into the table the running hookline reads (the local run's, or the stack's with `--stack`), in
 * one write that also ends any failing state. Tokens are never printed.
 */
export async function authorizePortal(
  where: Target,
  config: Config,
  portalId: string,
  grant: { code?: string; refreshToken?: string },
  env: Readonly<Record<string, string | undefined>>,
  now: Date,
): Promise<OAuthReport> {
  const portal = oauthPortal(config, portalId);
  const store = makeDynamoTokenStore(where.dynamo, where.tableName);
  if (grant.refreshToken !== undefined) {
    await store.replace(portal.id, { refreshToken: grant.refreshToken }, now);
    return { portal: portal.id, stored: "refresh-token" };
  }
  if (!grant.code)
    throw new CliError("say what to store: --code <authorization code> or --refresh-token <token>");
  const app = await oauthApp(portal, env);
  const answer = await exchangeAuthorizationCode(app, grant.code);
  if (!answer.ok) throw new CliError(exchangeFailure(app.server, answer.error, answer.fatal));
  const accessExpiresAt = now.getTime() + answer.expiresInSeconds * 1000;
  await store.replace(
    portal.id,
    { accessToken: answer.accessToken, refreshToken: answer.refreshToken, accessExpiresAt },
    now,
  );
  return {
    portal: portal.id,
    stored: "authorization-code",
    accessExpiresAt: new Date(accessExpiresAt).toISOString(),
  };
}

/** Why the exchange failed, and what to do: only the OAuth server's own refusal spends the code. */
function exchangeFailure(server: string, error: string, fatal: boolean): string {
  if (error === "OAUTH_UNREACHABLE")
    return `the OAuth server ${server} could not be reached; the code was not used: check the portal's oauth.server and the network, then run this again while the code is valid`;
  if (!fatal && error.startsWith("OAUTH_HTTP_"))
    return `the OAuth server ${server} answered HTTP ${error.slice("OAUTH_HTTP_".length)} without tokens; run this again while the code is valid, or install the app again for a new code`;
  return `the OAuth server refused the code (${error}); codes are valid for a short time and once: install the app again for a new one`;
}

export function printOAuth(report: OAuthReport, output: Output, target: string): void {
  output.line(
    report.stored === "authorization-code"
      ? `portal ${report.portal}: tokens stored in ${target}; the access token runs out at ${report.accessExpiresAt}, hookline refreshes it from then on`
      : `portal ${report.portal}: refresh token stored in ${target}; hookline refreshes with it at the next message`,
  );
}

function oauthPortal(config: Config, portalId: string): PortalConfig & { oauth: object } {
  const portal = config.portals.find((candidate) => candidate.id === portalId);
  const oauthIds = config.portals.filter((candidate) => candidate.oauth).map((p) => p.id);
  if (!portal?.oauth) {
    throw new CliError(
      `no OAuth portal "${portalId}" in the config (OAuth portals: ${oauthIds.join(", ") || "none"})`,
    );
  }
  return portal as PortalConfig & { oauth: object };
}

/** The app's id and secret, read from the environment as the config's references name them. */
async function oauthApp(
  portal: PortalConfig,
  env: Readonly<Record<string, string | undefined>>,
): Promise<OAuthApp> {
  const oauth = portal.oauth;
  if (!oauth) throw new CliError(`portal ${portal.id} is not an OAuth app`);
  const resolve = makeSecretResolver({ env });
  try {
    return {
      server: oauth.server ?? DEFAULT_OAUTH_SERVER,
      clientId: await resolve(oauth.clientId),
      clientSecret: await resolve(oauth.clientSecret),
    };
  } catch (error) {
    throw new CliError(
      `${(error as Error).message} (export the app's client id and secret in the environment as the config names them)`,
    );
  }
}

export function registerOAuth(program: Command, ctx: CliContext): void {
  withTargetFlags(program.command("oauth"))
    .description(
      "give an OAuth portal its tokens: exchange an authorization code from the app's install, or store a refresh token",
    )
    .argument("<portal>", "the portal's id in the config")
    .option("--code <code>", "the authorization code Bitrix24 handed the app's install")
    .option("--refresh-token <token>", "a refresh token to store instead")
    .action(
      async (portal: string, flags: TargetFlags & { code?: string; refreshToken?: string }) => {
        const { config } = configFor(ctx, flags);
        await onTarget(ctx, flags, async (output, where) => {
          const report = await authorizePortal(
            where,
            config,
            portal,
            {
              ...(flags.code !== undefined && { code: flags.code }),
              ...(flags.refreshToken !== undefined && { refreshToken: flags.refreshToken }),
            },
            ctx.io.env,
            ctx.io.now(),
          );
          output.document(report);
          printOAuth(report, output, where.label);
        });
      },
    );
}
