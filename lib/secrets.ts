import { ArnFormat, CfnOutput, RemovalPolicy, Stack, Validations } from "aws-cdk-lib";
import { PolicyStatement } from "aws-cdk-lib/aws-iam";
import type { IFunction } from "aws-cdk-lib/aws-lambda";
import { Secret } from "aws-cdk-lib/aws-secretsmanager";
import { Construct } from "constructs";
import type { Config } from "../functions/core/config";

/** The secret references the ingest function resolves: every source's signing secret(s). */
export const ingestSecretRefs = (config: Pick<Config, "sources">): string[] =>
  unique(config.sources.flatMap((source) => source.secret));

/** The secret references the deliver function resolves: each portal's webhook URL or OAuth app. */
export const deliverSecretRefs = (config: Pick<Config, "portals">): string[] =>
  unique(
    config.portals.flatMap(({ webhookUrl, oauth }) => [
      ...(webhookUrl ? [webhookUrl] : []),
      ...(oauth ? [oauth.clientId, oauth.clientSecret, oauth.refreshToken] : []),
    ]),
  );

/** The secret references of the OAuth apps, which the sweeper refreshes to keep their tokens alive. */
export const oauthSecretRefs = (config: Pick<Config, "portals">): string[] =>
  unique(
    config.portals.flatMap(({ oauth }) =>
      oauth ? [oauth.clientId, oauth.clientSecret, oauth.refreshToken] : [],
    ),
  );

const unique = (values: string[]): string[] => [...new Set(values)];

const ENV_PREFIX = "env:";
const SECRETS_MANAGER_PREFIX = "secretsmanager:";

export interface HooklineSecretsProps {
  /** Every secret reference in the config (`env:NAME` or `secretsmanager:<name or ARN>`). */
  readonly refs: readonly string[];
  /**
   * Customer-managed KMS keys of secrets named by `secretsmanager:` references. Functions that read
   * such a secret get kms:Decrypt on these keys, used through Secrets Manager only.
   */
  readonly kmsKeyArns?: readonly string[] | undefined;
}

/**
 * One Secrets Manager secret per `env:NAME` reference in the config (generated names, a random
 * placeholder value the operator replaces), plus the existing secrets named by
 * `secretsmanager:` references. `grantTo` wires a function to the secrets it uses.
 *
 * @example
 * const secrets = new HooklineSecrets(this, "Secrets", { refs: [...ingestRefs, ...deliverRefs] });
 * secrets.grantTo(ingest.fn, ingestRefs); // HOOKLINE_SECRETS + secretsmanager:GetSecretValue
 */
export class HooklineSecrets extends Construct {
  /** The secrets created for `env:` references, by variable name. */
  readonly byName = new Map<string, Secret>();
  /** IAM resources of each `secretsmanager:` reference. */
  private readonly imported = new Map<string, string[]>();
  private readonly kmsKeyArns: readonly string[];

  constructor(scope: Construct, id: string, props: HooklineSecretsProps) {
    super(scope, id);
    this.kmsKeyArns = props.kmsKeyArns ?? [];
    for (const ref of unique([...props.refs])) {
      if (ref.startsWith(ENV_PREFIX)) {
        const name = ref.slice(ENV_PREFIX.length);
        const secret = new Secret(this, name, {
          description: `hookline: the value of ${ref} in hookline.config.json (put the real value after the first deploy)`,
          // The value was put by hand and may be needed again: keep it when the stack goes.
          removalPolicy: RemovalPolicy.RETAIN,
        });
        Validations.of(secret).acknowledge({
          id: "AwsSolutions-SMG4",
          reason:
            "A third-party value (a sender's webhook signing secret or a Bitrix24 webhook URL/OAuth credential) that only the issuing service can change; AWS cannot rotate it. Rotate it at the sender and put the new value.",
        });
        new CfnOutput(Stack.of(this), `Secret${name.replaceAll("_", "")}`, {
          description: `Secrets Manager secret for ${ref}: aws secretsmanager put-secret-value --secret-id <this> --secret-string <value>`,
          value: secret.secretArn,
        });
        this.byName.set(name, secret);
      } else if (ref.startsWith(SECRETS_MANAGER_PREFIX)) {
        this.imported.set(
          ref,
          importedSecretResources(this, ref.slice(SECRETS_MANAGER_PREFIX.length)),
        );
      }
    }
  }

  /**
   * Lets `fn` read the secrets behind `refs`: sets `HOOKLINE_SECRETS` (JSON: variable name →
   * secret ARN, for the `env:` references) and grants `secretsmanager:GetSecretValue` on exactly
   * those secrets (and kms:Decrypt on `kmsKeyArns` when one is imported). `secretsmanager:`
   * references are resolved by the function directly.
   */
  grantTo(fn: IFunction & { addEnvironment(key: string, value: string): unknown }, refs: string[]) {
    const arns: Record<string, string> = {};
    const resources: string[] = [];
    let importsAny = false;
    for (const ref of refs) {
      const envName = ref.startsWith(ENV_PREFIX) ? ref.slice(ENV_PREFIX.length) : undefined;
      const created = envName ? this.byName.get(envName) : undefined;
      const imported = envName ? undefined : this.imported.get(ref);
      if (envName && created) {
        arns[envName] = created.secretArn;
        resources.push(created.secretArn);
      } else if (imported) {
        importsAny = true;
        resources.push(...imported);
      } else {
        throw new Error(`no secret for ${ref}: pass it in HooklineSecretsProps.refs`);
      }
    }
    fn.addEnvironment("HOOKLINE_SECRETS", Stack.of(this).toJsonString(arns));
    if (resources.length === 0) return;
    fn.addToRolePolicy(
      new PolicyStatement({ actions: ["secretsmanager:GetSecretValue"], resources }),
    );
    if (importsAny && this.kmsKeyArns.length > 0) {
      fn.addToRolePolicy(
        new PolicyStatement({
          actions: ["kms:Decrypt"],
          resources: [...this.kmsKeyArns],
          conditions: {
            StringEquals: {
              "kms:ViaService": `secretsmanager.${Stack.of(this).region}.${Stack.of(this).urlSuffix}`,
            },
          },
        }),
      );
    }
  }
}

/**
 * The IAM resources that cover a secret named by `secretsmanager:<name or ARN>`. Secrets Manager
 * appends `-` and 6 random characters to a secret's name to make its ARN, and nothing tells an
 * ARN with that suffix from one without (`…:secret:prod-bitrix` may be the secret `prod` or a
 * partial ARN of `prod-bitrix`), so an ARN is granted both as given and with any suffix.
 */
function importedSecretResources(scope: Construct, nameOrArn: string): string[] {
  if (nameOrArn.startsWith("arn:")) return [nameOrArn, `${nameOrArn}-??????`];
  return [
    Stack.of(scope).formatArn({
      service: "secretsmanager",
      resource: "secret",
      resourceName: `${nameOrArn}-??????`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    }),
  ];
}
