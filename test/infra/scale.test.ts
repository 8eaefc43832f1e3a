import { Template } from "aws-cdk-lib/assertions";
import { beforeAll, describe, expect, it } from "vitest";
import { HooklineStack } from "../../lib/hookline-stack";
import { manyPortalsConfig } from "./many-portals";
import { testApp, writeConfig } from "./synth";

/**
 * 1,000 portals in one stack (docs/scale.md): the template `cdk synth` makes for a generated
 * config of 1,000 portals, 100 senders and 1,000 routes stays inside the platform's limits.
 */

type Resource = { Type: string; Properties?: Record<string, unknown> };
let template: { Resources: Record<string, Resource>; Outputs?: Record<string, unknown> };
let stack: HooklineStack;

beforeAll(() => {
  const configPath = writeConfig(manyPortalsConfig({ portals: 1000, sources: 100 }));
  stack = new HooklineStack(testApp(), "Hookline", { configPath });
  template = Template.fromStack(stack).toJSON() as typeof template;
}, 120_000);

const ofType = (type: string) =>
  Object.entries(template.Resources).filter(([, resource]) => resource.Type === type);

/** Pseudo parameters' longest values; any other reference is taken as 256 characters. */
const PSEUDO: Record<string, number> = {
  "AWS::Region": 14,
  "AWS::AccountId": 12,
  "AWS::Partition": 10,
  "AWS::URLSuffix": 13,
};
const TOKEN_LENGTH = 256;

/** A template value as text, every reference at its longest: what the limit is checked on. */
function worstCase(value: unknown): string {
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (Array.isArray(value)) return JSON.stringify(value.map(worstCase));
  const object = value as Record<string, unknown>;
  if ("Ref" in object) return "x".repeat(PSEUDO[object.Ref as string] ?? TOKEN_LENGTH);
  if ("Fn::GetAtt" in object || "Fn::ImportValue" in object) return "x".repeat(TOKEN_LENGTH);
  if ("Fn::Join" in object) {
    const [separator, parts] = object["Fn::Join"] as [string, unknown[]];
    return parts.map(worstCase).join(separator);
  }
  return JSON.stringify(
    Object.fromEntries(Object.entries(object).map(([key, inner]) => [key, worstCase(inner)])),
  );
}

describe("1,000 portals in one stack", () => {
  it("the generated config has them", () => {
    expect(stack.config.portals).toHaveLength(1000);
    expect(stack.config.sources).toHaveLength(100);
    expect(stack.config.routes).toHaveLength(1000);
  });

  // https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html
  it("stays inside CloudFormation's limits: 200 outputs, 500 resources, a 1 MB template", () => {
    expect(Object.keys(template.Outputs ?? {}).length).toBeLessThanOrEqual(200);
    expect(Object.keys(template.Resources).length).toBeLessThanOrEqual(500);
    expect(JSON.stringify(template).length).toBeLessThanOrEqual(1_000_000);
  });

  it("makes as many alarms for 100 senders and 1,000 portals as for one: each reads a total", () => {
    // One SignatureFailures alarm, not one per source (was 112 alarms here; docs/scale.md).
    const alarms = ofType("AWS::CloudWatch::Alarm").map(([id]) => id);
    expect(alarms.filter((id) => id.includes("SignatureFailures"))).toHaveLength(1);
    expect(alarms.length).toBeLessThanOrEqual(20);
  });

  // https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html: 4 KB of
  // environment variables per function, all of them together.
  it("keeps every function's environment under Lambda's 4 KB, however many secrets", () => {
    const functions = ofType("AWS::Lambda::Function");
    expect(functions.length).toBeGreaterThanOrEqual(3);
    for (const [id, fn] of functions) {
      const variables = (fn.Properties?.Environment as { Variables?: Record<string, unknown> })
        ?.Variables;
      const size = Object.entries(variables ?? {}).reduce(
        (sum, [key, value]) => sum + key.length + worstCase(value).length,
        0,
      );
      expect(size, id).toBeLessThanOrEqual(4096);
    }
  });

  // https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html: a role's
  // inline policies together at most 10,240 characters, a managed policy 6,144 (whitespace
  // not counted).
  it("keeps each role's policies under IAM's size limits, one grant for all secrets", () => {
    const byRole = new Map<string, number>();
    for (const [, policy] of ofType("AWS::IAM::Policy")) {
      const size = worstCase(policy.Properties?.PolicyDocument).length;
      for (const role of (policy.Properties?.Roles ?? []) as Array<{ Ref: string }>) {
        byRole.set(role.Ref, (byRole.get(role.Ref) ?? 0) + size);
      }
    }
    expect(byRole.size).toBeGreaterThanOrEqual(3);
    for (const [role, size] of byRole) {
      expect(size, role).toBeLessThanOrEqual(10_240);
    }
    for (const [, policy] of ofType("AWS::IAM::ManagedPolicy")) {
      expect(worstCase(policy.Properties?.PolicyDocument).length).toBeLessThanOrEqual(6144);
    }
    const parameterGrants = JSON.stringify(template.Resources).match(/ssm:GetParameter/g) ?? [];
    expect(parameterGrants).toHaveLength(2); // ingest's and deliver's, one statement each
  });

  // https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html: an SQS event
  // source's maximum concurrency is 2 to 1,000; https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html:
  // 1,000 concurrent executions per account by default, shared by every function.
  it("caps deliver's concurrency inside the event source's range, leaving the account room for ingest", () => {
    const [mapping] = ofType("AWS::Lambda::EventSourceMapping");
    const scaling = mapping?.[1].Properties?.ScalingConfig as { MaximumConcurrency: number };
    const deliverMax = scaling.MaximumConcurrency;
    expect(deliverMax).toBeGreaterThanOrEqual(2);
    expect(deliverMax).toBeLessThanOrEqual(1000);
    const [, stage] = ofType("AWS::ApiGatewayV2::Stage")[0] ?? [];
    const throttle = stage?.Properties?.DefaultRouteSettings as {
      ThrottlingRateLimit: number;
      ThrottlingBurstLimit: number;
    };
    // Ingest at the throttle's full rate, each webhook 40 ms, and 100 for other functions.
    const ingestAtFullRate = Math.ceil(throttle.ThrottlingRateLimit * 0.04);
    expect(deliverMax + ingestAtFullRate + 100).toBeLessThanOrEqual(1000);
    for (const [, fn] of ofType("AWS::Lambda::Function")) {
      expect(fn.Properties?.ReservedConcurrentExecutions).toBeUndefined();
    }
    // https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-quotas.html:
    // 10,000 requests/s and a burst of 5,000 per account; 10 M webhooks a day are 116/s.
    expect(throttle.ThrottlingRateLimit).toBeLessThanOrEqual(10_000);
    expect(throttle.ThrottlingBurstLimit).toBeLessThanOrEqual(5_000);
    expect(throttle.ThrottlingRateLimit).toBeGreaterThanOrEqual(4 * 116);
  });
});
