import { randomBytes } from "node:crypto";

/**
 * The OAuth 2.0 server of a simulated portal, as docs/bitrix24.md describes Bitrix24's:
 * access tokens that run out (a short lifetime here, so tests see it happen), refresh tokens that
 * rotate on every refresh (a reused or old one answers `invalid_grant`), and authorization codes
 * for an app's first install.
 */
export interface SimulatorOAuthOptions {
  clientId: string;
  clientSecret: string;
  /** The refresh token the app starts with (what its config's secret holds). */
  refreshToken: string;
  /** Access token lifetime; Bitrix24's is an hour. */
  accessTokenTtlMs?: number;
}

export interface OAuthServerStats {
  refreshes: number;
  /** Refreshes refused: old, reused or unknown refresh tokens, wrong client. */
  refused: number;
}

export type TokenCheck = "valid" | "expired_token" | "invalid_token";

interface Answer {
  status: number;
  body: unknown;
}

const HOUR_MS = 3_600_000;

export function makeSimulatorOAuth(options: SimulatorOAuthOptions, now: () => number) {
  const ttl = options.accessTokenTtlMs ?? HOUR_MS;
  const accessTokens = new Map<string, number>();
  let refreshToken = options.refreshToken;
  const codes = new Set<string>();
  const stats: OAuthServerStats = { refreshes: 0, refused: 0 };
  const token = () => randomBytes(16).toString("hex");

  const issue = (): Answer => {
    const access = token();
    refreshToken = token();
    accessTokens.set(access, now() + ttl);
    stats.refreshes++;
    return {
      status: 200,
      body: {
        access_token: access,
        refresh_token: refreshToken,
        expires_in: Math.round(ttl / 1000),
        expires: Math.floor((now() + ttl) / 1000),
        scope: "imopenlines",
        server_endpoint: "https://oauth.bitrix.info/rest/",
        status: "L",
      },
    };
  };
  const refuse = (error: string, description: string): Answer => {
    stats.refused++;
    return { status: 400, body: { error, error_description: description } };
  };

  return {
    stats,
    /** `GET /oauth/token/?grant_type=…`: refresh (rotating) or an authorization code. */
    token(query: URLSearchParams): Answer {
      if (
        query.get("client_id") !== options.clientId ||
        query.get("client_secret") !== options.clientSecret
      ) {
        return refuse("invalid_client", "Invalid client credentials");
      }
      const grant = query.get("grant_type");
      if (grant === "refresh_token") {
        if (query.get("refresh_token") !== refreshToken) {
          return refuse("invalid_grant", "Invalid refresh token");
        }
        return issue();
      }
      if (grant === "authorization_code") {
        const code = query.get("code") ?? "";
        if (!codes.delete(code)) return refuse("invalid_grant", "Invalid authorization code");
        return issue();
      }
      return refuse("unsupported_grant_type", "Unsupported grant type");
    },
    /** What a REST call's `auth` parameter is worth right now. */
    check(auth: unknown): TokenCheck {
      const expiresAt = typeof auth === "string" ? accessTokens.get(auth) : undefined;
      if (expiresAt === undefined) return "invalid_token";
      return expiresAt > now() ? "valid" : "expired_token";
    },
    /** A code as Bitrix24 hands one to an app being installed. */
    authorizationCode(): string {
      const code = token();
      codes.add(code);
      return code;
    },
    /** The refresh token the server accepts now (tests compare it with the stored one). */
    currentRefreshToken: () => refreshToken,
  };
}

export type SimulatorOAuth = ReturnType<typeof makeSimulatorOAuth>;
