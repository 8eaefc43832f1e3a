import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { Annotations, Match, Template } from "aws-cdk-lib/assertions";
import { beforeAll, describe, expect, it } from "vitest";
import { DASHBOARD_SERIES_VARIABLE } from "../../functions/adapters/telemetry";
import { deliveryTimings } from "../../functions/core/delivery-timings";
import { isDashboardOnly } from "../../functions/core/metrics";
import { OUTCOMES } from "../../functions/core/outcome";
import { API_MIN_THROTTLE } from "../../lib/capacity";
import { type HooklineStack, PROJECT_ROOT, SWEEP_RATE } from "../../lib/hookline-stack";
import {
  ALARM_THRESHOLDS,
  NO_ALARM_SUBSCRIBER,
  RATE_FLOOR,
  SWEEP_HEARTBEAT_PERIOD,
  THROTTLE_WATCHED_WRITES,
} from "../../lib/monitoring";
import { buildStack, FIXTURE_CONFIG, references, writeConfig } from "./synth";

let stack: HooklineStack;
let template: Template;
let ref: ReturnType<typeof references>["ref"];
let attribute: (construct: Parameters<typeof ref>[0], name: string) => unknown;
type AlarmProps = Record<string, unknown> & {
  Metrics?: Array<{ Id: string; Expression?: string; MetricStat?: Record<string, unknown> }>;
};
let alarms: Record<string, AlarmProps>;

beforeAll(() => {
  stack = buildStack({ alarmEmail: "ops@example.com" });
  template = Template.fromStack(stack);
  const refs = references(stack);
  ref = refs.ref;
  attribute = (construct, name) => ({ "Fn::GetAtt": [refs.id(construct), name] });
  alarms = Object.fromEntries(
    stack.monitoring.alarms.map((alarm) => [
      alarm.node.id,
      template.toJSON().Resources[refs.id(alarm)].Properties as AlarmProps,
    ]),
  );
});

const service = { Name: "service", Value: "hookline" };

/** What an alarm on hookline's own metric `name` reads: namespace Hookline, the service dimension. */
const ownMetric = (name: string, more: Record<string, unknown>) => ({
  Namespace: "Hookline",
  MetricName: name,
  Dimensions: [service],
  ...more,
});

/** The metric stats of a metric-math alarm, by the id the expression uses. */
const inputsOf = (alarm: AlarmProps | undefined) =>
  Object.fromEntries(
    (alarm?.Metrics ?? []).flatMap((m) => (m.MetricStat ? [[m.Id, m.MetricStat]] : [])),
  );
const expressionOf = (alarm: AlarmProps | undefined) =>
  alarm?.Metrics?.find((m) => m.Expression)?.Expression;

describe("alarms", () => {
  it("notify the topic on alarm and on recovery, and stay quiet without data", () => {
    expect(Object.keys(alarms).sort()).toEqual(
      [
        "ApiNearThrottle",
        "Api4xxRate",
        "BitrixConfigFaults",
        "DeadLetterArrivals",
        "DeadLetterQueueNotEmpty",
        "DeliverErrorRate",
        "DynamoDbThrottles",
        "Ingest5xxRate",
        "DeliverMessageErrors",
        "QueueAgeHigh",
        "SignatureFailures",
        "SweepHeartbeat",
        "UndeliveredAgeHigh",
        "UnknownOutcomes",
      ].sort(),
    );
    for (const [id, alarm] of Object.entries(alarms)) {
      expect(alarm).toMatchObject({
        AlarmActions: [ref(stack.monitoring.topic)],
        OKActions: [ref(stack.monitoring.topic)],
        AlarmDescription: expect.stringContaining(`docs/alarms.md, ${id}`),
      });
      // Only the heartbeat fires on silence.
      if (id === "SweepHeartbeat") continue;
      expect(alarm).toMatchObject({
        ComparisonOperator: "GreaterThanOrEqualToThreshold",
        TreatMissingData: "notBreaching",
      });
    }
  });

  it("fires while the dead-letter queue holds a message", () => {
    expect(alarms.DeadLetterQueueNotEmpty).toMatchObject({
      Namespace: "AWS/SQS",
      MetricName: "ApproximateNumberOfMessagesVisible",
      Dimensions: [{ Name: "QueueName", Value: attribute(stack.deadLetterQueue, "QueueName") }],
      Statistic: "Maximum",
      Threshold: ALARM_THRESHOLDS.deadLetterMessages,
    });
  });

  it("fires again on each message deliver moves to the dead-letter queue", () => {
    const queue = [{ Name: "QueueName", Value: attribute(stack.deadLetterQueue, "QueueName") }];
    expect(alarms.DeadLetterArrivals).toMatchObject({
      Namespace: "AWS/SQS",
      MetricName: "NumberOfMessagesSent",
      Dimensions: queue,
      Period: 60,
      Statistic: "Sum",
      Threshold: ALARM_THRESHOLDS.deadLetterArrivals,
    });
  });

  it("sees ingest crashes as 5xx answers, without an alarm of their own", () => {
    // API Gateway answers 500/503 when its Lambda integration fails or times out.
    expect(alarms.IngestErrorRate).toBeUndefined();
    expect(alarms.Ingest5xxRate?.AlarmDescription).toContain("ingest crashed or timed out");
  });

  it.each([
    ["DeliverErrorRate", "AWS/Lambda", "Errors", "Invocations", () => ref(stack.deliver.fn)],
    ["Ingest5xxRate", "AWS/ApiGateway", "5xx", "Count", () => ref(stack.api)],
    ["Api4xxRate", "AWS/ApiGateway", "4xx", "Count", () => ref(stack.api)],
  ] as const)(
    "%s is a rate over requests, so a single blip at volume does not page",
    (name, namespace, errors, total, dimension) => {
      const alarm = alarms[name];
      expect(expressionOf(alarm)).toBe(
        `100 * FILL(errors, 0) / IF(total > ${RATE_FLOOR}, total, ${RATE_FLOOR})`,
      );
      const inputs = inputsOf(alarm) as Record<string, { Metric: Record<string, unknown> }>;
      expect(inputs.errors?.Metric).toMatchObject({ Namespace: namespace, MetricName: errors });
      expect(inputs.total?.Metric).toMatchObject({ Namespace: namespace, MetricName: total });
      expect(JSON.stringify(inputs)).toContain(JSON.stringify(dimension()));
      const thresholds = {
        DeliverErrorRate: ALARM_THRESHOLDS.deliverErrorRate,
        Ingest5xxRate: ALARM_THRESHOLDS.api5xxRate,
        Api4xxRate: ALARM_THRESHOLDS.api4xxRate,
      };
      expect(alarm?.Threshold).toBe(thresholds[name]);
    },
  );

  it("warns before the API throttle refuses webhooks with 429", () => {
    const alarm = alarms.ApiNearThrottle;
    expect(expressionOf(alarm)).toBe("requests / PERIOD(requests)");
    expect(inputsOf(alarm).requests).toMatchObject({
      Metric: { Namespace: "AWS/ApiGateway", MetricName: "Count" },
      Period: 60,
      Stat: "Sum",
    });
    expect(alarm?.Threshold).toBe(ALARM_THRESHOLDS.apiNearThrottle * API_MIN_THROTTLE.rateLimit);
    const custom = buildStack({ apiThrottle: { rateLimit: 10, burstLimit: 20 } });
    Template.fromStack(custom).hasResourceProperties("AWS::CloudWatch::Alarm", {
      Metrics: Match.arrayWith([Match.objectLike({ Expression: "requests / PERIOD(requests)" })]),
      Threshold: ALARM_THRESHOLDS.apiNearThrottle * 10,
    });
  });

  it("fires on DynamoDB throttling of the table and of its indexes", () => {
    const alarm = alarms.DynamoDbThrottles;
    const table = { Name: "TableName", Value: ref(stack.table) };
    // ThrottledRequests "is incremented by one when any event within a request is throttled",
    // the table's write or an index's ("CloudWatch throttling metrics", DynamoDB developer guide);
    // WriteThrottleEvents by TableName alone leaves the indexes' events out.
    expect(inputsOf(alarm)).toEqual({
      reads: {
        Metric: {
          Namespace: "AWS/DynamoDB",
          MetricName: "ReadThrottleEvents",
          Dimensions: [table],
        },
        Period: 300,
        Stat: "Sum",
      },
      ...Object.fromEntries(
        THROTTLE_WATCHED_WRITES.map((operation) => [
          operation.toLowerCase(),
          {
            Metric: {
              Namespace: "AWS/DynamoDB",
              MetricName: "ThrottledRequests",
              Dimensions: expect.arrayContaining([table, { Name: "Operation", Value: operation }]),
            },
            Period: 300,
            Stat: "Sum",
          },
        ]),
      ),
    });
    expect(expressionOf(alarm)).toBe("FILL(reads, 0) + FILL(putitem, 0) + FILL(updateitem, 0)");
    expect(alarm?.Threshold).toBe(ALARM_THRESHOLDS.dynamoThrottles);
  });

  it("watches every write the functions may send to an indexed table", () => {
    // The table's writes that maintain the indexes: outcomes (PutItem, UpdateItem), slots and
    // the rate limiter (UpdateItem). No function deletes items (only the CLI's slot reset does).
    const policies = Object.values(template.findResources("AWS::IAM::Policy")) as Array<{
      Properties: { PolicyDocument: { Statement: Array<{ Action: string | string[] }> } };
    }>;
    const grantedWrites = new Set(
      policies.flatMap((policy) =>
        policy.Properties.PolicyDocument.Statement.flatMap((statement) =>
          [statement.Action].flat(),
        ),
      ),
    );
    expect(grantedWrites).toContain("dynamodb:PutItem");
    for (const write of ["PutItem", "UpdateItem", "BatchWriteItem", "TransactWriteItems"]) {
      if (grantedWrites.has(`dynamodb:${write}`)) {
        expect(THROTTLE_WATCHED_WRITES as readonly string[]).toContain(write);
      }
    }
  });

  it("fires in an outage, when every message is being retried", () => {
    // SQS: "ApproximateAgeOfOldestMessage ... After a message is received three or more times
    // (or more), it is not included in the metric" ("Available CloudWatch metrics for Amazon SQS").
    // Deliver puts each retried message back, so QueueAgeHigh misses an outage; hookline counts
    // the age of the oldest message it hands back instead (functions/adapters/undelivered-age.ts).
    const timings = deliveryTimings(stack.config);
    expect(alarms.UndeliveredAgeHigh).toMatchObject(
      ownMetric("OldestUndelivered", {
        Statistic: "Maximum",
        Threshold: timings.queueAgeAlarmSeconds * 1000,
      }),
    );
    // A retried message is back at least every maxBackoff: each period sees it.
    expect(alarms.UndeliveredAgeHigh?.Period).toBeGreaterThanOrEqual(timings.maxBackoffMs / 1000);
  });

  it("fires on single messages deliver fails with an unexpected error", () => {
    template.hasResourceProperties("AWS::Logs::MetricFilter", {
      LogGroupName: ref(stack.deliver.logGroup),
      FilterPattern: '{ ($.level = "ERROR") && ($.message = "delivery failed unexpectedly*") }',
      MetricTransformations: [
        { MetricNamespace: "Hookline", MetricName: "DeliverMessageErrors", MetricValue: "1" },
      ],
    });
    expect(alarms.DeliverMessageErrors).toMatchObject({
      Namespace: "Hookline",
      MetricName: "DeliverMessageErrors",
      Statistic: "Sum",
      Threshold: ALARM_THRESHOLDS.deliverMessageErrors,
    });
  });

  it("fires when the sweeper stops running or succeeding (missing data is breaching)", () => {
    expect(alarms.SweepHeartbeat).toMatchObject(
      ownMetric("DigestBacklog", {
        Statistic: "SampleCount",
        Period: SWEEP_HEARTBEAT_PERIOD.toSeconds(),
        ComparisonOperator: "LessThanThreshold",
        Threshold: ALARM_THRESHOLDS.sweepHeartbeat,
        TreatMissingData: "breaching",
      }),
    );
    // Several runs fit in a period: one late run does not fire it.
    expect(SWEEP_HEARTBEAT_PERIOD.toSeconds()).toBeGreaterThanOrEqual(5 * SWEEP_RATE.toSeconds());
  });

  it("fires when the oldest queued message is older than the retry window allows for", () => {
    expect(alarms.QueueAgeHigh).toMatchObject({
      Namespace: "AWS/SQS",
      MetricName: "ApproximateAgeOfOldestMessage",
      Dimensions: [{ Name: "QueueName", Value: attribute(stack.queue, "QueueName") }],
      Threshold: deliveryTimings(stack.config).queueAgeAlarmSeconds,
    });
  });

  it("fires on a spike of signature failures from any source: one alarm on their total", () => {
    // Ingest counts each failure by Source and in total (test/unit/telemetry.test.ts); the alarm
    // reads the total, one metric however many sources (docs/alarms.md, "What the alarms cost").
    expect(alarms.SignatureFailures).toMatchObject(
      ownMetric("SignatureFailures", {
        Statistic: "Sum",
        Period: 300,
        Threshold: ALARM_THRESHOLDS.signatureFailures,
      }),
    );
    expect(Object.keys(alarms).filter((id) => id.startsWith("SignatureFailures"))).toHaveLength(1);
  });

  it("fires on a Bitrix24 configuration fault", () => {
    expect(alarms.BitrixConfigFaults).toMatchObject(
      ownMetric("BitrixConfigFaults", {
        Statistic: "Sum",
        Threshold: ALARM_THRESHOLDS.bitrixConfigFaults,
      }),
    );
  });

  it("fires on an unknown outcome, with or without the weekly limit", () => {
    // With it, an unanswered send whose retry window runs out is `unknown` too.
    expect(alarms.UnknownOutcomes).toMatchObject(
      ownMetric("Messages", {
        Dimensions: [{ Name: "Outcome", Value: "unknown" }, service],
        Statistic: "Sum",
        Threshold: ALARM_THRESHOLDS.unknownOutcomes,
        AlarmDescription: expect.stringContaining("retry window ran out"),
      }),
    );
    const raw = JSON.parse(readFileSync(FIXTURE_CONFIG, "utf8")) as { bitrix: object };
    const partner = buildStack({
      configPath: writeConfig({ ...raw, bitrix: { ...raw.bitrix, weeklyLimit: false } }),
    });
    Template.fromStack(partner).hasResourceProperties("AWS::CloudWatch::Alarm", {
      MetricName: "Messages",
      Dimensions: [{ Name: "Outcome", Value: "unknown" }, service],
      AlarmDescription: Match.stringLikeRegexp("without the weekly limit"),
    });
  });
});

describe("alarm topic", () => {
  it("lets CloudWatch alarms of this account publish, over TLS only", () => {
    template.hasResourceProperties("AWS::SNS::TopicPolicy", {
      Topics: [ref(stack.monitoring.topic)],
      PolicyDocument: {
        Statement: [
          Match.objectLike({
            Effect: "Deny",
            Condition: { Bool: { "aws:SecureTransport": "false" } },
          }),
          {
            Sid: "AllowCloudWatchAlarms",
            Effect: "Allow",
            Principal: { Service: "cloudwatch.amazonaws.com" },
            Action: "sns:Publish",
            Resource: ref(stack.monitoring.topic),
            Condition: {
              StringEquals: { "aws:SourceAccount": { Ref: "AWS::AccountId" } },
              ArnLike: {
                "aws:SourceArn": {
                  "Fn::Join": [
                    "",
                    [
                      "arn:",
                      { Ref: "AWS::Partition" },
                      ":cloudwatch:",
                      { Ref: "AWS::Region" },
                      ":",
                      { Ref: "AWS::AccountId" },
                      ":alarm:*",
                    ],
                  ],
                },
              },
            },
          },
        ],
      },
    });
  });

  it("subscribes the alarmEmail context value", () => {
    template.hasResourceProperties("AWS::SNS::Subscription", {
      Protocol: "email",
      Endpoint: "ops@example.com",
      TopicArn: ref(stack.monitoring.topic),
    });
  });

  it("warns at synth when nobody is subscribed, and not otherwise", () => {
    const warnings = (target: HooklineStack) =>
      Annotations.fromStack(target).findWarning("*", Match.stringLikeRegexp("alarmEmail"));
    expect(warnings(buildStack())).toHaveLength(1);
    expect(warnings(buildStack())[0]?.entry.data).toContain(NO_ALARM_SUBSCRIBER);
    expect(warnings(stack)).toEqual([]);
  });

  it("has no subscription without alarmEmail", () => {
    Template.fromStack(buildStack()).resourceCountIs("AWS::SNS::Subscription", 0);
  });
});

describe("dashboard", () => {
  it("is there only when asked for (context dashboard=true)", () => {
    template.resourceCountIs("AWS::CloudWatch::Dashboard", 0);
    expect(template.findOutputs("DashboardUrl")).toEqual({});
  });

  it("shows the alarms and every figure they watch, the table and the digest backlog", () => {
    const withDashboard = buildStack({ dashboard: true });
    const dashboardTemplate = Template.fromStack(withDashboard);
    const body = JSON.stringify(
      Object.values(dashboardTemplate.findResources("AWS::CloudWatch::Dashboard"))[0]?.Properties,
    );
    for (const figure of [
      "alarm",
      "SignatureFailures",
      "Messages",
      ...OUTCOMES,
      "DigestBacklog",
      "BitrixErrors",
      "BitrixConfigFaults",
      "DeliveryLatency",
      "ApproximateAgeOfOldestMessage",
      "ApproximateNumberOfMessagesVisible",
      "ConsumedWriteCapacityUnits",
      "ReadThrottleEvents",
      "ThrottledRequests",
      "OldestUndelivered",
      "4xx",
      "5xx",
      "Errors",
    ]) {
      expect(body).toContain(figure);
    }
    expect(body).not.toContain("limited");
    dashboardTemplate.hasOutput("DashboardUrl", {
      Value: { "Fn::Join": ["", Match.arrayWith([Match.stringLikeRegexp("#dashboards:name=")])] },
    });
  });
});

describe("the series only the dashboard reads", () => {
  /** Every hookline metric an alarm of `stack` reads: its name and dimensions. */
  const alarmedSeries = (built: Template) =>
    Object.values(built.findResources("AWS::CloudWatch::Alarm")).flatMap((alarm) => {
      const props = alarm.Properties as AlarmProps & {
        Namespace?: string;
        MetricName?: string;
        Dimensions?: Array<{ Name: string; Value: string }>;
      };
      const stats = (props.Metrics ?? []).flatMap((m) => (m.MetricStat ? [m.MetricStat] : []));
      const metrics = stats.map(
        (stat) =>
          (stat as { Metric: { Namespace: string; MetricName: string; Dimensions?: [] } }).Metric,
      );
      if (props.MetricName) metrics.push(props as never);
      return metrics
        .filter((metric) => metric.Namespace === "Hookline")
        .map((metric) => ({
          name: metric.MetricName,
          dimensions: Object.fromEntries(
            ((metric.Dimensions ?? []) as Array<{ Name: string; Value: string }>).map((d) => [
              d.Name,
              d.Value,
            ]),
          ),
        }));
    });

  it("are read by no alarm, so a stack without the dashboard leaves them out", () => {
    const series = alarmedSeries(template);
    // The alarms on hookline's own metrics: unknown outcomes, signatures, configuration faults,
    // the sweeper's heartbeat, the oldest undelivered message (and OAuth refreshes with OAuth).
    expect(series.map((one) => one.name)).toEqual(
      expect.arrayContaining([
        "Messages",
        "SignatureFailures",
        "DigestBacklog",
        "OldestUndelivered",
      ]),
    );
    for (const one of series) expect(isDashboardOnly(one.name, one.dimensions)).toBe(false);
    // What is left out is what the dashboard draws of every message.
    expect(isDashboardOnly("Messages", { Outcome: "sent" })).toBe(true);
    expect(isDashboardOnly("DeliveryLatency")).toBe(true);
  });

  it("are written by deliver only on a stack with the dashboard", () => {
    const deliverVariables = (built: Template) =>
      Object.entries(built.findResources("AWS::Lambda::Function"))
        .filter(([id]) => id.startsWith("Deliver"))
        .map(
          ([, fn]) =>
            (fn.Properties as { Environment: { Variables: Record<string, unknown> } }).Environment
              .Variables[DASHBOARD_SERIES_VARIABLE],
        );
    expect(deliverVariables(template)).toEqual([undefined]);
    expect(deliverVariables(Template.fromStack(buildStack({ dashboard: true })))).toEqual(["true"]);
  });
});

describe("per-portal health", () => {
  it("gives each portal a dashboard row when there is more than one", () => {
    const raw = JSON.parse(readFileSync(FIXTURE_CONFIG, "utf8")) as Record<string, unknown>;
    const portal = (id: string, url: string) => ({
      id,
      webhookUrl: url,
      openLines: { support: "ab515f5d85a8b844d484f6ea75a2e494" },
    });
    const two = buildStack({
      dashboard: true,
      configPath: writeConfig({
        ...raw,
        bitrix: undefined,
        portals: [portal("main", "env:MAIN_URL"), portal("eu", "env:EU_URL")],
        routes: [],
      }),
    });
    const body = JSON.stringify(
      Object.values(Template.fromStack(two).findResources("AWS::CloudWatch::Dashboard"))[0],
    );
    for (const id of ["main", "eu"]) {
      for (const title of [
        `Portal ${id}: messages by outcome`,
        `Portal ${id}: rate-limit and operating-limit answers`,
        `Portal ${id}: oldest undelivered message (ms)`,
      ]) {
        expect(body).toContain(title);
      }
      // The series hookline writes for the portal (portalMetrics, makeEmfMetrics).
      expect(body).toContain(`\\"Portal\\",\\"${id}\\"`);
    }
    for (const code of ["QUERY_LIMIT_EXCEEDED", "OPERATION_TIME_LIMIT"])
      expect(body).toContain(code);
    // One portal: its figures are the totals; no rows of its own.
    const one = Template.fromStack(buildStack({ dashboard: true }));
    expect(JSON.stringify(one.findResources("AWS::CloudWatch::Dashboard"))).not.toContain(
      "Portal default",
    );
  });
});

describe("README", () => {
  it("explains every alarm the stack creates, and what to do when it fires (docs/alarms.md)", () => {
    const alarmsSection = readFileSync(resolve(PROJECT_ROOT, "docs/alarms.md"), "utf8");
    const oauth = buildStack({
      configPath: writeConfig({
        ...JSON.parse(readFileSync(FIXTURE_CONFIG, "utf8")),
        bitrix: undefined,
        portals: [
          {
            id: "eu",
            url: "https://eu-example.bitrix24.com",
            oauth: { clientId: "env:ID", clientSecret: "env:SECRET", refreshToken: "env:RT" },
            openLines: { billing: "ab515f5d85a8b844d484f6ea75a2e494" },
          },
        ],
        routes: [],
      }),
    });
    const names = new Set(
      [...stack.monitoring.alarms, ...oauth.monitoring.alarms].map((alarm) => alarm.node.id),
    );
    for (const name of names) expect(alarmsSection).toContain(`\n| ${name} |`);
    const rows = alarmsSection.match(/^\| [A-Za-z0-9&;-]+ \|/gm) ?? [];
    expect(rows.length - 1).toBe(names.size); // less the header row
  });

  it("names every output the stack prints, in the deploy guide", () => {
    const deploy = readFileSync(resolve(PROJECT_ROOT, "docs/deploy.md"), "utf8");
    const outputs = Object.keys(
      Template.fromStack(buildStack({ dashboard: true, accessLogs: true })).findOutputs("*"),
    );
    for (const output of outputs) {
      const documented = output
        .replace(/^WebhookUrl.*/, "WebhookUrl<source>")
        .replace(/^Secret[A-Z0-9]+$/, "Secret<NAME>");
      expect(deploy).toContain(`\`${documented}\``);
    }
  });
});

/**
 * The AWS metrics an alarm may read, with the dimensions it names them by and when AWS publishes
 * them (each service's "CloudWatch metrics" page). A metric not listed here, or named by other
 * dimensions, would be an alarm on a series that never exists.
 */
const AWS_METRICS: Record<string, { dimensions: string[]; publishedWhen: string }> = {
  "AWS/SQS ApproximateNumberOfMessagesVisible": {
    dimensions: ["QueueName"],
    publishedWhen: "every minute for an active queue (up to 6 h after the last activity)",
  },
  "AWS/SQS ApproximateAgeOfOldestMessage": {
    dimensions: ["QueueName"],
    publishedWhen: "for messages received fewer than three times",
  },
  "AWS/SQS NumberOfMessagesSent": {
    dimensions: ["QueueName"],
    publishedWhen: "SendMessage to the queue; a redrive by SQS is not counted",
  },
  "AWS/Lambda Errors": { dimensions: ["FunctionName"], publishedWhen: "an invocation fails" },
  "AWS/Lambda Invocations": { dimensions: ["FunctionName"], publishedWhen: "every invocation" },
  "AWS/ApiGateway Count": { dimensions: ["ApiId"], publishedWhen: "every request (HTTP API)" },
  "AWS/ApiGateway 4xx": { dimensions: ["ApiId"], publishedWhen: "4xx answers, 429 included" },
  "AWS/ApiGateway 5xx": {
    dimensions: ["ApiId"],
    publishedWhen: "5xx answers, a failed integration included",
  },
  "AWS/DynamoDB ReadThrottleEvents": {
    dimensions: ["TableName"],
    publishedWhen: "a read event of the table is throttled",
  },
  "AWS/DynamoDB ThrottledRequests": {
    dimensions: ["Operation", "TableName"],
    publishedWhen: "a request with any throttled event, the table's or an index's",
  },
};

describe("what the alarms read", () => {
  it("reads only AWS metrics that AWS publishes under those dimensions", () => {
    const read = Object.entries(alarms).flatMap(([id, alarm]) => {
      const single = alarm.MetricName
        ? [
            {
              Namespace: alarm.Namespace,
              MetricName: alarm.MetricName,
              Dimensions: alarm.Dimensions,
            },
          ]
        : [];
      const stats = (alarm.Metrics ?? []).flatMap((m) =>
        m.MetricStat ? [m.MetricStat.Metric as Record<string, unknown>] : [],
      );
      return [...single, ...stats].map((metric) => ({ id, ...metric }));
    }) as Array<{ id: string; Namespace: string; MetricName: string; Dimensions?: unknown }>;
    const aws = read.filter((metric) => metric.Namespace.startsWith("AWS/"));
    expect(aws.length).toBeGreaterThan(0);
    for (const metric of aws) {
      const known = AWS_METRICS[`${metric.Namespace} ${metric.MetricName}`];
      expect(known, `${metric.id}: ${metric.Namespace} ${metric.MetricName}`).toBeDefined();
      const names = ((metric.Dimensions ?? []) as Array<{ Name: string }>).map((d) => d.Name);
      expect(names.sort(), metric.id).toEqual(known?.dimensions);
    }
    // The others are hookline's, checked against what the bundles print
    // (test/integration/log-filter.test.ts).
    expect(
      read.filter((metric) => !metric.Namespace.startsWith("AWS/")).map((m) => m.Namespace),
    ).toEqual(expect.arrayContaining(["Hookline"]));
  });
});
