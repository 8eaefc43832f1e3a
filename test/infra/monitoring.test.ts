import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { Match, Template } from "aws-cdk-lib/assertions";
import { beforeAll, describe, expect, it } from "vitest";
import { deliveryTimings } from "../../functions/core/delivery-timings";
import { OUTCOMES } from "../../functions/core/outcome";
import { API_MIN_THROTTLE } from "../../lib/capacity";
import { type HooklineStack, PROJECT_ROOT } from "../../lib/hookline-stack";
import { ALARM_THRESHOLDS, RATE_FLOOR } from "../../lib/monitoring";
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
        "IngestErrorRate",
        "QueueAgeHigh",
        "SignatureFailures-github",
        "SignatureFailures-shop-orders",
        "SignatureFailures-stripe",
        "SweepErrors",
        "UnknownOutcomes",
      ].sort(),
    );
    for (const alarm of Object.values(alarms)) {
      expect(alarm).toMatchObject({
        AlarmActions: [ref(stack.monitoring.topic)],
        OKActions: [ref(stack.monitoring.topic)],
        ComparisonOperator: "GreaterThanOrEqualToThreshold",
        TreatMissingData: "notBreaching",
        AlarmDescription: expect.stringContaining("README"),
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

  it("fires again on each new dead letter, also while the queue is already in alarm", () => {
    const alarm = alarms.DeadLetterArrivals;
    expect(expressionOf(alarm)).toBe("FILL(sent, 0) + IF(DIFF(visible) > 0, DIFF(visible), 0)");
    const queue = [{ Name: "QueueName", Value: attribute(stack.deadLetterQueue, "QueueName") }];
    expect(inputsOf(alarm)).toEqual({
      sent: {
        Metric: { Namespace: "AWS/SQS", MetricName: "NumberOfMessagesSent", Dimensions: queue },
        Period: 60,
        Stat: "Sum",
      },
      visible: {
        Metric: {
          Namespace: "AWS/SQS",
          MetricName: "ApproximateNumberOfMessagesVisible",
          Dimensions: queue,
        },
        Period: 60,
        Stat: "Maximum",
      },
    });
    expect(alarm?.Threshold).toBe(ALARM_THRESHOLDS.deadLetterArrivals);
  });

  it.each([
    ["DeliverErrorRate", "AWS/Lambda", "Errors", "Invocations", () => ref(stack.deliver.fn)],
    ["IngestErrorRate", "AWS/Lambda", "Errors", "Invocations", () => ref(stack.ingest.fn)],
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
        IngestErrorRate: ALARM_THRESHOLDS.ingestErrorRate,
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

  it("fires on DynamoDB read and write throttling", () => {
    const alarm = alarms.DynamoDbThrottles;
    expect(expressionOf(alarm)).toBe("FILL(reads, 0) + FILL(writes, 0)");
    const table = [{ Name: "TableName", Value: ref(stack.table) }];
    expect(inputsOf(alarm)).toMatchObject({
      reads: { Metric: { MetricName: "ReadThrottleEvents", Dimensions: table }, Stat: "Sum" },
      writes: { Metric: { MetricName: "WriteThrottleEvents", Dimensions: table }, Stat: "Sum" },
    });
    expect(alarm?.Threshold).toBe(ALARM_THRESHOLDS.dynamoThrottles);
  });

  it("fires when the oldest queued message is older than the retry window allows for", () => {
    expect(alarms.QueueAgeHigh).toMatchObject({
      Namespace: "AWS/SQS",
      MetricName: "ApproximateAgeOfOldestMessage",
      Dimensions: [{ Name: "QueueName", Value: attribute(stack.queue, "QueueName") }],
      Threshold: deliveryTimings(stack.config).queueAgeAlarmSeconds,
    });
  });

  it("fires when the sweeper fails most of its runs", () => {
    expect(alarms.SweepErrors).toMatchObject({
      Namespace: "AWS/Lambda",
      MetricName: "Errors",
      Dimensions: [{ Name: "FunctionName", Value: ref(stack.sweep.fn) }],
      Statistic: "Sum",
      Period: 300,
      Threshold: ALARM_THRESHOLDS.sweepErrors,
    });
  });

  it.each(["github", "stripe", "shop-orders"])(
    "fires on a spike of signature failures from %s",
    (source) => {
      expect(alarms[`SignatureFailures-${source}`]).toMatchObject({
        Namespace: "Hookline",
        MetricName: "SignatureFailures",
        Dimensions: [{ Name: "Source", Value: source }, service],
        Statistic: "Sum",
        Period: 300,
        Threshold: ALARM_THRESHOLDS.signatureFailures,
      });
    },
  );

  it("fires on a Bitrix24 configuration fault", () => {
    expect(alarms.BitrixConfigFaults).toMatchObject({
      Namespace: "Hookline",
      MetricName: "BitrixConfigFaults",
      Dimensions: [service],
      Statistic: "Sum",
      Threshold: ALARM_THRESHOLDS.bitrixConfigFaults,
    });
  });

  it("fires on an unknown outcome, with or without the weekly limit", () => {
    // With it, an unanswered send whose retry window runs out is `unknown` too.
    expect(alarms.UnknownOutcomes).toMatchObject({
      Namespace: "Hookline",
      MetricName: "Messages",
      Dimensions: [{ Name: "Outcome", Value: "unknown" }, service],
      Statistic: "Sum",
      Threshold: ALARM_THRESHOLDS.unknownOutcomes,
      AlarmDescription: expect.stringContaining("retry window ran out"),
    });
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
      "WriteThrottleEvents",
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

describe("README", () => {
  const readme = readFileSync(resolve(PROJECT_ROOT, "README.md"), "utf8");
  const section = (title: string) => {
    const start = readme.indexOf(`## ${title}`);
    return readme.slice(start, readme.indexOf("\n## ", start + 1));
  };

  it("explains every alarm the stack creates, and what to do when it fires", () => {
    const alarmsSection = section("Alarms and what to do when they fire");
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
      [...stack.monitoring.alarms, ...oauth.monitoring.alarms].map((alarm) =>
        alarm.node.id
          .replace(/^SignatureFailures-.*/, "SignatureFailures-&lt;source&gt;")
          .replace(/^OAuthRefreshFailures-.*/, "OAuthRefreshFailures-&lt;portal&gt;"),
      ),
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
