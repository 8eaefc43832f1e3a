import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  Annotations,
  CfnOutput,
  Duration,
  RemovalPolicy,
  Stack,
  type StackProps,
  Validations,
} from "aws-cdk-lib";
import { AccessLogFormat } from "aws-cdk-lib/aws-apigateway";
import { HttpApi, HttpMethod, LogGroupLogDestination } from "aws-cdk-lib/aws-apigatewayv2";
import { HttpLambdaIntegration } from "aws-cdk-lib/aws-apigatewayv2-integrations";
import { AttributeType, BillingMode, Table } from "aws-cdk-lib/aws-dynamodb";
import { SqsEventSource } from "aws-cdk-lib/aws-lambda-event-sources";
import { LogGroup, RetentionDays } from "aws-cdk-lib/aws-logs";
import { Queue, QueueEncryption } from "aws-cdk-lib/aws-sqs";
import type { Construct } from "constructs";
import { TABLE_PARTITION_KEY, TABLE_TTL_ATTRIBUTE } from "../functions/adapters/dynamo/table";
import { type Config, loadConfigFile } from "../functions/core/config";
import { HooklineFunction } from "./hookline-function";
import { HooklineMonitoring } from "./monitoring";
import { deliverSecretRefs, HooklineSecrets, ingestSecretRefs } from "./secrets";

/** The repository root: package-lock.json and the handler entries live there. */
export const PROJECT_ROOT = fileURLToPath(new URL("..", import.meta.url));

/** HTTP API default-route throttle; far above webhook traffic, low enough to cap a flood's cost. */
export const API_THROTTLE = { rateLimit: 50, burstLimit: 100 } as const;

/** Ingest answers within the senders' ~10 s deadline (GitHub 10 s, Stripe similar), with margin. */
export const INGEST_TIMEOUT = Duration.seconds(8);

/** Records per deliver invocation: small, so one slow Bitrix24 call delays few others. */
export const DELIVER_BATCH_SIZE = 5;

/** SQS event-source mappings allow 2 concurrent invocations at the least. */
const MIN_EVENT_SOURCE_CONCURRENCY = 2;

/**
 * Deliver's timeout. A batch's records run side by side but queue behind the shared rate limiter,
 * so budget for them one after another: a Bitrix24 call of up to `bitrix.timeoutMs` each, plus
 * 30 s for cold start, slot writes and backoff bookkeeping; at least 60 s.
 */
export const deliverTimeout = (config: Config): Duration =>
  Duration.seconds(
    Math.min(
      900,
      Math.max(60, Math.ceil((DELIVER_BATCH_SIZE * config.bitrix.timeoutMs) / 1000) + 30),
    ),
  );

/**
 * Concurrent deliver invocations: enough workers to use the portal's rate (a call takes a few
 * hundred ms, so one sequential worker makes about 2 calls/s), never more than the rate needs.
 * The DynamoDB rate limiter, shared by all workers, keeps the sum under the leaky bucket;
 * bounding concurrency keeps workers from spinning on the limiter.
 */
export const deliverConcurrency = (config: Config): number =>
  Math.max(MIN_EVENT_SOURCE_CONCURRENCY, Math.ceil(config.bitrix.rateLimit.perSecond));

export interface HooklineStackProps extends StackProps {
  /** The config file: validated here (a broken config fails synth) and bundled into both functions. */
  readonly configPath: string;
  /** Subscribed to the alarm topic when given (context `alarmEmail`). */
  readonly alarmEmail?: string | undefined;
}

/**
 * hookline on AWS: HTTP API → ingest → SQS (with a dead-letter queue) → deliver → Bitrix24,
 * one DynamoDB table, Secrets Manager for the config's secret references, alarms and a dashboard.
 */
export class HooklineStack extends Stack {
  readonly config: Config;
  readonly table: Table;
  readonly queue: Queue;
  readonly deadLetterQueue: Queue;
  readonly api: HttpApi;
  readonly ingest: HooklineFunction;
  readonly deliver: HooklineFunction;
  readonly monitoring: HooklineMonitoring;
  readonly secrets: HooklineSecrets;
  readonly accessLogs: LogGroup;

  constructor(scope: Construct, id: string, props: HooklineStackProps) {
    super(scope, id, props);
    const configPath = resolve(props.configPath);
    this.config = loadConfigFile(configPath);
    const config = this.config;
    if (!config.bitrix.webhookUrl && !config.bitrix.auth) {
      Annotations.of(this).addWarningV2(
        "hookline:noBitrix24Target",
        `${props.configPath} sets neither bitrix.webhookUrl nor bitrix.auth: deliver has no portal to send to on AWS.`,
      );
    }

    this.table = new Table(this, "Table", {
      partitionKey: { name: TABLE_PARTITION_KEY, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: TABLE_TTL_ATTRIBUTE,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const deliverTimeoutSeconds = deliverTimeout(config).toSeconds();

    this.deadLetterQueue = new Queue(this, "DeadLetterQueue", {
      retentionPeriod: Duration.days(14),
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    this.queue = new Queue(this, "DeliveryQueue", {
      // AWS guidance for Lambda event sources: at least six times the function timeout.
      visibilityTimeout: Duration.seconds(6 * deliverTimeoutSeconds),
      retentionPeriod: Duration.days(4),
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      deadLetterQueue: {
        queue: this.deadLetterQueue,
        maxReceiveCount: config.delivery.maxReceives,
      },
    });

    const ingestRefs = ingestSecretRefs(config);
    const deliverRefs = deliverSecretRefs(config);
    this.secrets = new HooklineSecrets(this, "Secrets", { refs: [...ingestRefs, ...deliverRefs] });

    const common = {
      configPath,
      projectRoot: PROJECT_ROOT,
      environment: {
        HOOKLINE_TABLE: this.table.tableName,
        HOOKLINE_QUEUE_URL: this.queue.queueUrl,
      },
    };

    this.ingest = new HooklineFunction(this, "Ingest", {
      ...common,
      entry: resolve(PROJECT_ROOT, "functions/ingest/handler.ts"),
      description: "hookline: verifies webhooks and queues the messages they ask for",
      timeout: INGEST_TIMEOUT,
      memorySize: 512,
    });
    // Receipts (conditional put; deleted again when queueing fails) and outcome records.
    this.table.grant(this.ingest.fn, "dynamodb:PutItem", "dynamodb:DeleteItem");
    this.queue.grant(this.ingest.fn, "sqs:SendMessage");
    this.secrets.grantTo(this.ingest.fn, ingestRefs);

    this.deliver = new HooklineFunction(this, "Deliver", {
      ...common,
      entry: resolve(PROJECT_ROOT, "functions/deliver/handler.ts"),
      description: "hookline: sends queued messages to Bitrix24 under the weekly and rate limits",
      timeout: Duration.seconds(deliverTimeoutSeconds),
      memorySize: 512,
    });
    // Weekly slots (claim, confirm, release), the shared rate limiter, outcome records.
    this.table.grant(
      this.deliver.fn,
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:UpdateItem",
      "dynamodb:DeleteItem",
    );
    // Backoff: a failed record's visibility is extended before it is reported as failed.
    this.queue.grant(this.deliver.fn, "sqs:ChangeMessageVisibility");
    this.deliver.fn.addEventSource(
      new SqsEventSource(this.queue, {
        batchSize: DELIVER_BATCH_SIZE,
        reportBatchItemFailures: true,
        maxConcurrency: deliverConcurrency(config),
      }),
    );
    this.secrets.grantTo(this.deliver.fn, deliverRefs);

    this.accessLogs = new LogGroup(this, "ApiAccessLogs", {
      retention: RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.api = new HttpApi(this, "Api", {
      description: "hookline webhooks",
      createDefaultStage: false,
    });
    this.api.addStage("DefaultStage", {
      stageName: "$default",
      autoDeploy: true,
      throttle: API_THROTTLE,
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
    });
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
      ingest: this.ingest.fn,
      deliver: this.deliver.fn,
      queue: this.queue,
      deadLetterQueue: this.deadLetterQueue,
      sourceIds: config.sources.map((source) => source.id),
      alarmEmail: props.alarmEmail,
    });

    const outputIds = new Set<string>();
    config.sources.forEach((source, index) => {
      let outputId = `WebhookUrl${source.id.replace(/[^A-Za-z0-9]/g, "")}`;
      if (outputIds.has(outputId)) outputId = `${outputId}${index}`;
      outputIds.add(outputId);
      new CfnOutput(this, outputId, {
        description: `Webhook URL for source "${source.id}" (${source.type}): give it to the sender`,
        value: `${this.api.apiEndpoint}/webhooks/${source.id}`,
      });
    });
    new CfnOutput(this, "DashboardUrl", {
      description: "CloudWatch dashboard",
      value: this.monitoring.dashboardUrl,
    });
    new CfnOutput(this, "AlarmTopicArn", {
      description: "SNS topic every alarm notifies; subscribe more endpoints to it",
      value: this.monitoring.topic.topicArn,
    });
    new CfnOutput(this, "TableName", { value: this.table.tableName });
    new CfnOutput(this, "DeadLetterQueueUrl", { value: this.deadLetterQueue.queueUrl });
    new CfnOutput(this, "DeadLetterQueueArn", { value: this.deadLetterQueue.queueArn });
  }
}
