import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { Match, Template } from "aws-cdk-lib/assertions";
import { CURRENTLY_RECOMMENDED_FLAGS } from "aws-cdk-lib/cx-api";
import { beforeAll, describe, expect, it } from "vitest";
import { TABLE_INDEXES } from "../../functions/adapters/dynamo/table";
import { type Config, parseConfig } from "../../functions/core/config";
import { deliveryTimings } from "../../functions/core/delivery-timings";
import {
  API_MIN_THROTTLE,
  defaultApiThrottle,
  deliverConcurrency,
  HTTP_API_ACCOUNT_THROTTLE,
} from "../../lib/capacity";
import {
  DEFAULT_LOG_LEVEL,
  DELIVER_BATCHING_WINDOW,
  HooklineStack,
  INGEST_TIMEOUT,
  MEMORY_MB,
  PROJECT_ROOT,
  SWEEP_TIMEOUT,
} from "../../lib/hookline-stack";
import { buildStack, CDK_CONTEXT, FIXTURE_CONFIG, references, testApp, writeConfig } from "./synth";

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

/** The ARN pattern the stack's secret parameters are granted by: one prefix for all. */
const parameterPrefixArn = (stackName = "Hookline") => ({
  "Fn::Join": [
    "",
    [
      "arn:",
      { Ref: "AWS::Partition" },
      ":ssm:",
      { Ref: "AWS::Region" },
      ":",
      { Ref: "AWS::AccountId" },
      `:parameter/hookline/${stackName}/*`,
    ],
  ],
});
const propertiesOf = (construct: Parameters<typeof id>[0]) =>
  resources[id(construct)]?.Properties ?? {};

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

  it("throttles the default stage, and writes no access logs unless asked", () => {
    template.hasResourceProperties("AWS::ApiGatewayV2::Stage", {
      StageName: "$default",
      AutoDeploy: true,
      DefaultRouteSettings: {
        ThrottlingRateLimit: API_MIN_THROTTLE.rateLimit,
        ThrottlingBurstLimit: API_MIN_THROTTLE.burstLimit,
      },
      AccessLogSettings: Match.absent(),
    });
    expect(stack.accessLogs).toBeUndefined();
  });

  it("takes the throttle from the props (context apiRateLimit, apiBurstLimit)", () => {
    const throttled = buildStack({ apiThrottle: { rateLimit: 7, burstLimit: 9 } });
    Template.fromStack(throttled).hasResourceProperties("AWS::ApiGatewayV2::Stage", {
      DefaultRouteSettings: { ThrottlingRateLimit: 7, ThrottlingBurstLimit: 9 },
    });
    const rateOnly = buildStack({ apiThrottle: { rateLimit: 300 } });
    Template.fromStack(rateOnly).hasResourceProperties("AWS::ApiGatewayV2::Stage", {
      DefaultRouteSettings: {
        ThrottlingRateLimit: 300,
        ThrottlingBurstLimit: API_MIN_THROTTLE.burstLimit,
      },
    });
  });

  it("sizes the default throttle from the portals' rates: 10 M webhooks a day (116/s) pass at 4x peak", () => {
    const portals = (count: number, perSecond: number) =>
      parseConfig({
        sources: [{ id: "gh", type: "github", secret: "env:GH" }],
        portals: Array.from({ length: count }, (_, i) => ({
          id: `p${i}`,
          webhookUrl: `env:P${i}`,
          openLines: { a: "ab515f5d85a8b844d484f6ea75a2e494" },
          rateLimit: { perSecond },
        })),
      });
    expect(defaultApiThrottle(portals(1, 2))).toEqual(API_MIN_THROTTLE);
    expect(API_MIN_THROTTLE.rateLimit).toBeGreaterThanOrEqual(4 * (10_000_000 / 86_400));
    // 100 Enterprise portals drain 500 messages/s: 5,000 webhooks/s at 20 % routed and peak 2.
    expect(defaultApiThrottle(portals(100, 5))).toEqual({ rateLimit: 5000, burstLimit: 5000 });
    // Never above the account's own throttle, which a stage cannot raise.
    expect(defaultApiThrottle(portals(1000, 2))).toEqual(HTTP_API_ACCOUNT_THROTTLE);
  });

  it("writes access logs, on request, to an infrequent-access log group kept 30 days", () => {
    const logged = buildStack({ accessLogs: true });
    const refs = references(logged);
    const accessLogs = logged.accessLogs;
    if (!accessLogs) throw new Error("no access log group");
    const logTemplate = Template.fromStack(logged);
    logTemplate.hasResourceProperties("AWS::ApiGatewayV2::Stage", {
      AccessLogSettings: {
        DestinationArn: refs.arn(accessLogs),
        Format: Match.stringLikeRegexp("\\$context\\.requestId"),
      },
    });
    logTemplate.hasResource("AWS::Logs::LogGroup", {
      Properties: { RetentionInDays: 30, LogGroupClass: "INFREQUENT_ACCESS" },
      DeletionPolicy: "Retain",
    });
  });
});

describe("functions", () => {
  it.each([
    ["ingest", () => INGEST_TIMEOUT.toSeconds(), MEMORY_MB.ingest],
    ["deliver", () => deliveryTimings(config).deliverTimeoutSeconds, MEMORY_MB.deliver],
    ["sweep", () => SWEEP_TIMEOUT.toSeconds(), MEMORY_MB.sweep],
  ] as const)(
    "%s runs Node.js 22 on arm64 with its own log group, JSON logs and the runtime contract",
    (name, timeout, memory) => {
      const fn = stack[name];
      template.hasResourceProperties("AWS::Lambda::Function", {
        FunctionName: Match.absent(),
        Handler: "index.handler",
        Runtime: "nodejs22.x",
        Architectures: ["arm64"],
        Timeout: timeout(),
        MemorySize: memory,
        Role: arn(fn.role),
        // No START/END/REPORT line per invocation: Lambda's own lines at WARN only. Lambda's
        // filter at INFO, so the metric lines pass (test/integration/log-filter.test.ts).
        LoggingConfig: {
          LogGroup: ref(fn.logGroup),
          LogFormat: "JSON",
          ApplicationLogLevel: "INFO",
          SystemLogLevel: "WARN",
        },
        Environment: {
          Variables: Match.objectLike({
            HOOKLINE_TABLE: ref(stack.table),
            HOOKLINE_QUEUE_URL: ref(stack.queue),
            POWERTOOLS_SERVICE_NAME: "hookline",
            POWERTOOLS_METRICS_NAMESPACE: "Hookline",
            HOOKLINE_LOG_LEVEL: DEFAULT_LOG_LEVEL,
          }),
        },
      });
      expect(propertiesOf(fn.logGroup).RetentionInDays).toBe(30);
      // hookline's level is HOOKLINE_LOG_LEVEL (Powertools follows AWS_LAMBDA_LOG_LEVEL anyway).
      const variables = (propertiesOf(fn.fn).Environment as { Variables: object }).Variables;
      expect(variables).not.toHaveProperty("POWERTOOLS_LOG_LEVEL");
      // Source maps are read when a stack is logged, not by node at every cold start.
      expect(variables).not.toHaveProperty("NODE_OPTIONS");
    },
  );

  it("keeps warnings and errors by default, and INFO lines when asked (context logLevel)", async () => {
    expect(DEFAULT_LOG_LEVEL).toBe("WARN");
    const { ApplicationLogLevel } = await import("aws-cdk-lib/aws-lambda");
    const verbose = Template.fromStack(buildStack({ logLevel: ApplicationLogLevel.INFO }));
    verbose.allResourcesProperties("AWS::Lambda::Function", {
      LoggingConfig: Match.objectLike({ ApplicationLogLevel: "INFO", SystemLogLevel: "WARN" }),
      Environment: { Variables: Match.objectLike({ HOOKLINE_LOG_LEVEL: "INFO" }) },
    });
    // DEBUG lines need Lambda's filter at DEBUG too.
    const debug = Template.fromStack(buildStack({ logLevel: ApplicationLogLevel.DEBUG }));
    debug.allResourcesProperties("AWS::Lambda::Function", {
      LoggingConfig: Match.objectLike({ ApplicationLogLevel: "DEBUG" }),
      Environment: { Variables: Match.objectLike({ HOOKLINE_LOG_LEVEL: "DEBUG" }) },
    });
  });

  it("keeps ingest inside the senders' 10 s deadline", () => {
    expect(INGEST_TIMEOUT.toSeconds()).toBeLessThanOrEqual(8);
  });

  it("gives deliver the dead-letter queue, and sweep only the table and the queue", () => {
    const variables = (fn: HooklineStack["ingest"]) =>
      (propertiesOf(fn.fn).Environment as { Variables: Record<string, unknown> }).Variables;
    expect(variables(stack.deliver).HOOKLINE_DEAD_LETTER_QUEUE_URL).toEqual(
      ref(stack.deadLetterQueue),
    );
    expect(variables(stack.ingest)).not.toHaveProperty("HOOKLINE_DEAD_LETTER_QUEUE_URL");
    expect(Object.keys(variables(stack.sweep)).sort()).toEqual([
      "HOOKLINE_LOG_LEVEL",
      "HOOKLINE_QUEUE_URL",
      "HOOKLINE_TABLE",
      "POWERTOOLS_METRICS_NAMESPACE",
      "POWERTOOLS_SERVICE_NAME",
    ]);
  });

  it("gives the functions that read env: references the parameter prefix, one variable for all", () => {
    const variables = (fn: HooklineStack["ingest"]) =>
      (propertiesOf(fn.fn).Environment as { Variables: Record<string, unknown> }).Variables;
    expect(variables(stack.ingest).HOOKLINE_SECRET_PREFIX).toBe("/hookline/Hookline/");
    expect(variables(stack.deliver).HOOKLINE_SECRET_PREFIX).toBe("/hookline/Hookline/");
    expect(variables(stack.sweep)).not.toHaveProperty("HOOKLINE_SECRET_PREFIX");
  });
});

describe("delivery timings: queue, function and alarm agree with deliveryTimings(config)", () => {
  it("reads the fixture's retry window (12 h, backoff up to 600 s)", () => {
    expect(config.delivery).toMatchObject({ retryFor: 43_200, maxBackoffSeconds: 600 });
  });

  it.each([
    ["the fixture", undefined],
    ["the defaults", fixtureRaw({}, {})],
    ["a short window and a long lease", fixtureRaw({}, { retryFor: "2h", leaseSeconds: 300 })],
    ["the longest window", fixtureRaw({}, { retryFor: "13d" })],
  ])("with %s", (_name, raw) => {
    const built = raw ? buildStack({ configPath: writeConfig(raw) }) : stack;
    const timings = deliveryTimings(built.config);
    const refs = references(built);
    const builtResources = Template.fromStack(built).toJSON().Resources as typeof resources;
    const props = (construct: Parameters<typeof refs.id>[0]) =>
      builtResources[refs.id(construct)]?.Properties ?? {};
    expect(props(built.queue)).toMatchObject({
      MessageRetentionPeriod: timings.queueRetentionSeconds,
      VisibilityTimeout: timings.visibilityTimeoutSeconds,
      RedrivePolicy: { maxReceiveCount: timings.maxReceiveCount },
    });
    expect(props(built.deadLetterQueue).MessageRetentionPeriod).toBe(
      timings.deadLetterRetentionSeconds,
    );
    expect(props(built.deliver.fn).Timeout).toBe(timings.deliverTimeoutSeconds);
    const queueAge = Object.values(builtResources).find(
      (r) =>
        r.Type === "AWS::CloudWatch::Alarm" &&
        r.Properties?.MetricName === "ApproximateAgeOfOldestMessage",
    );
    expect(queueAge?.Properties?.Threshold).toBe(timings.queueAgeAlarmSeconds);
    // The queue keeps a message through the whole window; SQS's own visibility rule holds.
    expect(timings.queueRetentionSeconds).toBeGreaterThanOrEqual(
      Math.min(14 * 86_400, built.config.delivery.retryFor),
    );
    expect(timings.visibilityTimeoutSeconds).toBeGreaterThanOrEqual(
      6 * timings.deliverTimeoutSeconds,
    );
    expect(timings.queueAgeAlarmSeconds).toBeLessThan(built.config.delivery.retryFor);
  });
});

describe("the deploy guide's retry window table", () => {
  it("shows what deliveryTimings makes of the defaults", () => {
    const readme = readFileSync(resolve(PROJECT_ROOT, "docs/deploy.md"), "utf8");
    const timings = deliveryTimings(fixtureWith({}, {}));
    const hours = (seconds: number) => {
      const whole = Math.floor(seconds / 3600);
      const minutes = Math.round((seconds % 3600) / 60);
      return minutes ? `${whole} h ${minutes} min` : `${whole} h`;
    };
    for (const row of [
      `| deliver timeout | ${timings.deliverTimeoutSeconds} s |`,
      `| visibility timeout | ${timings.visibilityTimeoutSeconds} s |`,
      `| queue retention | ${hours(timings.queueRetentionSeconds)} |`,
      `| SQS receive limit | ${timings.maxReceiveCount} |`,
      `| QueueAgeHigh threshold | ${hours(timings.queueAgeAlarmSeconds)} |`,
      `| dead-letter retention | ${timings.deadLetterRetentionSeconds / 86_400} days |`,
    ]) {
      expect(readme).toContain(row);
    }
  });
});

describe("table", () => {
  it("is on-demand with key pk, TTL expiresAt, PITR, deletion protection, retained on delete", () => {
    template.hasResource("AWS::DynamoDB::Table", {
      Properties: Match.objectLike({
        TableName: Match.absent(),
        KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
        BillingMode: "PAY_PER_REQUEST",
        TimeToLiveSpecification: { AttributeName: "expiresAt", Enabled: true },
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        DeletionProtectionEnabled: true,
      }),
      DeletionPolicy: "Retain",
      UpdateReplacePolicy: "Retain",
    });
  });

  it("has the sparse indexes of TABLE_INDEXES: due (INCLUDE digestKey), digest (KEYS_ONLY), events (INCLUDE outcome fields)", () => {
    const { due, digest, events } = TABLE_INDEXES;
    template.hasResourceProperties("AWS::DynamoDB::Table", {
      AttributeDefinitions: Match.arrayWith([
        { AttributeName: "pk", AttributeType: "S" },
        { AttributeName: due.partitionKey, AttributeType: "S" },
        { AttributeName: due.sortKey, AttributeType: "N" },
        { AttributeName: digest.partitionKey, AttributeType: "S" },
        { AttributeName: digest.sortKey, AttributeType: "N" },
        { AttributeName: events.partitionKey, AttributeType: "S" },
        { AttributeName: events.sortKey, AttributeType: "N" },
      ]),
      GlobalSecondaryIndexes: [
        {
          IndexName: due.indexName,
          KeySchema: [
            { AttributeName: due.partitionKey, KeyType: "HASH" },
            { AttributeName: due.sortKey, KeyType: "RANGE" },
          ],
          Projection: { ProjectionType: "INCLUDE", NonKeyAttributes: [...due.include] },
        },
        {
          IndexName: digest.indexName,
          KeySchema: [
            { AttributeName: digest.partitionKey, KeyType: "HASH" },
            { AttributeName: digest.sortKey, KeyType: "RANGE" },
          ],
          Projection: { ProjectionType: "KEYS_ONLY" },
        },
        {
          IndexName: events.indexName,
          KeySchema: [
            { AttributeName: events.partitionKey, KeyType: "HASH" },
            { AttributeName: events.sortKey, KeyType: "RANGE" },
          ],
          Projection: { ProjectionType: "INCLUDE", NonKeyAttributes: [...events.include] },
        },
      ],
    });
  });
});

describe("queues", () => {
  it("keeps dead letters as long as SQS allows, encrypted", () => {
    expect(propertiesOf(stack.deadLetterQueue)).toEqual({
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

  it("feeds deliver gathered batches with partial failures and bounded concurrency", () => {
    template.hasResourceProperties("AWS::Lambda::EventSourceMapping", {
      EventSourceArn: arn(stack.queue),
      FunctionName: ref(stack.deliver.fn),
      BatchSize: 50,
      MaximumBatchingWindowInSeconds: DELIVER_BATCHING_WINDOW.toSeconds(),
      FunctionResponseTypes: ["ReportBatchItemFailures"],
      ScalingConfig: { MaximumConcurrency: 2 },
    });
    const enterprise = fixtureWith({ rateLimit: { perSecond: 5, burst: 250 } });
    expect(deliverConcurrency(enterprise)).toBe(5);
  });

  it("caps deliver's concurrency where ingest at the API's full rate still has room", () => {
    const busy = parseConfig({
      sources: [{ id: "gh", type: "github", secret: "env:GH" }],
      portals: Array.from({ length: 1000 }, (_, i) => ({
        id: `p${i}`,
        webhookUrl: `env:P${i}`,
        openLines: { a: "ab515f5d85a8b844d484f6ea75a2e494" },
        rateLimit: { perSecond: 2 },
      })),
    });
    // 1,000 of the account, less 100 for other functions, less 400 for ingest at 10,000/s.
    expect(deliverConcurrency(busy)).toBe(500);
    expect(deliverConcurrency(busy, { rateLimit: 500, burstLimit: 1000 })).toBe(880);
    expect(deliverConcurrency(busy, { rateLimit: 500, burstLimit: 1000 }, 5000)).toBe(1000);
    expect(() => deliverConcurrency(busy, { rateLimit: 25_000, burstLimit: 5000 })).toThrow(
      /leaves deliver fewer than 2 of the account's 1000: lower -c apiRateLimit/,
    );
  });
});

describe("sweeper", () => {
  it("runs every minute from an EventBridge Scheduler schedule, with no retries piling up", () => {
    template.hasResourceProperties("AWS::Scheduler::Schedule", {
      ScheduleExpression: "rate(1 minute)",
      State: "ENABLED",
      FlexibleTimeWindow: { Mode: "OFF" },
      Target: {
        Arn: arn(stack.sweep.fn),
        RetryPolicy: { MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 60 },
        RoleArn: Match.anyValue(),
      },
    });
    template.hasResourceProperties("AWS::Lambda::EventInvokeConfig", {
      FunctionName: ref(stack.sweep.fn),
      MaximumRetryAttempts: 0,
      MaximumEventAgeInSeconds: 60,
    });
  });

  it("invokes through a role that only the scheduler of this account may assume", () => {
    const [schedule] = Object.values(template.findResources("AWS::Scheduler::Schedule"));
    const roleArn = schedule?.Properties?.Target?.RoleArn as { "Fn::GetAtt": [string, string] };
    const roleId = roleArn["Fn::GetAtt"][0];
    expect(resources[roleId]?.Properties?.AssumeRolePolicyDocument).toEqual({
      Statement: [
        {
          Action: "sts:AssumeRole",
          Effect: "Allow",
          Principal: { Service: "scheduler.amazonaws.com" },
          Condition: { StringEquals: { "aws:SourceAccount": { Ref: "AWS::AccountId" } } },
        },
      ],
      Version: "2012-10-17",
    });
    expect(statementsOfRole(roleId)).toEqual([
      {
        Action: "lambda:InvokeFunction",
        Resource: [arn(stack.sweep.fn), { "Fn::Join": ["", [arn(stack.sweep.fn), ":*"]] }],
      },
    ]);
  });
});

describe("secrets", () => {
  it("creates no secret: env: references are SecureString parameters under one prefix, printed once", () => {
    template.resourceCountIs("AWS::SecretsManager::Secret", 0);
    template.resourceCountIs("AWS::SSM::Parameter", 0);
    expect(stack.secrets.prefix).toBe("/hookline/Hookline/");
    expect(stack.secrets.parameterNames).toEqual([
      "GITHUB_WEBHOOK_SECRET",
      "STRIPE_WEBHOOK_SECRET",
      "BITRIX_WEBHOOK_URL",
    ]);
    template.hasOutput("SecretParameterPrefix", { Value: "/hookline/Hookline/" });
    expect(
      Object.keys(template.findOutputs("*")).filter((key) => key.startsWith("Secret")),
    ).toEqual(["SecretParameterPrefix"]);
  });

  it("grants an imported ARN both as given and with a name suffix, since neither can be told apart", () => {
    // `prod-bitrix` may be the secret `prod` (suffix -bitrix) or a partial ARN of `prod-bitrix`.
    const partial = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:prod-bitrix";
    const imported = buildStack({
      configPath: writeConfig(fixtureRaw({ webhookUrl: `secretsmanager:${partial}` })),
    });
    const statements = statementsOfRole(references(imported).id(imported.deliver.role), imported);
    expect(statements).toContainEqual({
      Action: "secretsmanager:GetSecretValue",
      Resource: [partial, `${partial}-??????`],
    });
  });

  it("lets a function decrypt imported secrets with the named KMS keys, through Secrets Manager only", () => {
    const key = "arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    const withKey = buildStack({ secretsKmsKeyArns: [key] });
    const refs = references(withKey);
    const kms = {
      Action: "kms:Decrypt",
      Resource: key,
      Condition: {
        StringEquals: {
          "kms:ViaService": {
            "Fn::Join": [
              "",
              ["secretsmanager.", { Ref: "AWS::Region" }, ".", { Ref: "AWS::URLSuffix" }],
            ],
          },
        },
      },
    };
    // Ingest reads two imported secrets; deliver reads only a parameter.
    expect(statementsOfRole(refs.id(withKey.ingest.role), withKey)).toContainEqual(kms);
    expect(JSON.stringify(statementsOfRole(refs.id(withKey.deliver.role), withKey))).not.toContain(
      "kms:",
    );
  });
});

describe("least privilege", () => {
  const table = () => arn(stack.table);
  const index = (name: string) => ({ "Fn::Join": ["", [table(), `/index/${name}`]] });

  it("lets ingest write receipts and outcomes, read outcomes, send to the queue and read its own secrets", () => {
    expect(statementsOf(stack.ingest)).toEqual([
      {
        Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
        Resource: arn(stack.ingest.logGroup),
      },
      {
        // No UpdateItem, no DeleteItem: receipts and outcomes are put, never changed or removed
        // (functions/adapters/dynamo); a duplicate reads its jobs' outcomes, several together.
        Action: ["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:PutItem"],
        Resource: table(),
      },
      { Action: "sqs:SendMessage", Resource: arn(stack.queue) },
      { Action: "ssm:GetParameter", Resource: parameterPrefixArn() },
      {
        Action: "secretsmanager:GetSecretValue",
        Resource: [
          "arn:aws:secretsmanager:eu-central-1:123456789012:secret:shop-hmac-AbCdEf",
          "arn:aws:secretsmanager:eu-central-1:123456789012:secret:shop-hmac-AbCdEf-??????",
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
        ],
      },
    ]);
  });

  it("lets deliver use slots, limiter, outcomes and digests, consume the queue, dead-letter and read the Bitrix24 secret", () => {
    expect(statementsOf(stack.deliver)).toEqual([
      {
        Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
        Resource: arn(stack.deliver.logGroup),
      },
      {
        Action: [
          "dynamodb:BatchGetItem",

          "dynamodb:GetItem",
          "dynamodb:PutItem",
          "dynamodb:UpdateItem",
        ],
        Resource: table(),
      },
      { Action: "dynamodb:Query", Resource: index("digest") },
      {
        Action: [
          "sqs:ChangeMessageVisibility",
          "sqs:DeleteMessage",
          "sqs:GetQueueAttributes",
          "sqs:GetQueueUrl",
          "sqs:ReceiveMessage",
        ],
        Resource: arn(stack.queue),
      },
      { Action: "sqs:SendMessage", Resource: arn(stack.deadLetterQueue) },
      { Action: "ssm:GetParameter", Resource: parameterPrefixArn() },
    ]);
  });

  it("lets sweep query the due index, mark a flush on the slot and queue it", () => {
    expect(statementsOf(stack.sweep)).toEqual([
      {
        Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
        Resource: arn(stack.sweep.logGroup),
      },
      { Action: "dynamodb:Query", Resource: index("due") },
      { Action: "dynamodb:UpdateItem", Resource: table() },
      { Action: "sqs:SendMessage", Resource: arn(stack.queue) },
    ]);
  });

  it("uses no managed policies and no wildcard resources", () => {
    template.allResourcesProperties("AWS::IAM::Role", { ManagedPolicyArns: Match.absent() });
    const policies = JSON.stringify(template.findResources("AWS::IAM::Policy"));
    expect(policies).not.toMatch(/"Resource":"\*"/);
    expect(policies).not.toContain("/index/*");
  });
});

describe("several portals", () => {
  const portals = (extra: Record<string, unknown> = {}) => {
    const { bitrix: _bitrix, ...raw } = fixtureRaw({});
    return {
      ...raw,
      portals: [
        {
          id: "main",
          webhookUrl: "env:BITRIX_MAIN_URL",
          openLines: { support: "ab515f5d85a8b844d484f6ea75a2e494" },
          rateLimit: { perSecond: 2, burst: 50 },
        },
        {
          id: "eu",
          url: "https://eu-example.bitrix24.com",
          oauth: {
            clientId: "env:EU_ID",
            clientSecret: "env:EU_SECRET",
            refreshToken: "env:EU_REFRESH",
          },
          openLines: { billing: "0123456789abcdef0123456789abcdef" },
          rateLimit: { perSecond: 5, burst: 250 },
          ...extra,
        },
      ],
      routes: [],
    };
  };

  it("gives deliver every portal's secrets and workers for their rates together", () => {
    const built = buildStack({ configPath: writeConfig(portals()) });
    expect(built.secrets.parameterNames).toEqual([
      "GITHUB_WEBHOOK_SECRET",
      "STRIPE_WEBHOOK_SECRET",
      "BITRIX_MAIN_URL",
      "EU_ID",
      "EU_SECRET",
      "EU_REFRESH",
    ]);
    expect(deliverConcurrency(built.config)).toBe(7);
    Template.fromStack(built).hasResourceProperties("AWS::Lambda::EventSourceMapping", {
      ScalingConfig: { MaximumConcurrency: 7 },
    });
  });

  it("lets the sweeper keep OAuth tokens alive: the token items and the OAuth app's secrets", () => {
    const built = buildStack({ configPath: writeConfig(portals()) });
    const refs = references(built);
    const statements = statementsOfRole(refs.id(built.sweep.role), built);
    expect(statements).toContainEqual({
      Action: ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
      Resource: refs.arn(built.table),
    });
    expect(statements).toContainEqual({
      Action: "ssm:GetParameter",
      Resource: parameterPrefixArn(),
    });
    const variables = Template.fromStack(built).toJSON().Resources[refs.id(built.sweep.fn)]
      .Properties.Environment.Variables as Record<string, unknown>;
    expect(variables.HOOKLINE_SECRET_PREFIX).toBe("/hookline/Hookline/");
  });

  it("names each portal without a target when synth stops", () => {
    const raw = portals();
    const [main] = raw.portals;
    if (main) delete (main as { webhookUrl?: string }).webhookUrl;
    expect(() => buildStack({ configPath: writeConfig(raw) })).toThrow(
      /portals\[0\] \("main"\): webhookUrl or oauth: required on AWS/,
    );
  });

  it("alarms when an OAuth portal's token keep-alive fails: one alarm for all OAuth portals", () => {
    const built = buildStack({ configPath: writeConfig(portals()) });
    // The sweeper counts a failure by Portal and in total; the alarm reads the total.
    Template.fromStack(built).hasResourceProperties("AWS::CloudWatch::Alarm", {
      Namespace: "Hookline",
      MetricName: "OAuthRefreshFailures",
      Dimensions: [{ Name: "service", Value: "hookline" }],
      Threshold: 1,
    });
    const ids = built.monitoring.alarms.map((alarm) => alarm.node.id);
    expect(ids.filter((id) => id.startsWith("OAuthRefreshFailures"))).toEqual([
      "OAuthRefreshFailures",
    ]);
    // Without an OAuth portal, no such alarm.
    expect(stack.monitoring.alarms.map((alarm) => alarm.node.id)).not.toContain(
      "OAuthRefreshFailures",
    );
  });
});

describe("config", () => {
  it("fails synth on a broken config, naming the bad key", () => {
    const configPath = resolve(import.meta.dirname, "fixtures/broken.config.json");
    expect(() => new HooklineStack(testApp(), "Broken", { configPath })).toThrow(
      /broken\.config\.json: routes\[0\]\.source: no source with id "gitlab"/,
    );
  });

  it("fails synth without a Bitrix24 target, unless allowNoTarget is given for a dry run", () => {
    const configPath = writeConfig(fixtureRaw({ webhookUrl: undefined }));
    expect(() => buildStack({ configPath })).toThrow(
      /bitrix\.webhookUrl: required on AWS .* -c allowNoTarget=true/,
    );
    const dryRun = buildStack({ configPath, allowNoTarget: true });
    expect(dryRun.secrets.parameterNames).not.toContain("BITRIX_WEBHOOK_URL");
  });
});

describe("outputs", () => {
  it("prints the webhook URL of every configured source and the health URL", () => {
    for (const [key, source] of [
      ["WebhookUrlgithub", "github"],
      ["WebhookUrlstripe", "stripe"],
      ["WebhookUrlshoporders", "shop-orders"],
    ] as const) {
      template.hasOutput(key, {
        Value: { "Fn::Join": ["", [attribute(stack.api, "ApiEndpoint"), `/webhooks/${source}`]] },
      });
    }
    template.hasOutput("WebhookUrlBase", {
      Value: { "Fn::Join": ["", [attribute(stack.api, "ApiEndpoint"), "/webhooks/"]] },
    });
    template.hasOutput("HealthUrl", {
      Value: { "Fn::Join": ["", [attribute(stack.api, "ApiEndpoint"), "/health"]] },
    });
  });

  it("prints the deliver function's name, the log groups, the table and the dead-letter queue", () => {
    template.hasOutput("DeliverFunctionName", { Value: ref(stack.deliver.fn) });
    template.hasOutput("IngestLogGroup", { Value: ref(stack.ingest.logGroup) });
    template.hasOutput("DeliverLogGroup", { Value: ref(stack.deliver.logGroup) });
    template.hasOutput("SweepLogGroup", { Value: ref(stack.sweep.logGroup) });
    template.hasOutput("TableName", { Value: ref(stack.table) });
    template.hasOutput("DeadLetterQueueUrl", { Value: ref(stack.deadLetterQueue) });
    template.hasOutput("DeadLetterQueueArn", { Value: arn(stack.deadLetterQueue) });
    // The destination of a redrive (aws sqs start-message-move-task --destination-arn).
    template.hasOutput("DeliveryQueueArn", { Value: arn(stack.queue) });
    expect(template.findOutputs("ApiAccessLogGroup")).toEqual({});
  });

  it("prints the alarm topic and the secrets to fill in", () => {
    template.hasOutput("AlarmTopicArn", { Value: ref(stack.monitoring.topic) });
    template.hasOutput("SecretParameterPrefix", { Value: stack.secrets.prefix });
  });
});

describe("cdk.json", () => {
  it("sets every feature flag a new CDK app gets, so synth configures all of them", () => {
    expect(CDK_CONTEXT).toMatchObject(CURRENTLY_RECOMMENDED_FLAGS);
  });
});

const attribute = (construct: Parameters<typeof id>[0], name: string) => ({
  "Fn::GetAtt": [id(construct), name],
});

/** The Allow statements of the policies attached to a role, without the Effect. */
function statementsOfRole(roleId: string, of: HooklineStack = stack): unknown[] {
  const all = Template.fromStack(of).toJSON().Resources as typeof resources;
  const policies = Object.values(all).filter(
    (resource) =>
      resource.Type === "AWS::IAM::Policy" &&
      JSON.stringify(resource.Properties?.Roles) === JSON.stringify([{ Ref: roleId }]),
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

const statementsOf = (fn: HooklineStack["ingest"]) => statementsOfRole(id(fn.role));

type RawConfig = { bitrix: Record<string, unknown>; delivery?: Record<string, unknown> };

/** The fixture config as written, with the bitrix block and, if given, the delivery block replaced. */
function fixtureRaw(
  bitrix: Record<string, unknown>,
  delivery?: Record<string, unknown>,
): RawConfig {
  const raw = JSON.parse(readFileSync(FIXTURE_CONFIG, "utf8")) as RawConfig;
  return { ...raw, bitrix: { ...raw.bitrix, ...bitrix }, ...(delivery && { delivery }) };
}

/** The parsed fixture config with overrides (for functions of the config). */
const fixtureWith = (bitrix: Record<string, unknown>, delivery?: Record<string, unknown>): Config =>
  parseConfig(fixtureRaw(bitrix, delivery));
