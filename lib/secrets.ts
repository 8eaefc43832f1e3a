import { ArnFormat, CfnOutput, Stack, Validations } from "aws-cdk-lib";
import { PolicyStatement } from "aws-cdk-lib/aws-iam";
import type { IFunction } from "aws-cdk-lib/aws-lambda";
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

/**
 * Where a stack's `env:NAME` values live on AWS: the Parameter Store SecureString parameters
 * `/hookline/<stack name>/NAME` (docs/scale.md: one prefix, one grant, however many portals).
 */
export const secretParameterPrefix = (stackName: string): string => `/hookline/${stackName}/`;

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
 * The config's secrets on AWS. Every `env:NAME` reference is the Parameter Store SecureString
 * `<prefix>NAME` (the operator puts it; CloudFormation cannot create a SecureString, and no value
 * belongs in a template), read through one IAM grant on the prefix and one environment variable
 * (`HOOKLINE_SECRET_PREFIX`), so a function's policy, its environment and the stack's outputs stay
 * the same size at 1,000 portals as at one. Standard parameters cost nothing (up to 10,000 a
 * region, 4 KB each); Secrets Manager would cost $0.40 a month per secret. `secretsmanager:`
 * references name existing secrets, each granted on its own.
 *
 * @example
 * const secrets = new HooklineSecrets(this, "Secrets", { refs: [...ingestRefs, ...deliverRefs] });
 * secrets.grantTo(ingest.fn, ingestRefs); // HOOKLINE_SECRET_PREFIX + ssm:GetParameter on the prefix
 */
export class HooklineSecrets extends Construct {
  /** The parameter path every `env:NAME` value is put under: `/hookline/<stack name>/`. */
  readonly prefix: string;
  /** The `env:` names, in config order: the parameters to put. */
  readonly parameterNames: readonly string[];
  /** IAM resources of each `secretsmanager:` reference. */
  private readonly imported = new Map<string, string[]>();
  private readonly kmsKeyArns: readonly string[];

  constructor(scope: Construct, id: string, props: HooklineSecretsProps) {
    super(scope, id);
    this.kmsKeyArns = props.kmsKeyArns ?? [];
    this.prefix = secretParameterPrefix(Stack.of(this).stackName);
    const refs = unique([...props.refs]);
    this.parameterNames = refs
      .filter((ref) => ref.startsWith(ENV_PREFIX))
      .map((ref) => ref.slice(ENV_PREFIX.length));
    for (const ref of refs) {
      if (ref.startsWith(SECRETS_MANAGER_PREFIX)) {
        this.imported.set(
          ref,
          importedSecretResources(this, ref.slice(SECRETS_MANAGER_PREFIX.length)),
        );
      }
    }
    if (this.parameterNames.length > 0) {
      new CfnOutput(Stack.of(this), "SecretParameterPrefix", {
        description: `Put each env:NAME of the config (${this.parameterNames.length}): aws ssm put-parameter --type SecureString --name <this>NAME --value <value>`,
        value: this.prefix,
      });
    }
  }

  /**
   * Lets `fn` read the secrets behind `refs`: for `env:` references `HOOKLINE_SECRET_PREFIX` and
   * `ssm:GetParameter` on the prefix (one statement, whatever the count); for `secretsmanager:`
   * references `secretsmanager:GetSecretValue` on exactly those secrets (and kms:Decrypt on
   * `kmsKeyArns`).
   */
  grantTo(fn: IFunction & { addEnvironment(key: string, value: string): unknown }, refs: string[]) {
    const imported: string[] = [];
    let parameters = false;
    for (const ref of refs) {
      if (ref.startsWith(ENV_PREFIX)) {
        parameters = true;
        continue;
      }
      const resources = this.imported.get(ref);
      if (!resources) throw new Error(`no secret for ${ref}: pass it in HooklineSecretsProps.refs`);
      imported.push(...resources);
    }
    if (parameters) {
      fn.addEnvironment("HOOKLINE_SECRET_PREFIX", this.prefix);
      const stack = Stack.of(this);
      const underPrefix = stack.formatArn({
        service: "ssm",
        resource: "parameter",
        resourceName: `${this.prefix.slice(1)}*`,
        arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
      });
      // SecureStrings under the AWS managed key aws/ssm: its key policy lets the account's
      // principals decrypt through Parameter Store, so no kms:Decrypt grant is needed.
      fn.addToRolePolicy(
        new PolicyStatement({ actions: ["ssm:GetParameter"], resources: [underPrefix] }),
      );
      Validations.of(fn.role ?? fn).acknowledge({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter/${this.prefix.slice(1)}*]`,
        reason:
          "The stack's own secret parameters, one prefix for all (docs/scale.md): a policy naming each would pass IAM's size limit at a few hundred portals. Read-only, this stack's prefix only.",
      });
    }
    if (imported.length === 0) return;
    fn.addToRolePolicy(
      new PolicyStatement({ actions: ["secretsmanager:GetSecretValue"], resources: imported }),
    );
    if (this.kmsKeyArns.length > 0) {
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
