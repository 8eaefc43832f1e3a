import { Annotations, ArnFormat, Duration, Stack, Validations } from "aws-cdk-lib";
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
import { FilterPattern, type ILogGroup, MetricFilter } from "aws-cdk-lib/aws-logs";
import { type CfnTopic, Topic } from "aws-cdk-lib/aws-sns";
import { EmailSubscription } from "aws-cdk-lib/aws-sns-subscriptions";
import type { IQueue } from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import {
  METRICS_NAMESPACE,
  METRICS_SERVICE,
  Metric as MetricName,
  PORTAL_DIMENSION,
} from "../functions/core/metrics";
import { OUTCOMES } from "../functions/core/outcome";

/**
 * Alarm thresholds; docs/alarms.md explains each and what to
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
  /** HTTP API 5xx answers, % of requests in 5 minutes (ours only: store or queue down, a bug). */
  api5xxRate: 5,
  /** HTTP API 4xx answers (bad or unsigned requests, unknown sources, 429 throttling), %. */
  api4xxRate: 10,
  /** Requests per second over one minute, as a share of the stage's throttle rate. */
  apiNearThrottle: 0.8,
  /** DynamoDB read and write throttle events in 5 minutes (the SDK retries them, at a cost in time). */
  dynamoThrottles: 10,
  /** Rejected signatures, all sources together, in 5 minutes: a wrong secret or someone probing. */
  signatureFailures: 10,
  /** Bitrix24 CODE_ERROR, NOT_FOUND or auth errors in 5 minutes. */
  bitrixConfigFaults: 1,
  /** Messages that may or may not have reached their user, in 5 minutes. */
  unknownOutcomes: 1,
  /** Failed keep-alive refreshes of OAuth portals' tokens in 5 minutes. */
  oauthRefreshFailures: 1,
  /** Messages deliver failed with an unexpected error (a partial batch failure) in 5 minutes. */
  deliverMessageErrors: 1,
  /**
   * Sweeper runs that read the due index, in `SWEEP_HEARTBEAT_PERIOD` (one run a minute), below
   * which the sweeper counts as stopped or failing: half of them.
   */
  sweepHeartbeat: 5,
} as const;

/** The write operations whose throttling (of the table or an index) DynamoDbThrottles counts. */
export const THROTTLE_WATCHED_WRITES = ["PutItem", "UpdateItem"] as const;

/** The sweeper runs every minute; the heartbeat counts its runs over this long. */
export const SWEEP_HEARTBEAT_PERIOD = Duration.minutes(10);

/**
 * The metric a metric filter counts from deliver's ERROR lines: one per message that failed with
 * an unexpected error (deliver logs it, reports the message as a partial batch failure, and the
 * queue retries it; the invocation itself succeeds, so DeliverErrorRate never sees it).
 */
export const DELIVER_MESSAGE_ERRORS = {
  metricName: "DeliverMessageErrors",
  /** What deliver logs for such a message (functions/deliver/app.ts), at ERROR. */
  message: "delivery failed unexpectedly*",
} as const;

/**
 * The pattern of that metric filter, on Lambda's JSON log lines. CloudWatch Logs JSON filter
 * patterns: a string value may end in `*` (a prefix match).
 */
export const deliverMessageErrorsPattern = () =>
  FilterPattern.all(
    FilterPattern.stringValue("$.level", "=", "ERROR"),
    FilterPattern.stringValue("$.message", "=", DELIVER_MESSAGE_ERRORS.message),
  );

/** The alarm topic's metadata key: how many portals are counted per portal (`npm run cost`). */
export const PORTALS_COUNTED_METADATA = "hookline:portalsCounted";

/** The synth warning for a stack whose alarm topic has no subscriber. */
export const NO_ALARM_SUBSCRIBER =
  "No -c alarmEmail: the alarm topic has no subscriber, so alarms reach nobody. Deploy with -c alarmEmail=you@example.com, or subscribe a chat webhook to the AlarmTopicArn output (docs/alarms.md).";

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
  /** The table's global secondary indexes: the throttle alarm covers them too. */
  readonly indexNames: readonly string[];
  /** Deliver's log group: a metric filter counts its unexpected per-message errors. */
  readonly deliverLogGroup: ILogGroup;
  /** `deliveryTimings(config).queueAgeAlarmSeconds`: follows from the retry window. */
  readonly queueAgeAlarmSeconds: number;
  /** The longest backoff between retries: a retried message is seen at least this often. */
  readonly maxBackoffSeconds: number;
  /** Source ids from the config: one graph line each on the dashboard. */
  readonly sourceIds: readonly string[];
  /** Every portal has the weekly limit: words the UnknownOutcomes alarm's description. */
  readonly weeklyLimit: boolean;
  /** Every portal's id: with more than one, a dashboard row of health figures per portal. */
  readonly portalIds?: readonly string[] | undefined;
  /** Ids of the portals that are OAuth apps: with any, one token keep-alive alarm for them all. */
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
    // For `npm run cost`: how many portals have their figures counted per portal too.
    const portalsCounted = (props.portalIds ?? []).length > 1 ? (props.portalIds ?? []).length : 0;
    (this.topic.node.defaultChild as CfnTopic).addMetadata(
      PORTALS_COUNTED_METADATA,
      portalsCounted,
    );
    if (props.alarmEmail) {
      this.topic.addSubscription(new EmailSubscription(props.alarmEmail));
    } else {
      Annotations.of(this).addWarningV2("hookline:noAlarmSubscriber", NO_ALARM_SUBSCRIBER);
    }

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
    // DynamoDB counts a throttled index write under the index's own dimension only
    // (WriteThrottleEvents by TableName "returns the WriteThrottleEvents for the table, but not for
    // any global secondary indexes"), while ThrottledRequests (TableName, Operation) counts a
    // request once when any of its events, the table's or an index's, is throttled ("DynamoDB
    // metrics and dimensions"; "CloudWatch throttling metrics"). So: the writes that maintain the
    // indexes (PutItem, UpdateItem: outcomes, slots, the rate limiter) by ThrottledRequests, and
    // the table's reads (GetItem, BatchGetItem) by ReadThrottleEvents. Each metric an alarm reads
    // costs $0.10 a month (docs/alarms.md, "What the alarms and metrics cost").
    const throttles: Array<[string, Metric]> = [
      ["reads", props.table.metric("ReadThrottleEvents", sum)],
      ...THROTTLE_WATCHED_WRITES.map((operation): [string, Metric] => [
        operation.toLowerCase(),
        props.table.metric("ThrottledRequests", {
          ...sum,
          dimensionsMap: { TableName: props.table.tableName, Operation: operation },
        }),
      ]),
    ];
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
    // Deliver moves an exhausted message itself (SendMessage). SQS's own redrive (a message that
    // crashed deliver maxReceiveCount times) is not a send: DeadLetterQueueNotEmpty catches those.
    this.alarm(
      "DeadLetterArrivals",
      props.deadLetterQueue.metricNumberOfMessagesSent({ period: MINUTE, statistic: "Sum" }),
      ALARM_THRESHOLDS.deadLetterArrivals,
      {
        description:
          "Deliver moved more messages to the dead-letter queue (notifies on each new arrival, also while DeadLetterQueueNotEmpty is in alarm).",
      },
    );
    this.alarm(
      "DeliverErrorRate",
      rate(props.deliver.metricErrors(sum), props.deliver.metricInvocations(sum), "deliver errors"),
      ALARM_THRESHOLDS.deliverErrorRate,
      { description: "Deliver invocations fail as a whole (crash or timeout), not one message." },
    );
    this.alarm("Ingest5xxRate", rate(api5xx, apiRequests, "5xx"), ALARM_THRESHOLDS.api5xxRate, {
      // A crashed or timed-out ingest invocation is a 5xx answer too (API Gateway answers 500
      // or 503 for a failed Lambda integration), so this alarm also covers ingest's errors.
      description:
        "The webhook endpoint answers 5xx: ingest crashed or timed out, table or queue unavailable, or a bug.",
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
        expression: throttles.map(([id]) => `FILL(${id}, 0)`).join(" + "),
        usingMetrics: Object.fromEntries(throttles),
        period: PERIOD,
        label: "throttled (table and indexes)",
      }),
      ALARM_THRESHOLDS.dynamoThrottles,
      {
        description:
          "DynamoDB throttles the table or one of its indexes; every step slows down and may time out.",
      },
    );
    this.alarm("QueueAgeHigh", oldestAge, props.queueAgeAlarmSeconds, {
      description:
        "A queued message has not been received for too long: deliver is not consuming the queue (event source disabled, throttled, crashing on start).",
    });
    // SQS leaves messages received three times or more out of ApproximateAgeOfOldestMessage, so
    // in an outage, when every message is retried, QueueAgeHigh stays quiet; this one rises.
    // A retried message comes back at least every `maxBackoffSeconds`: the period spans that,
    // and a period without retries (none left, or the outage over) is no alarm.
    const undeliveredPeriod = Duration.minutes(
      Math.max(5, Math.ceil((props.maxBackoffSeconds * 1.5) / 60)),
    );
    this.alarm(
      "UndeliveredAgeHigh",
      custom(MetricName.OldestUndelivered, {}, "Maximum").with({ period: undeliveredPeriod }),
      props.queueAgeAlarmSeconds * 1000,
      {
        description:
          "Deliver keeps handing back a message queued too long ago: Bitrix24 down, slow or throttling, or deliver fails for it.",
      },
    );
    this.alarm(
      "DeliverMessageErrors",
      new MetricFilter(this, "DeliverMessageErrorsFilter", {
        logGroup: props.deliverLogGroup,
        filterPattern: deliverMessageErrorsPattern(),
        metricNamespace: METRICS_NAMESPACE,
        metricName: DELIVER_MESSAGE_ERRORS.metricName,
        metricValue: "1",
      }).metric(sum),
      ALARM_THRESHOLDS.deliverMessageErrors,
      {
        description:
          "Deliver failed single messages with an unexpected error (the queue retries them); the invocations themselves succeed.",
      },
    );
    // Every sweep that reads the due index counts its backlog (DigestBacklog, 0 included): few
    // counts mean most runs fail (a broken role, the table unreachable), none that the schedule
    // is paused or deleted. Either way no digest goes out and OAuth tokens are not kept alive.
    // Missing data is what this alarm is for. It replaces an alarm on the sweep's Lambda Errors,
    // which stays quiet when nothing runs.
    this.alarm(
      "SweepHeartbeat",
      custom(MetricName.DigestBacklog, {}, "SampleCount").with({ period: SWEEP_HEARTBEAT_PERIOD }),
      ALARM_THRESHOLDS.sweepHeartbeat,
      {
        description: `Fewer than ${ALARM_THRESHOLDS.sweepHeartbeat} sweeper runs in ${SWEEP_HEARTBEAT_PERIOD.toMinutes()} minutes got as far as the due index: the schedule is paused or the sweeper fails; digests and OAuth keep-alives stop.`,
        comparison: ComparisonOperator.LESS_THAN_THRESHOLD,
        missingData: TreatMissingData.BREACHING,
      },
    );
    // One alarm on the total of all sources (ingest counts each failure by source and in total):
    // an alarm per source cost $0.10 a month each and one resource each (docs/scale.md). The
    // dashboard and the ingest log name the source.
    this.alarm(
      "SignatureFailures",
      custom(MetricName.SignatureFailures),
      ALARM_THRESHOLDS.signatureFailures,
      {
        description:
          "Many rejected signatures (all sources together): a wrong secret or probing; the dashboard's graph by source, or ingest's log, names the source.",
      },
    );
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
    // One alarm on the total of the OAuth portals (the sweeper counts by portal and in total).
    const oauthPortals = props.oauthPortals ?? [];
    if (oauthPortals.length > 0) {
      this.alarm(
        "OAuthRefreshFailures",
        custom(MetricName.OAuthRefreshFailures),
        ALARM_THRESHOLDS.oauthRefreshFailures,
        {
          description:
            "Refreshing an OAuth portal's tokens failed (the sweep log names the portal): re-authorize the app before its refresh token lapses.",
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
        "Delivery latency, oldest undelivered (ms)",
        ["p50", "p90", "p99"]
          .map((statistic) =>
            custom(MetricName.DeliveryLatency, {}, statistic).with({ label: statistic }),
          )
          .concat(
            custom(MetricName.OldestUndelivered, {}, "Maximum").with({
              label: "oldest message handed back undelivered",
            }),
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
        throttles.map(([id, metric]) =>
          metric.with({
            label: id === "reads" ? "table read throttle events" : `throttled ${id} (any index)`,
          }),
        ),
        12,
      ),
    );
    // Per-portal health ("is portal X healthy?"), counted per portal when there is more than
    // one (portalMetrics); with one, the rows above are the portal's.
    const portalIds = props.portalIds ?? [];
    if (portalIds.length > 1) {
      for (const portal of portalIds) this.dashboard.addWidgets(...portalRow(portal, custom));
    }
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
    options: {
      description: string;
      evaluationPeriods?: number;
      comparison?: ComparisonOperator;
      missingData?: TreatMissingData;
    },
  ) {
    const alarm = new Alarm(this, id, {
      metric,
      threshold,
      alarmDescription: `hookline: ${options.description} What to do: docs/alarms.md, ${id}.`,
      comparisonOperator:
        options.comparison ?? ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: options.evaluationPeriods ?? 1,
      treatMissingData: options.missingData ?? TreatMissingData.NOT_BREACHING,
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

/** Bitrix24's answers that hold a portal back: its rate limit, and its method time limit. */
export const HOLD_BACK_CODES = {
  rateLimit: "QUERY_LIMIT_EXCEEDED",
  operatingLimit: "OPERATION_TIME_LIMIT",
} as const;

/** One dashboard row for a portal: its outcomes, its hold-back answers, its oldest waiting message. */
function portalRow(
  portal: string,
  custom: (name: string, dimensions?: Record<string, string>, statistic?: string) => Metric,
): GraphWidget[] {
  const byPortal = { [PORTAL_DIMENSION]: portal };
  return [
    new GraphWidget({
      title: `Portal ${portal}: messages by outcome`,
      left: (["sent", "deferred", "failed", "unknown"] as const).map((outcome) =>
        custom(MetricName.Messages, { ...byPortal, Outcome: outcome }).with({ label: outcome }),
      ),
      width: 8,
      height: 6,
    }),
    new GraphWidget({
      title: `Portal ${portal}: rate-limit and operating-limit answers`,
      left: Object.entries(HOLD_BACK_CODES).map(([label, code]) =>
        custom(MetricName.BitrixErrors, { ...byPortal, Code: code }).with({
          label: `${code} (${label === "rateLimit" ? "rate limit" : "operating limit"})`,
        }),
      ),
      width: 8,
      height: 6,
    }),
    new GraphWidget({
      title: `Portal ${portal}: oldest undelivered message (ms)`,
      left: [custom(MetricName.OldestUndelivered, byPortal, "Maximum").with({ label: "oldest" })],
      width: 8,
      height: 6,
    }),
  ];
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
