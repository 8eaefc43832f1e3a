import { Match, Template } from "aws-cdk-lib/assertions";
import { beforeAll, describe, expect, it } from "vitest";
import type { HooklineStack } from "../../lib/hookline-stack";
import { ALARM_THRESHOLDS } from "../../lib/monitoring";
import { buildStack, references } from "./synth";

let stack: HooklineStack;
let template: Template;
let ref: ReturnType<typeof references>["ref"];
let attribute: (construct: Parameters<typeof ref>[0], name: string) => unknown;

beforeAll(() => {
  stack = buildStack({ alarmEmail: "ops@example.com" });
  template = Template.fromStack(stack);
  const refs = references(stack);
  ref = refs.ref;
  attribute = (construct, name) => ({ "Fn::GetAtt": [refs.id(construct), name] });
});

const service = { Name: "service", Value: "hookline" };

describe("alarms", () => {
  it("notify the topic on alarm and on recovery, and stay quiet without data", () => {
    const alarms = Object.values(template.findResources("AWS::CloudWatch::Alarm"));
    // 6 stack-wide alarms plus one signature-failure alarm per configured source (3).
    expect(alarms).toHaveLength(9);
    for (const alarm of alarms) {
      expect(alarm.Properties).toMatchObject({
        AlarmActions: [ref(stack.monitoring.topic)],
        OKActions: [ref(stack.monitoring.topic)],
        ComparisonOperator: "GreaterThanOrEqualToThreshold",
        TreatMissingData: "notBreaching",
      });
    }
  });

  it("fires when the dead-letter queue holds a message", () => {
    template.hasResourceProperties("AWS::CloudWatch::Alarm", {
      Namespace: "AWS/SQS",
      MetricName: "ApproximateNumberOfMessagesVisible",
      Dimensions: [{ Name: "QueueName", Value: attribute(stack.deadLetterQueue, "QueueName") }],
      Statistic: "Maximum",
      Threshold: ALARM_THRESHOLDS.deadLetterMessages,
    });
  });

  it("fires when the oldest queued message is too old", () => {
    template.hasResourceProperties("AWS::CloudWatch::Alarm", {
      Namespace: "AWS/SQS",
      MetricName: "ApproximateAgeOfOldestMessage",
      Dimensions: [{ Name: "QueueName", Value: attribute(stack.queue, "QueueName") }],
      Threshold: ALARM_THRESHOLDS.queueAgeSeconds,
    });
  });

  it("fires on deliver function errors", () => {
    template.hasResourceProperties("AWS::CloudWatch::Alarm", {
      Namespace: "AWS/Lambda",
      MetricName: "Errors",
      Dimensions: [{ Name: "FunctionName", Value: ref(stack.deliver.fn) }],
      Statistic: "Sum",
      Threshold: ALARM_THRESHOLDS.deliverErrors,
    });
  });

  it("fires on 5xx answers of the HTTP API", () => {
    template.hasResourceProperties("AWS::CloudWatch::Alarm", {
      Namespace: "AWS/ApiGateway",
      MetricName: "5xx",
      Dimensions: [{ Name: "ApiId", Value: ref(stack.api) }],
      Statistic: "Sum",
      Threshold: ALARM_THRESHOLDS.ingest5xx,
    });
  });

  it.each(["github", "stripe", "shop-orders"])(
    "fires on a spike of signature failures from %s",
    (source) => {
      template.hasResourceProperties("AWS::CloudWatch::Alarm", {
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
    template.hasResourceProperties("AWS::CloudWatch::Alarm", {
      Namespace: "Hookline",
      MetricName: "BitrixConfigFaults",
      Dimensions: [service],
      Statistic: "Sum",
      Threshold: ALARM_THRESHOLDS.bitrixConfigFaults,
    });
  });

  it("fires on an unknown outcome", () => {
    template.hasResourceProperties("AWS::CloudWatch::Alarm", {
      Namespace: "Hookline",
      MetricName: "Messages",
      Dimensions: [{ Name: "Outcome", Value: "unknown" }, service],
      Statistic: "Sum",
      Threshold: ALARM_THRESHOLDS.unknownOutcomes,
    });
  });
});

describe("alarm topic", () => {
  it("is TLS-only and subscribes the alarmEmail context value", () => {
    template.hasResourceProperties("AWS::SNS::TopicPolicy", {
      PolicyDocument: {
        Statement: [
          Match.objectLike({
            Effect: "Deny",
            Condition: { Bool: { "aws:SecureTransport": "false" } },
          }),
        ],
      },
    });
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
  it("shows the alarms and every figure they watch", () => {
    const body = JSON.stringify(
      Object.values(template.findResources("AWS::CloudWatch::Dashboard"))[0]?.Properties,
    );
    for (const figure of [
      "alarm",
      "WebhooksReceived",
      "SignatureFailures",
      "Messages",
      "unknown",
      "BitrixErrors",
      "BitrixConfigFaults",
      "DeliveryLatency",
      "ApproximateAgeOfOldestMessage",
      "ApproximateNumberOfMessagesVisible",
      "5xx",
      "Errors",
    ]) {
      expect(body).toContain(figure);
    }
  });
});

describe("outputs", () => {
  it("prints the webhook URL of every configured source", () => {
    for (const [key, source] of [
      ["WebhookUrlgithub", "github"],
      ["WebhookUrlstripe", "stripe"],
      ["WebhookUrlshoporders", "shop-orders"],
    ] as const) {
      template.hasOutput(key, {
        Value: {
          "Fn::Join": ["", [attribute(stack.api, "ApiEndpoint"), `/webhooks/${source}`]],
        },
      });
    }
  });

  it("prints the dashboard link, the alarm topic and the secrets to fill in", () => {
    template.hasOutput("DashboardUrl", {
      Value: { "Fn::Join": ["", Match.arrayWith([Match.stringLikeRegexp("#dashboards:name=")])] },
    });
    template.hasOutput("AlarmTopicArn", { Value: ref(stack.monitoring.topic) });
    for (const name of ["GITHUB_WEBHOOK_SECRET", "STRIPE_WEBHOOK_SECRET", "BITRIX_WEBHOOK_URL"]) {
      const secret = stack.secrets.byName.get(name);
      expect(secret).toBeDefined();
      if (secret) template.hasOutput(`Secret${name.replaceAll("_", "")}`, { Value: ref(secret) });
    }
  });
});
