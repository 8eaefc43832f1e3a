import { ArnFormat, Duration, Stack, Validations } from "aws-cdk-lib";
import type { HttpApi } from "aws-cdk-lib/aws-apigatewayv2";
import {
  Alarm,
  AlarmStatusWidget,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IMetric,
  MathExpression,
  Metric,
  SingleValueWidget,
  TreatMissingData,
} from "aws-cdk-lib/aws-cloudwatch";
import { SnsAction } from "aws-cdk-lib/aws-cloudwatch-actions";
import type { Table } from "aws-cdk-lib/aws-dynamodb";
import { PolicyStatement, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import type { IFunction } from "aws-cdk-lib/aws-lambda";
import { Topic } from "aws-cdk-lib/aws-sns";
import { EmailSubscription } from "aws-cdk-lib/aws-sns-subscriptions";
import type { IQueue } from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import {
  METRICS_NAMESPACE,
  METRICS_SERVICE,
  Metric as MetricName,
} from "../functions/core/metrics";
import { OUTCOMES } from "../functions/core/outcome";

/**
 * Alarm thresholds; the README ("Alarms and what to do when they fire") explains each and what to
 * do when it fires. Rates are percent of the period's requests or invocations; below
 * `RATE_FLOOR` of them a rate counts errors against the floor instead, so one blip at low traffic
 * does not page and a total failure at low traffic still does.
 */
export const ALARM_THRESHOLDS = {
  /** Messages waiting in the dead-letter queue (stays in alarm until it is drained). */
  deadLetterMessages: 1,
  /** Messages that arrived in the dead-letter queue in one minute (fires again on each new one). */
  deadLetterArrivals: 1,
  /** Deliver invocations that failed as a whole (crash, timeout), % of invocations in 5 minutes. */
  deliverErrorRate: 5,
  /** Ingest invocations that crashed or timed out, % of invocations in 5 minutes. */
  ingestErrorRate: 5,
  /** HTTP API 5xx answers, % of requests in 5 minutes (ours only: store or queue down, a bug). */
  api5xxRate: 5,
  /** HTTP API 4xx answers (bad or unsigned requests, unknown sources, 429 throttling), %. */
  api4xxRate: 10,
  /** Requests per second over one minute, as a share of the stage's throttle rate. */
  apiNearThrottle: 0.8,
  /** DynamoDB read and write throttle events in 5 minutes (the SDK retries them, at a cost in time). */
  dynamoThrottles: 10,
  /** Failed sweeper runs in 5 minutes (one run a minute): due digests are not going out. */
  sweepErrors: 3,
  /** Rejected signatures from one source in 5 minutes: a wrong secret or someone probing. */
  signatureFailures: 10,
  /** Bitrix24 CODE_ERROR, NOT_FOUND or auth errors in 5 minutes. */
  bitrixConfigFaults: 1,
  /** Messages that may or may not have reached their user, in 5 minutes. */
  unknownOutcomes: 1,
  /** Failed keep-alive refreshes of one OAuth portal's tokens in 5 minutes. */
  oauthRefreshFailures: 1,
} as const;

/** Requests or invocations in 5 minutes below which a rate alarm counts against this floor. */
export const RATE_FLOOR = 100;

const PERIOD = Duration.minutes(5);
const MINUTE = Duration.minutes(1);

export interface HooklineMonitoringProps {
  readonly api: HttpApi;
  readonly apiThrottle: { readonly rateLimit: number };
  readonly ingest: IFunction;
  readonly deliver: IFunction;
  readonly sweep: IFunction;
  readonly queue: IQueue;
  readonly deadLetterQueue: IQueue;
  readonly table: Table;
  /** `deliveryTimings(config).queueAgeAlarmSeconds`: follows from the retry window. */
  readonly queueAgeAlarmSeconds: number;
  /** Source ids from the config: one signature-failure alarm and graph line each. */
  readonly sourceIds: readonly string[];
  /** Every portal has the weekly limit: words the UnknownOutcomes alarm's description. */
  readonly weeklyLimit: boolean;
  /** Ids of the portals that are OAuth apps: one token keep-alive alarm each. */
  readonly oauthPortals?: readonly string[] | undefined;
  /** Subscribed to the alarm topic when given. */
  readonly alarmEmail?: string | undefined;
  /** The CloudWatch dashboard ($3 a month). */
  readonly dashboard: boolean;
}

/**
 * The alarms (each notifying one SNS topic, on alarm and on recovery) and, optionally, a dashboard
 * with the same figures: queues, functions, the HTTP API, the table and hookline's own
 * embedded-metric-format metrics (namespace Hookline, dimension service=hookline).
 */
export class HooklineMonitoring extends Construct {
  readonly topic: Topic;
  readonly dashboard: Dashboard | undefined;
  readonly alarms: Alarm[] = [];

  constructor(scope: Construct, id: string, props: HooklineMonitoringProps) {
    super(scope, id);
    const stack = Stack.of(this);

    this.topic = new Topic(this, "AlarmTopic", {
      displayName: "hookline alarms",
      enforceSSL: true,
    });
    // enforceSSL gives the topic a policy, and a topic policy replaces SNS's default one: without
    // this Allow, CloudWatch may not publish and no alarm would ever reach anyone.
    this.topic.addToResourcePolicy(
      new PolicyStatement({
        sid: "AllowCloudWatchAlarms",
        principals: [new ServicePrincipal("cloudwatch.amazonaws.com")],
        actions: ["sns:Publish"],
        resources: [this.topic.topicArn],
        conditions: {
          StringEquals: { "aws:SourceAccount": stack.account },
          ArnLike: {
            "aws:SourceArn": stack.formatArn({
              service: "cloudwatch",
              resource: "alarm",
              resourceName: "*",
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          },
        },
      }),
    );
    Validations.of(this.topic).acknowledge({
      id: "AwsSolutions-SNS2",
      reason:
        "The topic carries only CloudWatch alarm state changes (no payloads or secrets). CloudWatch cannot publish to a topic encrypted with the AWS-managed SNS key, and a customer-managed KMS key per deployment is not worth it for alarm notices.",
    });
    if (props.alarmEmail) this.topic.addSubscription(new EmailSubscription(props.alarmEmail));

    const custom = (name: string, dimensions: Record<string, string> = {}, statistic = "Sum") =>
      new Metric({
        namespace: METRICS_NAMESPACE,
        metricName: name,
        dimensionsMap: { service: METRICS_SERVICE, ...dimensions },
        statistic,
        period: PERIOD,
      });
    const sum = { period: PERIOD, statistic: "Sum" } as const;

    const deadLetterVisible = props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
      period: MINUTE,
      statistic: "Maximum",
    });
    const oldestAge = props.queue.metricApproximateAgeOfOldestMessage({
      period: PERIOD,
      statistic: "Maximum",
    });
    const apiRequests = props.api.metricCount(sum);
    const api4xx = props.api.metricClientError(sum);
    const api5xx = props.api.metricServerError(sum);
    const tableThrottles = ["ReadThrottleEvents", "WriteThrottleEvents"].map((name) =>
      props.table.metric(name, sum),
    );
    const signatureFailures = props.sourceIds.map((source) => ({
      source,
      metric: custom(MetricName.SignatureFailures, { Source: source }),
    }));
    const configFaults = custom(MetricName.BitrixConfigFaults);
    const messages = OUTCOMES.map((outcome) => ({
      outcome,
      metric: custom(MetricName.Messages, { Outcome: outcome }),
    }));

    this.alarm("DeadLetterQueueNotEmpty", deadLetterVisible, ALARM_THRESHOLDS.deadLetterMessages, {
      description:
        "Messages wait in the dead-letter queue: their retry window ran out (outcome recorded) or they crashed deliver every time.",
    });
    this.alarm(
      "DeadLetterArrivals",
      new MathExpression({
        // Deliver moves a message itself (SendMessage); SQS's own redrive shows only as growth.
        expression: "FILL(sent, 0) + IF(DIFF(visible) > 0, DIFF(visible), 0)",
        usingMetrics: {
          sent: props.deadLetterQueue.metricNumberOfMessagesSent({
            period: MINUTE,
            statistic: "Sum",
          }),
          visible: deadLetterVisible,
        },
        period: MINUTE,
        label: "new dead letters",
      }),
      ALARM_THRESHOLDS.deadLetterArrivals,
      {
        description:
          "More messages reached the dead-letter queue (notifies on each new arrival, also while DeadLetterQueueNotEmpty is in alarm).",
      },
    );
    this.alarm(
      "DeliverErrorRate",
      rate(props.deliver.metricErrors(sum), props.deliver.metricInvocations(sum), "deliver errors"),
      ALARM_THRESHOLDS.deliverErrorRate,
      { description: "Deliver invocations fail as a whole (crash or timeout), not one message." },
    );
    this.alarm(
      "IngestErrorRate",
      rate(props.ingest.metricErrors(sum), props.ingest.metricInvocations(sum), "ingest errors"),
      ALARM_THRESHOLDS.ingestErrorRate,
      { description: "The ingest function crashes or times out; senders get 5xx." },
    );
    this.alarm("Ingest5xxRate", rate(api5xx, apiRequests, "5xx"), ALARM_THRESHOLDS.api5xxRate, {
      description: "The webhook endpoint answers 5xx: table or queue unavailable, or a bug.",
    });
    this.alarm("Api4xxRate", rate(api4xx, apiRequests, "4xx"), ALARM_THRESHOLDS.api4xxRate, {
      description:
        "Many webhooks are refused (400/401/404/413, or 429 from the throttle, which GitHub does not retry).",
    });
    this.alarm(
      "ApiNearThrottle",
      new MathExpression({
        expression: "requests / PERIOD(requests)",
        usingMetrics: { requests: props.api.metricCount({ period: MINUTE, statistic: "Sum" }) },
        period: MINUTE,
        label: "requests per second",
      }),
      ALARM_THRESHOLDS.apiNearThrottle * props.apiThrottle.rateLimit,
      {
        description: `Webhooks arrive at over ${ALARM_THRESHOLDS.apiNearThrottle * 100} % of the API throttle (${props.apiThrottle.rateLimit}/s); above it senders get 429.`,
      },
    );
    this.alarm(
      "DynamoDbThrottles",
      new MathExpression({
        expression: "FILL(reads, 0) + FILL(writes, 0)",
        usingMetrics: { reads: tableThrottles[0] as IMetric, writes: tableThrottles[1] as IMetric },
        period: PERIOD,
        label: "throttle events",
      }),
      ALARM_THRESHOLDS.dynamoThrottles,
      { description: "DynamoDB throttles the table; every step slows down and may time out." },
    );
    this.alarm("QueueAgeHigh", oldestAge, props.queueAgeAlarmSeconds, {
      description:
        "The oldest queued message waits too long: Bitrix24 down, slow or throttling, or deliver keeps failing.",
    });
    this.alarm("SweepErrors", props.sweep.metricErrors(sum), ALARM_THRESHOLDS.sweepErrors, {
      description: "The digest sweeper fails most runs: due digests are not queued.",
    });
    for (const { source, metric } of signatureFailures) {
      this.alarm(`SignatureFailures-${source}`, metric, ALARM_THRESHOLDS.signatureFailures, {
        description: `Many rejected signatures from source "${source}": a wrong secret or probing.`,
      });
    }
    this.alarm("BitrixConfigFaults", configFaults, ALARM_THRESHOLDS.bitrixConfigFaults, {
      description: "Bitrix24 rejected the configuration (CODE_ERROR, NOT_FOUND, auth): act now.",
    });
    // Without the weekly limit (partner portals) every unanswered send is `unknown`. With it,
    // Bitrix24's answer to the retry settles an unanswered send, unless the retry window runs
    // out (or Bitrix24 rejects the retry) first: rarer, and still a person's job.
    this.alarm(
      "UnknownOutcomes",
      custom(MetricName.Messages, { Outcome: "unknown" }),
      ALARM_THRESHOLDS.unknownOutcomes,
      {
        description: props.weeklyLimit
          ? "A message may or may not have reached its user (an unanswered send, then the retry window ran out): check by hand."
          : "A send went unanswered after the request went out (a portal without the weekly limit), or a retry window ran out after one: check by hand.",
      },
    );
    // An OAuth app's refresh token lapses after 180 days unused: a failed keep-alive must be seen.
    for (const portal of props.oauthPortals ?? []) {
      this.alarm(
        `OAuthRefreshFailures-${portal}`,
        custom(MetricName.OAuthRefreshFailures, { Portal: portal }),
        ALARM_THRESHOLDS.oauthRefreshFailures,
        {
          description: `Refreshing the OAuth tokens of portal "${portal}" failed: re-authorize the app before its refresh token lapses.`,
        },
      );
    }

    if (!props.dashboard) return;
    const search = (metricName: string, dimensions: string[], label: string) =>
      new MathExpression({
        expression: `SEARCH('{${METRICS_NAMESPACE},${["service", ...dimensions].join(",")}} MetricName="${metricName}" service="${METRICS_SERVICE}"', 'Sum', ${PERIOD.toSeconds()})`,
        usingMetrics: {},
        label,
        period: PERIOD,
      });
    const graph = (title: string, left: IMetric[], width = 8) =>
      new GraphWidget({ title, left, width, height: 6 });

    this.dashboard = new Dashboard(this, "Dashboard", { defaultInterval: Duration.hours(24) });
    this.dashboard.addWidgets(
      new AlarmStatusWidget({ title: "Alarms", alarms: this.alarms, width: 24, height: 3 }),
    );
    this.dashboard.addWidgets(
      graph(
        "Signature failures by source",
        signatureFailures.map(({ source, metric }) => metric.with({ label: source })),
      ),
      // Webhooks are the API's requests: counted free by API Gateway, not a metric line each.
      graph(
        "HTTP API (webhooks)",
        [
          apiRequests.with({ label: "requests" }),
          api4xx.with({ label: "4xx (429 included)" }),
          api5xx.with({ label: "5xx" }),
        ],
        16,
      ),
    );
    this.dashboard.addWidgets(
      graph(
        "Messages by outcome",
        messages.map(({ outcome, metric }) => metric.with({ label: outcome })),
      ),
      graph("Digest backlog (due events per sweep)", [
        custom(MetricName.DigestBacklog, {}, "Maximum").with({ label: "due events" }),
      ]),
      graph("Bitrix24 errors by code, configuration faults", [
        search(MetricName.BitrixErrors, ["Code"], ""),
        configFaults.with({ label: "config faults" }),
      ]),
    );
    this.dashboard.addWidgets(
      graph(
        "Delivery latency (ms)",
        ["p50", "p90", "p99"].map((statistic) =>
          custom(MetricName.DeliveryLatency, {}, statistic).with({ label: statistic }),
        ),
      ),
      graph("Queue", [
        props.queue.metricApproximateNumberOfMessagesVisible({ period: PERIOD, label: "visible" }),
        props.queue.metricApproximateNumberOfMessagesNotVisible({
          period: PERIOD,
          label: "in flight or backing off",
        }),
        oldestAge.with({ label: "oldest message age (s)" }),
      ]),
      new SingleValueWidget({
        title: "Dead-letter queue",
        metrics: [deadLetterVisible.with({ label: "messages" })],
        width: 8,
        height: 6,
      }),
    );
    this.dashboard.addWidgets(
      graph(
        "DynamoDB capacity used",
        [
          props.table.metricConsumedWriteCapacityUnits({ ...sum, label: "write units" }),
          props.table.metricConsumedReadCapacityUnits({ ...sum, label: "read units" }),
        ],
        12,
      ),
      graph(
        "DynamoDB throttles",
        tableThrottles.map((metric, index) =>
          metric.with({ label: index === 0 ? "read throttle events" : "write throttle events" }),
        ),
        12,
      ),
    );
    this.dashboard.addWidgets(
      ...(
        [
          ["Ingest", props.ingest],
          ["Deliver", props.deliver],
          ["Sweep", props.sweep],
        ] as const
      ).flatMap(([name, fn]) => functionWidgets(name, fn)),
    );
  }

  /** The console link of the dashboard. */
  get dashboardUrl(): string {
    const region = Stack.of(this).region;
    return `https://${region}.console.aws.amazon.com/cloudwatch/home?region=${region}#dashboards:name=${this.dashboard?.dashboardName}`;
  }

  private alarm(
    id: string,
    metric: IMetric,
    threshold: number,
    options: { description: string; evaluationPeriods?: number },
  ) {
    const alarm = new Alarm(this, id, {
      metric,
      threshold,
      alarmDescription: `hookline: ${options.description} What to do: README, "Alarms and what to do when they fire".`,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: options.evaluationPeriods ?? 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    alarm.addAlarmAction(new SnsAction(this.topic));
    alarm.addOkAction(new SnsAction(this.topic));
    this.alarms.push(alarm);
  }
}

/**
 * `errors` as a percentage of `total`; below RATE_FLOOR of them, as a percentage of the floor.
 * Missing data (no traffic) stays missing, which the alarms treat as not breaching.
 */
function rate(errors: IMetric, total: IMetric, label: string): MathExpression {
  return new MathExpression({
    expression: `100 * FILL(errors, 0) / IF(total > ${RATE_FLOOR}, total, ${RATE_FLOOR})`,
    usingMetrics: { errors, total },
    period: PERIOD,
    label: `${label} (%)`,
  });
}

function functionWidgets(name: string, fn: IFunction): GraphWidget[] {
  const period = PERIOD;
  return [
    new GraphWidget({
      title: `${name} invocations, errors, throttles`,
      left: [
        fn.metricInvocations({ period, label: "invocations" }),
        fn.metricErrors({ period, label: "errors" }),
        fn.metricThrottles({ period, label: "throttles" }),
      ],
      width: 4,
      height: 6,
    }),
    new GraphWidget({
      title: `${name} duration (ms)`,
      left: [
        fn.metricDuration({ period, statistic: "p50", label: "p50" }),
        fn.metricDuration({ period, statistic: "Maximum", label: "max" }),
      ],
      width: 4,
      height: 6,
    }),
  ];
}
