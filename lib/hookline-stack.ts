import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  Annotations,
  type CfnElement,
  CfnOutput,
  Duration,
  RemovalPolicy,
  Stack,
  type StackProps,
  Validations,
} from "aws-cdk-lib";
import { AccessLogFormat } from "aws-cdk-lib/aws-apigateway";
import {
  HttpApi,
  HttpMethod,
  type HttpStage,
  LogGroupLogDestination,
} from "aws-cdk-lib/aws-apigatewayv2";
import { HttpLambdaIntegration } from "aws-cdk-lib/aws-apigatewayv2-integrations";
import { AttributeType, BillingMode, ProjectionType, Table } from "aws-cdk-lib/aws-dynamodb";
import { PolicyStatement, Role, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import { ApplicationLogLevel } from "aws-cdk-lib/aws-lambda";
import { SqsEventSource } from "aws-cdk-lib/aws-lambda-event-sources";
import { LogGroup, LogGroupClass, RetentionDays } from "aws-cdk-lib/aws-logs";
import { Schedule, ScheduleExpression } from "aws-cdk-lib/aws-scheduler";
import { LambdaInvoke } from "aws-cdk-lib/aws-scheduler-targets";
import { Queue, QueueEncryption } from "aws-cdk-lib/aws-sqs";
import type { Construct } from "constructs";
import {
  TABLE_INDEXES,
  TABLE_PARTITION_KEY,
  TABLE_TTL_ATTRIBUTE,
} from "../functions/adapters/dynamo/table";
import { DASHBOARD_SERIES_VARIABLE } from "../functions/adapters/telemetry";
import { type Config, loadConfigFile, testWeeks } from "../functions/core/config";
import { type DeliveryTimings, deliveryTimings } from "../functions/core/delivery-timings";
import { ConfigError } from "../functions/core/errors";
import { DEFAULT_PORTAL_ID } from "../functions/core/portals";
import {
  ACCOUNT_CONCURRENCY,
  type ApiThrottle,
  defaultApiThrottle,
  deliverBatchSize,
  deliverConcurrency,
} from "./capacity";
import { HooklineFunction } from "./hookline-function";
import { HooklineMonitoring } from "./monitoring";
import { deliverSecretRefs, HooklineSecrets, ingestSecretRefs, oauthSecretRefs } from "./secrets";
import { INGEST_TABLE_ACTIONS } from "./table-grants";
import { DEFAULT_OTLP_ENDPOINT, type TracingSettings } from "./tracing";

/** The repository root: package-lock.json and the handler entries live there. */
export const PROJECT_ROOT = fileURLToPath(new URL("..", import.meta.url));

/**
 * Sources that each get a `WebhookUrl<source>` output; beyond it only `WebhookUrlBase`, so the
 * stack stays under CloudFormation's 200 outputs
 * (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html).
 */
export const MAX_SOURCE_OUTPUTS = 50;

/** The template's Metadata key for hookline's counts: `{ sources, portals, secretParameters }`. */
export const TEMPLATE_METADATA_KEY = "Hookline";

/** Ingest answers within the senders' ~10 s deadline (GitHub 10 s, Stripe similar), with margin. */
export const INGEST_TIMEOUT = Duration.seconds(8);

/**
 * Memory sizes. Ingest is CPU-bound (signature, parse, render: ~50 µs of a full core per webhook,
 * `npm run bench`): Lambda bills CPU-bound work alike at any size below a full core, so 256 MB buys
 * a 4× shorter cold start than 128 MB for the same money. Deliver and sweep mostly wait on
 * Bitrix24 and DynamoDB, so they get the least memory that holds the bundle with room to spare
 * (node with the bundled handler: ~80 MB resident before the first event).
 */
export const MEMORY_MB = { ingest: 256, deliver: 192, sweep: 192 } as const;

/**
 * hookline's log level on AWS. Every outcome is a DynamoDB record (30 days, `hookline events`),
 * so INFO lines ("webhook accepted", "message outcome") would repeat them at about $1 a month per
 * 2 M messages; warnings and errors, each with its request id, are what an operator reads.
 * `-c logLevel=INFO` brings the INFO lines back.
 */
export const DEFAULT_LOG_LEVEL = ApplicationLogLevel.WARN;

/**
 * How long the event source gathers records before it invokes deliver. At webhook rates (a few
 * messages a second at most) this turns one invocation and one delete per message into one per
 * batch, and a batch's messages go to Bitrix24 side by side; a message waits at most this long more.
 * With a backlog the event source invokes as soon as a batch is full, so it does not slow a drain.
 * A batch size over 10 needs at least 1 s (docs/scale.md, "Deliver's batch size").
 */
export const DELIVER_BATCHING_WINDOW = Duration.seconds(20);

/** The sweeper looks for due digests this often; a digest goes out at most this late. */
export const SWEEP_RATE = Duration.minutes(1);
export const SWEEP_TIMEOUT = Duration.seconds(60);

/**
 * The config keys of portals with nowhere to send: no incoming-webhook URL, and no OAuth app
 * with the portal's address (locally such portals are simulated). A config's single `bitrix`
 * block is the portal `default`.
 */
export const portalsWithoutTarget = (config: Pick<Config, "portals">): string[] =>
  config.portals.flatMap((portal, index) => {
    if (portal.webhookUrl || (portal.oauth && portal.url)) return [];
    if (config.portals.length === 1 && portal.id === DEFAULT_PORTAL_ID)
      return ["bitrix.webhookUrl"];
    return [
      portal.oauth
        ? `portals[${index}] ("${portal.id}").url: the portal's address, for its OAuth app`
        : `portals[${index}] ("${portal.id}"): webhookUrl or oauth`,
    ];
  });

export interface HooklineStackProps extends StackProps {
  /** The config file: validated here (a broken config fails synth) and bundled into the functions. */
  readonly configPath: string;
  /** Subscribed to the alarm topic when given (context `alarmEmail`). */
  readonly alarmEmail?: string | undefined;
  /**
   * Synthesize although the config names no Bitrix24 target (context `allowNoTarget=true`): a dry
   * run only, since deliver then has nowhere to send. Without it such a config fails synth.
   */
  readonly allowNoTarget?: boolean | undefined;
  /**
   * Synthesize a config whose weekSeconds is not Bitrix24's (context `allowTestWeek=true`): for a
   * test stack against a simulator only. Without it such a config fails synth.
   */
  readonly allowTestWeek?: boolean | undefined;
  /**
   * The CloudWatch dashboard (context `dashboard=true`): $3 a month beyond an account's first
   * three. The alarms, which reach someone, do not depend on it. @default false
   */
  readonly dashboard?: boolean | undefined;
  /**
   * HTTP API access logs, one line per request (context `accessLogs`). Ingest's own logs and
   * metrics already record every webhook it sees, and the API's free metrics count 4xx, 5xx and
   * throttling; turn these on to see requests that never reached ingest, with caller IPs.
   * @default false
   */
  readonly accessLogs?: boolean | undefined;
  /**
   * The HTTP API's default-route throttle (context `apiRateLimit`, `apiBurstLimit`); what is not
   * given comes from the config (`defaultApiThrottle`).
   */
  readonly apiThrottle?: Partial<ApiThrottle> | undefined;
  /**
   * The account's Lambda concurrency quota in the stack's region (context `accountConcurrency`),
   * shared by ingest and deliver (`deliverConcurrency`). @default ACCOUNT_CONCURRENCY (1,000)
   */
  readonly accountConcurrency?: number | undefined;
  /**
   * Customer-managed KMS keys that encrypt secrets named by `secretsmanager:` references
   * (context `secretsKmsKeyArns`, comma-separated): the functions get kms:Decrypt on them,
   * through Secrets Manager only.
   */
  readonly secretsKmsKeyArns?: readonly string[] | undefined;
  /** Lowest level of hookline's log lines kept (context `logLevel`). @default DEFAULT_LOG_LEVEL */
  readonly logLevel?: ApplicationLogLevel | undefined;
  /**
   * OpenTelemetry traces, one per webhook event (context `tracing=true`, `otlpEndpoint`;
   * docs/tracing.md). @default off
   */
  readonly tracing?: TracingSettings | undefined;
}

/**
 * hookline on AWS: HTTP API → ingest → SQS (with a dead-letter queue) → deliver → Bitrix24, a
 * sweeper every minute for due digests, one DynamoDB table, Secrets Manager for the config's
 * secret references, alarms and a dashboard.
 */
export class HooklineStack extends Stack {
  readonly config: Config;
  readonly timings: DeliveryTimings;
  readonly table: Table;
  readonly queue: Queue;
  readonly deadLetterQueue: Queue;
  readonly api: HttpApi;
  readonly stage: HttpStage;
  readonly ingest: HooklineFunction;
  readonly deliver: HooklineFunction;
  /** Records per deliver invocation (`deliverBatchSize`, docs/scale.md). */
  readonly deliverBatchSize: number;
  readonly sweep: HooklineFunction;
  readonly sweepSchedule: Schedule;
  readonly monitoring: HooklineMonitoring;
  readonly secrets: HooklineSecrets;
  readonly accessLogs: LogGroup | undefined;
  readonly apiThrottle: ApiThrottle;

  constructor(scope: Construct, id: string, props: HooklineStackProps) {
    super(scope, id, props);
    const configPath = resolve(props.configPath);
    this.config = loadConfigFile(configPath);
    const config = this.config;
    const untargeted = portalsWithoutTarget(config);
    if (untargeted.length > 0 && !props.allowNoTarget) {
      throw new ConfigError(
        `${props.configPath}: ${untargeted.join("; ")}: required on AWS (e.g. "env:BITRIX_WEBHOOK_URL"), or deliver has no portal to send to; for a dry run, synth with -c allowNoTarget=true`,
      );
    }
    const testWeeksFound = testWeeks(config);
    if (testWeeksFound.length > 0 && !props.allowTestWeek) {
      throw new ConfigError(
        `${props.configPath}: ${testWeeksFound.map((week) => `${week.key}: ${week.message}`).join("; ")} (Bitrix24's week is 604800 s; remove weekSeconds)`,
      );
    }
    this.timings = deliveryTimings(config);
    const timings = this.timings;
    this.apiThrottle = { ...defaultApiThrottle(config), ...props.apiThrottle };

    this.table = new Table(this, "Table", {
      partitionKey: { name: TABLE_PARTITION_KEY, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: TABLE_TTL_ATTRIBUTE,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // The indexes as the table module defines them (functions/adapters/dynamo/table.ts), the
    // same definitions `ensureTable` creates locally: due and digest are sparse (deferred events
    // only), events holds every outcome's own fields; due and events are sharded by job id.
    const { due, digest } = TABLE_INDEXES;
    for (const index of Object.values(TABLE_INDEXES)) {
      this.table.addGlobalSecondaryIndex({
        indexName: index.indexName,
        partitionKey: { name: index.partitionKey, type: AttributeType.STRING },
        sortKey: { name: index.sortKey, type: AttributeType.NUMBER },
        ...(index.include.length > 0
          ? { projectionType: ProjectionType.INCLUDE, nonKeyAttributes: [...index.include] }
          : { projectionType: ProjectionType.KEYS_ONLY }),
      });
    }

    this.deadLetterQueue = new Queue(this, "DeadLetterQueue", {
      retentionPeriod: Duration.seconds(timings.deadLetterRetentionSeconds),
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    this.queue = new Queue(this, "DeliveryQueue", {
      visibilityTimeout: Duration.seconds(timings.visibilityTimeoutSeconds),
      retentionPeriod: Duration.seconds(timings.queueRetentionSeconds),
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // Deliver gives up by time and moves the message itself, its outcome recorded first; this
      // receive count is only the net for a message that crashes its handler every time.
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: timings.maxReceiveCount },
    });

    const ingestRefs = ingestSecretRefs(config);
    const deliverRefs = deliverSecretRefs(config);
    this.secrets = new HooklineSecrets(this, "Secrets", {
      refs: [...ingestRefs, ...deliverRefs],
      kmsKeyArns: props.secretsKmsKeyArns,
    });

    const common = {
      configPath,
      projectRoot: PROJECT_ROOT,
      logLevel: props.logLevel ?? DEFAULT_LOG_LEVEL,
      environment: {
        HOOKLINE_TABLE: this.table.tableName,
        HOOKLINE_QUEUE_URL: this.queue.queueUrl,
      },
    };
    const tableArn = this.table.tableArn;
    const onTable = (...actions: string[]) =>
      new PolicyStatement({ actions: actions.map((a) => `dynamodb:${a}`), resources: [tableArn] });
    const queryIndex = (indexName: string) =>
      new PolicyStatement({
        actions: ["dynamodb:Query"],
        resources: [`${tableArn}/index/${indexName}`],
      });

    this.ingest = new HooklineFunction(this, "Ingest", {
      ...common,
      entry: resolve(PROJECT_ROOT, "functions/ingest/handler.ts"),
      description: "hookline: verifies webhooks and queues the messages they ask for",
      timeout: INGEST_TIMEOUT,
      memorySize: MEMORY_MB.ingest,
      tracing: props.tracing,
    });
    // Receipts (one conditional put each, never deleted), outcomes of failed renders (a
    // conditional put); a duplicate reads its jobs' outcomes (docs/ingest-receipts.md), several
    // in one BatchGetItem.
    this.ingest.fn.addToRolePolicy(onTable(...INGEST_TABLE_ACTIONS));
    this.queue.grant(this.ingest.fn, "sqs:SendMessage");
    this.secrets.grantTo(this.ingest.fn, ingestRefs);

    this.deliver = new HooklineFunction(this, "Deliver", {
      ...common,
      entry: resolve(PROJECT_ROOT, "functions/deliver/handler.ts"),
      description:
        "hookline: sends queued messages and digests to Bitrix24 under the weekly and rate limits",
      timeout: Duration.seconds(timings.deliverTimeoutSeconds),
      memorySize: MEMORY_MB.deliver,
      tracing: props.tracing,
    });
    this.deliver.fn.addEnvironment("HOOKLINE_DEAD_LETTER_QUEUE_URL", this.deadLetterQueue.queueUrl);
    // The series only the dashboard reads (messages sent, deferred, notified; delivery latency)
    // are written only where there is one: each costs $0.30 a month (docs/alarms.md).
    if (props.dashboard) this.deliver.fn.addEnvironment(DASHBOARD_SERIES_VARIABLE, "true");
    // Slots, the shared rate limiter, outcomes and digests (a flush reads its events by key).
    this.deliver.fn.addToRolePolicy(onTable("GetItem", "BatchGetItem", "PutItem", "UpdateItem"));
    this.deliver.fn.addToRolePolicy(queryIndex(digest.indexName));
    // Backoff: a record's visibility is set before it is reported as failed.
    this.queue.grant(this.deliver.fn, "sqs:ChangeMessageVisibility");
    // An exhausted retry window: the outcome is recorded, then deliver moves the message itself.
    this.deadLetterQueue.grant(this.deliver.fn, "sqs:SendMessage");
    const concurrency = deliverConcurrency(
      config,
      this.apiThrottle,
      props.accountConcurrency ?? ACCOUNT_CONCURRENCY,
    );
    this.deliverBatchSize = deliverBatchSize(config, concurrency);
    this.deliver.fn.addEventSource(
      new SqsEventSource(this.queue, {
        batchSize: this.deliverBatchSize,
        maxBatchingWindow: DELIVER_BATCHING_WINDOW,
        reportBatchItemFailures: true,
        maxConcurrency: concurrency,
      }),
    );
    this.secrets.grantTo(this.deliver.fn, deliverRefs);

    if (props.tracing && !props.tracing.otlpEndpoint) {
      Annotations.of(this).addWarningV2(
        "hookline:tracingCollector",
        `tracing: spans go to ${DEFAULT_OTLP_ENDPOINT}, where only a collector extension layer listens; without one they are dropped. Set -c otlpEndpoint=<collector URL> or add the layer (docs/tracing.md)`,
      );
    }

    this.sweep = new HooklineFunction(this, "Sweep", {
      ...common,
      entry: resolve(PROJECT_ROOT, "functions/sweep/handler.ts"),
      description: "hookline: queues one flush job per user whose weekly digest is due",
      timeout: SWEEP_TIMEOUT,
      memorySize: MEMORY_MB.sweep,
    });
    this.sweep.fn.addToRolePolicy(queryIndex(due.indexName));
    const oauthRefs = oauthSecretRefs(config);
    if (oauthRefs.length === 0) {
      // Marks a flush as queued on the slot item, so the next sweep does not queue it again.
      this.sweep.fn.addToRolePolicy(onTable("UpdateItem"));
    } else {
      // Also keeps OAuth apps' tokens alive: reads, refreshes and stores each portal's tokens.
      this.sweep.fn.addToRolePolicy(onTable("GetItem", "PutItem", "UpdateItem"));
      this.secrets.grantTo(this.sweep.fn, oauthRefs);
    }
    this.queue.grant(this.sweep.fn, "sqs:SendMessage");
    // A missed minute is made up by the next one: no retries that could pile up behind it.
    this.sweep.fn.configureAsyncInvoke({ retryAttempts: 0, maxEventAge: SWEEP_RATE });
    // EventBridge Scheduler rather than a scheduled rule: its own retry policy and event age
    // (none and one minute here), a role scoped to this one function, and an operator can pause
    // it (aws scheduler update-schedule --state DISABLED) without touching the stack's resources.
    const scheduleRole = new Role(this, "SweepScheduleRole", {
      assumedBy: new ServicePrincipal("scheduler.amazonaws.com", {
        conditions: { StringEquals: { "aws:SourceAccount": this.account } },
      }),
      description: "hookline: lets the sweep schedule invoke the sweep function",
    });
    this.sweepSchedule = new Schedule(this, "SweepSchedule", {
      description: "hookline: look for due weekly digests",
      schedule: ScheduleExpression.rate(SWEEP_RATE),
      target: new LambdaInvoke(this.sweep.fn, {
        role: scheduleRole,
        retryAttempts: 0,
        maxEventAge: SWEEP_RATE,
      }),
    });
    const sweepId = this.getLogicalId(this.sweep.fn.node.defaultChild as CfnElement);
    Validations.of(scheduleRole).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${sweepId}.Arn>:*]`,
      reason:
        "The schedule may invoke the sweep function only; CDK's grantInvoke adds that function's own versions and aliases (<function ARN>:*), nothing else.",
    });

    this.api = new HttpApi(this, "Api", {
      description: "hookline webhooks",
      createDefaultStage: false,
    });
    if (props.accessLogs) {
      this.accessLogs = new LogGroup(this, "ApiAccessLogs", {
        retention: RetentionDays.ONE_MONTH,
        // Read with Logs Insights only: half the ingestion price of the standard class.
        logGroupClass: LogGroupClass.INFREQUENT_ACCESS,
        removalPolicy: RemovalPolicy.RETAIN,
      });
    }
    this.stage = this.api.addStage("DefaultStage", {
      stageName: "$default",
      autoDeploy: true,
      throttle: this.apiThrottle,
      ...(this.accessLogs && {
        accessLogSettings: {
          destination: new LogGroupLogDestination(this.accessLogs),
          format: AccessLogFormat.custom(
            JSON.stringify({
              requestId: "$context.requestId",
              ip: "$context.identity.sourceIp",
              requestTime: "$context.requestTime",
              routeKey: "$context.routeKey",
              path: "$context.path",
              status: "$context.status",
              responseLength: "$context.responseLength",
              latencyMs: "$context.responseLatency",
              integrationStatus: "$context.integration.status",
              integrationError: "$context.integrationErrorMessage",
            }),
          ),
        },
      }),
    });
    if (!this.accessLogs) {
      Validations.of(this.stage).acknowledge({
        id: "AwsSolutions-APIG1",
        reason:
          "Access logs are optional (context accessLogs=true): ingest logs and counts every webhook it receives, by source, and the API's own metrics count requests, 4xx (throttling included) and 5xx; a line per request would be a tenth of the monthly bill at 10 M webhooks.",
      });
    }
    const integration = new HttpLambdaIntegration("Ingest", this.ingest.fn);
    const routes = [
      ...this.api.addRoutes({
        path: "/webhooks/{sourceId}",
        methods: [HttpMethod.POST],
        integration,
      }),
      ...this.api.addRoutes({ path: "/health", methods: [HttpMethod.GET], integration }),
    ];
    for (const route of routes) {
      Validations.of(route).acknowledge({
        id: "AwsSolutions-APIG4",
        reason:
          "Webhook senders (Stripe, GitHub, Standard Webhooks, HMAC) cannot present AWS or JWT credentials; ingest authenticates every webhook by its signature over the raw body. /health is public by design and reveals nothing.",
      });
    }

    this.monitoring = new HooklineMonitoring(this, "Monitoring", {
      api: this.api,
      apiThrottle: this.apiThrottle,
      ingest: this.ingest.fn,
      deliver: this.deliver.fn,
      sweep: this.sweep.fn,
      queue: this.queue,
      deadLetterQueue: this.deadLetterQueue,
      table: this.table,
      indexNames: Object.values(TABLE_INDEXES).map((index) => index.indexName),
      deliverLogGroup: this.deliver.logGroup,
      queueAgeAlarmSeconds: timings.queueAgeAlarmSeconds,
      maxBackoffSeconds: timings.maxBackoffMs / 1000,
      sourceIds: config.sources.map((source) => source.id),
      weeklyLimit: config.portals.every((portal) => portal.weeklyLimit),
      portalIds: config.portals.map((portal) => portal.id),
      oauthPortals: config.portals.filter((portal) => portal.oauth).map((portal) => portal.id),
      alarmEmail: props.alarmEmail,
      dashboard: props.dashboard ?? false,
    });

    this.outputs();
    // What a template reader (npm run cost) cannot count otherwise: the outputs per source stop
    // at MAX_SOURCE_OUTPUTS, and parameters are not resources.
    this.templateOptions.metadata = {
      ...this.templateOptions.metadata,
      [TEMPLATE_METADATA_KEY]: {
        sources: config.sources.length,
        portals: config.portals.length,
        secretParameters: this.secrets.parameterNames.length,
      },
    };
  }

  private outputs() {
    new CfnOutput(this, "WebhookUrlBase", {
      description: "Each source's webhook URL is this followed by the source's id",
      value: `${this.api.apiEndpoint}/webhooks/`,
    });
    // One output per source while they are few: CloudFormation allows 200 outputs a stack.
    if (this.config.sources.length <= MAX_SOURCE_OUTPUTS) {
      const outputIds = new Set<string>();
      this.config.sources.forEach((source, index) => {
        let outputId = `WebhookUrl${source.id.replace(/[^A-Za-z0-9]/g, "")}`;
        if (outputIds.has(outputId)) outputId = `${outputId}${index}`;
        outputIds.add(outputId);
        new CfnOutput(this, outputId, {
          description: `Webhook URL for source "${source.id}" (${source.type}): give it to the sender`,
          value: `${this.api.apiEndpoint}/webhooks/${source.id}`,
        });
      });
    }
    new CfnOutput(this, "HealthUrl", {
      description: "GET answers 200 when the API and ingest are up",
      value: `${this.api.apiEndpoint}/health`,
    });
    if (this.monitoring.dashboard) {
      new CfnOutput(this, "DashboardUrl", {
        description: "CloudWatch dashboard",
        value: this.monitoring.dashboardUrl,
      });
    }
    new CfnOutput(this, "AlarmTopicArn", {
      description: "SNS topic every alarm notifies; subscribe more endpoints to it",
      value: this.monitoring.topic.topicArn,
    });
    new CfnOutput(this, "DeliverFunctionName", {
      description:
        "aws lambda update-function-configuration --function-name <this> --description ... starts fresh instances (new secret values)",
      value: this.deliver.fn.functionName,
    });
    const logGroups: Array<[string, LogGroup | undefined]> = [
      ["IngestLogGroup", this.ingest.logGroup],
      ["DeliverLogGroup", this.deliver.logGroup],
      ["SweepLogGroup", this.sweep.logGroup],
      ["ApiAccessLogGroup", this.accessLogs],
    ];
    for (const [outputId, logGroup] of logGroups) {
      if (logGroup) new CfnOutput(this, outputId, { value: logGroup.logGroupName });
    }
    new CfnOutput(this, "TableName", { value: this.table.tableName });
    new CfnOutput(this, "DeadLetterQueueUrl", { value: this.deadLetterQueue.queueUrl });
    new CfnOutput(this, "DeliveryQueueUrl", {
      description:
        "The delivery queue (hookline replay --event puts one event's dead letters back here)",
      value: this.queue.queueUrl,
    });
    new CfnOutput(this, "DeadLetterQueueArn", { value: this.deadLetterQueue.queueArn });
    new CfnOutput(this, "DeliveryQueueArn", {
      description:
        "The delivery queue: the --destination-arn of aws sqs start-message-move-task (docs/alarms.md)",
      value: this.queue.queueArn,
    });
  }
}
