import { Duration, Stack, Validations } from "aws-cdk-lib";
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

/** Alarm thresholds; the README ("Alarms and what to do when they fire") explains each and what to do when it fires. */
export const ALARM_THRESHOLDS = {
  /** Messages in the dead-letter queue. */
  deadLetterMessages: 1,
  /** Deliver invocations that failed as a whole (crash, timeout) in 5 minutes. */
  deliverErrors: 1,
  /** HTTP API 5xx answers in 5 minutes (ours only: store or queue unavailable, a bug). */
  ingest5xx: 1,
  /** Rejected signatures from one source in 5 minutes: a wrong secret or someone probing. */
  signatureFailures: 10,
  /** Bitrix24 CODE_ERROR, NOT_FOUND or auth errors in 5 minutes. */
  bitrixConfigFaults: 1,
  /** Messages whose send was ambiguous (weekly limit off) in 5 minutes. */
  unknownOutcomes: 1,
  /** Age of the oldest queued message, seconds: Bitrix24 down or throttling us for 30 minutes. */
  queueAgeSeconds: 1800,
} as const;

const PERIOD = Duration.minutes(5);

export interface HooklineMonitoringProps {
  readonly api: HttpApi;
  readonly ingest: IFunction;
  readonly deliver: IFunction;
  readonly queue: IQueue;
  readonly deadLetterQueue: IQueue;
  /** Source ids from the config: one signature-failure alarm and graph line each. */
  readonly sourceIds: readonly string[];
  /** Subscribed to the alarm topic when given. */
  readonly alarmEmail?: string | undefined;
}

/**
 * The alarms (each notifying one SNS topic, on alarm and on recovery) and a dashboard with the
 * same figures: queue and dead-letter queue, both functions, the HTTP API and hookline's own
 * embedded-metric-format metrics (namespace Hookline, dimension service=hookline).
 */
export class HooklineMonitoring extends Construct {
  readonly topic: Topic;
  readonly dashboard: Dashboard;
  readonly alarms: Alarm[] = [];

  constructor(scope: Construct, id: string, props: HooklineMonitoringProps) {
    super(scope, id);

    this.topic = new Topic(this, "AlarmTopic", {
      displayName: "hookline alarms",
      enforceSSL: true,
    });
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

    const deadLetterVisible = props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
      period: Duration.minutes(1),
      statistic: "Maximum",
    });
    const oldestAge = props.queue.metricApproximateAgeOfOldestMessage({
      period: PERIOD,
      statistic: "Maximum",
    });
    const deliverErrors = props.deliver.metricErrors({ period: PERIOD, statistic: "Sum" });
    const api5xx = props.api.metricServerError({ period: PERIOD, statistic: "Sum" });
    const signatureFailures = props.sourceIds.map((source) => ({
      source,
      metric: custom(MetricName.SignatureFailures, { Source: source }),
    }));
    const configFaults = custom(MetricName.BitrixConfigFaults);
    const messages = OUTCOMES.map((outcome) => custom(MetricName.Messages, { Outcome: outcome }));
    const unknown = custom(MetricName.Messages, { Outcome: "unknown" });

    this.alarm("DeadLetterQueueNotEmpty", deadLetterVisible, ALARM_THRESHOLDS.deadLetterMessages, {
      description:
        "Messages gave up after the configured receives and wait in the dead-letter queue.",
    });
    this.alarm("DeliverErrors", deliverErrors, ALARM_THRESHOLDS.deliverErrors, {
      description: "The deliver function failed as a whole (crash or timeout), not one message.",
    });
    this.alarm("Ingest5xx", api5xx, ALARM_THRESHOLDS.ingest5xx, {
      description: "The webhook endpoint answered 5xx: table or queue unavailable, or a bug.",
    });
    for (const { source, metric } of signatureFailures) {
      this.alarm(`SignatureFailures-${source}`, metric, ALARM_THRESHOLDS.signatureFailures, {
        description: `Many rejected signatures from source "${source}": a wrong secret or probing.`,
      });
    }
    this.alarm("BitrixConfigFaults", configFaults, ALARM_THRESHOLDS.bitrixConfigFaults, {
      description: "Bitrix24 rejected the configuration (CODE_ERROR, NOT_FOUND, auth): act now.",
    });
    this.alarm("UnknownOutcomes", unknown, ALARM_THRESHOLDS.unknownOutcomes, {
      description: "A send timed out after the request went out (weekly limit off): check by hand.",
    });
    this.alarm("QueueAgeHigh", oldestAge, ALARM_THRESHOLDS.queueAgeSeconds, {
      description: "The oldest queued message waits too long: Bitrix24 down, slow or throttling.",
      evaluationPeriods: 2,
    });

    const search = (metricName: string, dimensions: string[], label: string) =>
      new MathExpression({
        expression: `SEARCH('{${METRICS_NAMESPACE},${["service", ...dimensions].join(",")}} MetricName="${metricName}" service="${METRICS_SERVICE}"', 'Sum', ${PERIOD.toSeconds()})`,
        usingMetrics: {},
        label,
        period: PERIOD,
      });
    const graph = (title: string, left: IMetric[], width = 8) =>
      new GraphWidget({ title, left, width, height: 6 });

    this.dashboard = new Dashboard(this, "Dashboard", {
      defaultInterval: Duration.hours(24),
    });
    this.dashboard.addWidgets(
      new AlarmStatusWidget({ title: "Alarms", alarms: this.alarms, width: 24, height: 3 }),
    );
    this.dashboard.addWidgets(
      graph("Webhooks by source and status", [
        search(MetricName.WebhooksReceived, ["Source", "Status"], ""),
      ]),
      graph(
        "Signature failures by source",
        signatureFailures.map(({ source, metric }) => metric.with({ label: source })),
      ),
      graph("HTTP API", [
        props.api.metricCount({ period: PERIOD, statistic: "Sum", label: "requests" }),
        props.api.metricClientError({ period: PERIOD, statistic: "Sum", label: "4xx" }),
        api5xx.with({ label: "5xx" }),
      ]),
    );
    this.dashboard.addWidgets(
      graph(
        "Messages by outcome",
        messages.map((metric, index) => metric.with({ label: OUTCOMES[index] ?? "" })),
      ),
      graph("Bitrix24 errors by code", [search(MetricName.BitrixErrors, ["Code"], "")]),
      graph("Bitrix24 configuration faults", [configFaults.with({ label: "config faults" })]),
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
      ...[
        ["Ingest", props.ingest],
        ["Deliver", props.deliver],
      ].flatMap(([name, fn]) => functionWidgets(name as string, fn as IFunction)),
    );
  }

  /** The console link of the dashboard. */
  get dashboardUrl(): string {
    const region = Stack.of(this).region;
    return `https://${region}.console.aws.amazon.com/cloudwatch/home?region=${region}#dashboards:name=${this.dashboard.dashboardName}`;
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
      width: 6,
      height: 6,
    }),
    new GraphWidget({
      title: `${name} duration (ms)`,
      left: [
        fn.metricDuration({ period, statistic: "p50", label: "p50" }),
        fn.metricDuration({ period, statistic: "Maximum", label: "max" }),
      ],
      width: 6,
      height: 6,
    }),
  ];
}
