import { ConfigError } from "../core/errors";

/** Fetches one secret's string value by its name (or ARN) in a store. */
export type SecretFetcher = (name: string) => Promise<string>;

export interface SecretResolverOptions {
  env: Readonly<Record<string, string | undefined>>;
  /**
   * On AWS (HOOKLINE_SECRET_PREFIX): `env:NAME` reads the Parameter Store SecureString
   * `<prefix>NAME` instead of the environment variable. One prefix, one IAM grant, however many
   * portals (docs/scale.md).
   */
  parameterPrefix?: string | undefined;
  /** Reads Parameter Store (decrypted). */
  fetchParameter?: SecretFetcher;
  /** Reads Secrets Manager, for `secretsmanager:<name or ARN>` references. */
  fetchSecret?: SecretFetcher;
}

/**
 * Resolves config secret references. `env:NAME` reads the SecureString parameter
 * `<parameterPrefix>NAME` when there is a prefix (on AWS), else the environment variable
 * (locally); `secretsmanager:<name or ARN>` always reads Secrets Manager. A missing value is a
 * ConfigError naming the reference and where to put it, never the value.
 *
 * @example
 *   const resolve = makeSecretResolver({ env: process.env });
 *   const secret = await resolve("env:GITHUB_WEBHOOK_SECRET");
 */
export function makeSecretResolver(
  options: SecretResolverOptions,
): (ref: string) => Promise<string> {
  const fetchSecret = options.fetchSecret ?? fetchFromSecretsManager;
  const fetchParameter = options.fetchParameter ?? fetchFromParameterStore;
  const prefix = options.parameterPrefix;
  return async (ref) => {
    const [scheme, name = ""] = splitRef(ref);
    if (scheme === "secretsmanager") return nonEmpty(ref, await fetchSecret(name));
    if (prefix !== undefined) return nonEmpty(ref, await fetchParameter(`${prefix}${name}`));
    const value = options.env[name];
    if (!value) throw new ConfigError(`secret ${ref}: environment variable ${name} is not set`);
    return value;
  };
}

function nonEmpty(ref: string, value: string): string {
  if (!value) throw new ConfigError(`secret for ${ref} is empty; put a value into it`);
  return value;
}

function splitRef(ref: string): [string, string] {
  const colon = ref.indexOf(":");
  return [ref.slice(0, colon), ref.slice(colon + 1)];
}

/** Powertools caches each value for five minutes, so a new value is picked up without a redeploy. */
const SECRET_CACHE_SECONDS = 300;

const fetchFromSecretsManager: SecretFetcher = async (nameOrArn) => {
  const { getSecret } = await import("@aws-lambda-powertools/parameters/secrets");
  const value = await getSecret(nameOrArn, { maxAge: SECRET_CACHE_SECONDS });
  if (typeof value !== "string") throw new ConfigError(`secret ${nameOrArn} has no string value`);
  return value;
};

const fetchFromParameterStore: SecretFetcher = async (name) => {
  const { getParameter } = await import("@aws-lambda-powertools/parameters/ssm");
  try {
    const value = await getParameter(name, { decrypt: true, maxAge: SECRET_CACHE_SECONDS });
    if (typeof value !== "string") throw new ConfigError(`parameter ${name} has no value`);
    return value;
  } catch (error) {
    if ((error as { cause?: { name?: string } }).cause?.name !== "ParameterNotFound") throw error;
    throw new ConfigError(
      `parameter ${name} does not exist: aws ssm put-parameter --type SecureString --name ${name} --value <value>`,
      { cause: error },
    );
  }
};
