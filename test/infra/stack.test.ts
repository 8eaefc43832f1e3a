import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { App } from "aws-cdk-lib";
import { Match, Template } from "aws-cdk-lib/assertions";
import { beforeAll, describe, expect, it } from "vitest";
import { type Config, parseConfig } from "../../functions/core/config";
import {
  API_THROTTLE,
  DELIVER_BATCH_SIZE,
  deliverConcurrency,
  deliverTimeout,
  HooklineStack,
  INGEST_TIMEOUT,
} from "../../lib/hookline-stack";
import { buildStack, FIXTURE_CONFIG, references } from "./synth";

let stack: HooklineStack;
let template: Template;
let config: Config;
let resources: Record<string, { Type: string; Properties?: Record<string, unknown> }>;
let id: ReturnType<typeof references>["id"];
let ref: ReturnType<typeof references>["ref"];
let arn: ReturnType<typeof references>["arn"];

beforeAll(() => {
  stack = buildStack({ alarmEmail: "ops@example.com" });
  template = Template.fromStack(stack);
  resources = template.toJSON().Resources;
  config = stack.config;
  ({ id, ref, arn } = references(stack));
});

const secret = (name: string) => {
  const created = stack.secrets.byName.get(name);
  if (!created) throw new Error(`no secret ${name}`);
  return created;
};

describe("HTTP API", () => {
  it("routes POST /webhooks/{sourceId} and GET /health to the ingest function", () => {
    template.hasResourceProperties("AWS::ApiGatewayV2::Api", { ProtocolType: "HTTP" });
    for (const routeKey of ["POST /webhooks/{sourceId}", "GET /health"]) {
      template.hasResourceProperties("AWS::ApiGatewayV2::Route", {
        RouteKey: routeKey,
        AuthorizationType: "NONE",
      });
    }
    template.resourceCountIs("AWS::ApiGatewayV2::Route", 2);
    template.hasResourceProperties("AWS::ApiGatewayV2::Integration", {
      IntegrationType: "AWS_PROXY",
      IntegrationUri: arn(stack.ingest.fn),
      PayloadFormatVersion: "2.0",
    });
  });

  it("throttles the default stage and writes access logs to a log group with retention", () => {
    template.hasResourceProperties("AWS::ApiGatewayV2::Stage", {
      StageName: "$default",
      AutoDeploy: true,
      DefaultRouteSettings: {
        ThrottlingRateLimit: API_THROTTLE.rateLimit,
        ThrottlingBurstLimit: API_THROTTLE.burstLimit,
      },
      AccessLogSettings: {
        DestinationArn: arn(stack.accessLogs),
        Format: Match.stringLikeRegexp("\\$context\\.requestId"),
      },
    });
    template.hasResource("AWS::Logs::LogGroup", {
      Properties: { RetentionInDays: 30 },
      DeletionPolicy: "Retain",
    });
    expect(resources[id(stack.accessLogs)]?.Properties?.RetentionInDays).toBe(30);
  });
});

describe("functions", () => {
  it.each([
    ["ingest", () => INGEST_TIMEOUT.toSeconds()],
    ["deliver", () => deliverTimeout(config).toSeconds()],
  ] as const)(
    "%s runs Node.js 22 on arm64 with its own log group and the runtime contract",
    (name, timeout) => {
      const fn = stack[name];
      template.hasResourceProperties("AWS::Lambda::Function", {
        FunctionName: Match.absent(),
        Handler: "index.handler",
        Runtime: "nodejs22.x",
        Architectures: ["arm64"],
        Timeout: timeout(),
        MemorySize: 512,
        Role: arn(fn.role),
        LoggingConfig: { LogGroup: ref(fn.logGroup) },
        Environment: {
          Variables: {
            HOOKLINE_TABLE: ref(stack.table),
            HOOKLINE_QUEUE_URL: ref(stack.queue),
            HOOKLINE_CONFIG: "hookline.config.json",
            HOOKLINE_SECRETS: Match.anyValue(),
            POWERTOOLS_SERVICE_NAME: "hookline",
            POWERTOOLS_METRICS_NAMESPACE: "Hookline",
            POWERTOOLS_LOG_LEVEL: "INFO",
            NODE_OPTIONS: "--enable-source-maps",
          },
        },
      });
      expect(resources[id(fn.logGroup)]?.Properties?.RetentionInDays).toBe(30);
    },
  );

  it("keeps ingest inside the senders' 10 s deadline", () => {
    expect(INGEST_TIMEOUT.toSeconds()).toBeLessThanOrEqual(8);
  });

  it("gives deliver time for a batch of rate-limited Bitrix24 calls of bitrix.timeoutMs each", () => {
    const seconds = deliverTimeout(config).toSeconds();
    expect(seconds).toBeGreaterThanOrEqual((DELIVER_BATCH_SIZE * config.bitrix.timeoutMs) / 1000);
    expect(seconds).toBeGreaterThanOrEqual(60);
    expect(deliverTimeout(fixtureWith({ timeoutMs: 60_000 })).toSeconds()).toBe(5 * 60 + 30);
  });

  it("maps each function's env: references to secret ARNs in HOOKLINE_SECRETS, nothing more", () => {
    expect(secretMap(stack.ingest)).toEqual({
      GITHUB_WEBHOOK_SECRET: `<${id(secret("GITHUB_WEBHOOK_SECRET"))}>`,
      STRIPE_WEBHOOK_SECRET: `<${id(secret("STRIPE_WEBHOOK_SECRET"))}>`,
    });
    expect(secretMap(stack.deliver)).toEqual({
      BITRIX_WEBHOOK_URL: `<${id(secret("BITRIX_WEBHOOK_URL"))}>`,
    });
  });
});

describe("table", () => {
  it("is on-demand with key pk, TTL expiresAt, point-in-time recovery, retained on delete", () => {
    template.hasResource("AWS::DynamoDB::Table", {
      Properties: {
        TableName: Match.absent(),
        KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
        AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }],
        BillingMode: "PAY_PER_REQUEST",
        TimeToLiveSpecification: { AttributeName: "expiresAt", Enabled: true },
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      },
      DeletionPolicy: "Retain",
      UpdateReplacePolicy: "Retain",
    });
  });
});

describe("queues", () => {
  it("dead-letters a message after config.delivery.maxReceives receives", () => {
    template.hasResourceProperties("AWS::SQS::Queue", {
      RedrivePolicy: {
        deadLetterTargetArn: arn(stack.deadLetterQueue),
        maxReceiveCount: config.delivery.maxReceives,
      },
      SqsManagedSseEnabled: true,
      VisibilityTimeout: 6 * deliverTimeout(config).toSeconds(),
    });
    expect(config.delivery.maxReceives).toBe(6);
  });

  it("keeps dead letters 14 days, encrypted", () => {
    expect(resources[id(stack.deadLetterQueue)]?.Properties).toEqual({
      MessageRetentionPeriod: 14 * 24 * 3600,
      SqsManagedSseEnabled: true,
    });
  });

  it("denies non-TLS access to both queues", () => {
    for (const queue of [stack.queue, stack.deadLetterQueue]) {
      template.hasResourceProperties("AWS::SQS::QueuePolicy", {
        Queues: [ref(queue)],
        PolicyDocument: {
          Statement: [
            Match.objectLike({
              Effect: "Deny",
              Condition: { Bool: { "aws:SecureTransport": "false" } },
            }),
          ],
        },
      });
    }
  });

  it("feeds deliver small batches with partial failures and bounded concurrency", () => {
    template.hasResourceProperties("AWS::Lambda::EventSourceMapping", {
      EventSourceArn: arn(stack.queue),
      FunctionName: ref(stack.deliver.fn),
      BatchSize: DELIVER_BATCH_SIZE,
      FunctionResponseTypes: ["ReportBatchItemFailures"],
      ScalingConfig: { MaximumConcurrency: 2 },
    });
    const enterprise = fixtureWith({ rateLimit: { perSecond: 5, burst: 250 } });
    expect(deliverConcurrency(enterprise)).toBe(5);
  });
});

describe("secrets", () => {
  it("creates one retained secret per env: reference, with a generated name and no value in the template", () => {
    template.resourceCountIs("AWS::SecretsManager::Secret", 3);
    for (const secret of Object.values(template.findResources("AWS::SecretsManager::Secret"))) {
      expect(secret.DeletionPolicy).toBe("Retain");
      expect(secret.Properties).toMatchObject({ GenerateSecretString: {} });
      expect(secret.Properties).not.toHaveProperty("Name");
      expect(secret.Properties).not.toHaveProperty("SecretString");
    }
  });
});

describe("least privilege", () => {
  it("lets ingest write receipts and outcomes, send to the queue and read its own secrets", () => {
    expect(statementsOf(stack.ingest)).toEqual([
      {
        Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
        Resource: arn(stack.ingest.logGroup),
      },
      { Action: ["dynamodb:PutItem", "dynamodb:DeleteItem"], Resource: [arn(stack.table)] },
      { Action: "sqs:SendMessage", Resource: arn(stack.queue) },
      {
        Action: "secretsmanager:GetSecretValue",
        Resource: [
          ref(secret("GITHUB_WEBHOOK_SECRET")),
          ref(secret("STRIPE_WEBHOOK_SECRET")),
          {
            "Fn::Join": [
              "",
              [
                "arn:",
                { Ref: "AWS::Partition" },
                ":secretsmanager:",
                { Ref: "AWS::Region" },
                ":",
                { Ref: "AWS::AccountId" },
                ":secret:stripe-previous-??????",
              ],
            ],
          },
          "arn:aws:secretsmanager:eu-central-1:123456789012:secret:shop-hmac-AbCdEf",
        ],
      },
    ]);
  });

  it("lets deliver use slots and the limiter, consume the queue and read the Bitrix24 secret", () => {
    expect(statementsOf(stack.deliver)).toEqual([
      {
        Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
        Resource: arn(stack.deliver.logGroup),
      },
      {
        Action: [
          "dynamodb:GetItem",
          "dynamodb:PutItem",
          "dynamodb:UpdateItem",
          "dynamodb:DeleteItem",
        ],
        Resource: [arn(stack.table)],
      },
      { Action: "sqs:ChangeMessageVisibility", Resource: arn(stack.queue) },
      {
        Action: [
          "sqs:ReceiveMessage",
          "sqs:ChangeMessageVisibility",
          "sqs:GetQueueUrl",
          "sqs:DeleteMessage",
          "sqs:GetQueueAttributes",
        ],
        Resource: arn(stack.queue),
      },
      { Action: "secretsmanager:GetSecretValue", Resource: ref(secret("BITRIX_WEBHOOK_URL")) },
    ]);
  });

  it("uses no managed policies and no wildcard resources", () => {
    template.allResourcesProperties("AWS::IAM::Role", { ManagedPolicyArns: Match.absent() });
    expect(JSON.stringify(template.findResources("AWS::IAM::Policy"))).not.toMatch(
      /"Resource":"\*"/,
    );
  });
});

describe("config", () => {
  it("fails synth on a broken config, naming the bad key", () => {
    const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
    const configPath = resolve(import.meta.dirname, "fixtures/broken.config.json");
    expect(() => new HooklineStack(app, "Broken", { configPath })).toThrow(
      /broken\.config\.json: routes\[0\]\.source: no source with id "gitlab"/,
    );
  });
});

/** The Allow statements of the policy attached to the function's role, without the Effect. */
function statementsOf(fn: HooklineStack["ingest"]): unknown[] {
  const policies = Object.values(resources).filter(
    (resource) =>
      resource.Type === "AWS::IAM::Policy" &&
      JSON.stringify(resource.Properties?.Roles) === JSON.stringify([ref(fn.role)]),
  );
  expect(policies).toHaveLength(1);
  const document = policies[0]?.Properties?.PolicyDocument as {
    Statement: Array<Record<string, unknown>>;
  };
  return document.Statement.map(({ Effect, ...rest }) => {
    expect(Effect).toBe("Allow");
    return rest;
  });
}

/** HOOKLINE_SECRETS of a function, with each `Ref` shown as `<logicalId>`. */
function secretMap(fn: HooklineStack["ingest"]): Record<string, string> {
  const environment = resources[id(fn.fn)]?.Properties?.Environment as {
    Variables: Record<string, unknown>;
  };
  const join = (environment.Variables.HOOKLINE_SECRETS as { "Fn::Join": [string, unknown[]] })[
    "Fn::Join"
  ];
  const text = join[1]
    .map((part) => (typeof part === "string" ? part : `<${(part as { Ref: string }).Ref}>`))
    .join(join[0]);
  return JSON.parse(text) as Record<string, string>;
}

/** The fixture config as written (before parsing), with the bitrix block overridden. */
function fixtureWith(bitrix: Record<string, unknown>): Config {
  const raw = JSON.parse(readFileSync(FIXTURE_CONFIG, "utf8")) as { bitrix: object };
  return parseConfig({ ...raw, bitrix: { ...raw.bitrix, ...bitrix } });
}
