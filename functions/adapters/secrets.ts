import { ConfigError } from "../core/errors";

/** Fetches a Secrets Manager secret's string value by name or ARN. */
export type SecretFetcher = (nameOrArn: string) => Promise<string>;

export interface SecretResolverOptions {
  env: Readonly<Record<string, string | undefined>>;
  /** `env:NAME` references backed by Secrets Manager on AWS: NAME -> secret ARN (HOOKLINE_SECRETS). */
  secretArns?: Readonly<Record<string, string>>;
  fetchSecret?: SecretFetcher;
}

/**
 * Resolves config secret references. `env:NAME` reads the Secrets Manager secret mapped to NAME
 * when there is one (on AWS), else the environment variable (locally);
 * `secretsmanager:<name or ARN>` always reads Secrets Manager. A missing value is a ConfigError
 * naming the reference, never the value.
 *
 * @example
 *   const resolve = makeSecretResolver({ env: process.env });
 *   const secret = await resolve("env:GITHUB_WEBHOOK_SECRET");
 */
export function makeSecretResolver(
  options: SecretResolverOptions,
): (ref: string) => Promise<string> {
  const fetchSecret = options.fetchSecret ?? fetchFromSecretsManager;
  return async (ref) => {
    const [scheme, name = ""] = splitRef(ref);
    const arn = scheme === "secretsmanager" ? name : options.secretArns?.[name];
    if (arn) {
      const value = await fetchSecret(arn);
      if (!value) throw new ConfigError(`secret for ${ref} is empty; put a value into it`);
      return value;
    }
    const value = options.env[name];
    if (!value) throw new ConfigError(`secret ${ref}: environment variable ${name} is not set`);
    return value;
  };
}

function splitRef(ref: string): [string, string] {
  const colon = ref.indexOf(":");
  return [ref.slice(0, colon), ref.slice(colon + 1)];
}

/** Powertools caches each secret for five minutes, so a rotated value is picked up without a redeploy. */
const fetchFromSecretsManager: SecretFetcher = async (nameOrArn) => {
  const { getSecret } = await import("@aws-lambda-powertools/parameters/secrets");
  const value = await getSecret(nameOrArn, { maxAge: 300 });
  if (typeof value !== "string") throw new ConfigError(`secret ${nameOrArn} has no string value`);
  return value;
};
