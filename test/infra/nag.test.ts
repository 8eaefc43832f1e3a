import { Queue } from "aws-cdk-lib/aws-sqs";
import { AwsSolutionsChecks } from "cdk-nag";
import { describe, expect, it } from "vitest";
import { buildStack } from "./synth";

describe("cdk-nag AwsSolutions", () => {
  it("has no unacknowledged finding", () => {
    const stack = buildStack({ alarmEmail: "ops@example.com" });
    const report = new AwsSolutionsChecks().validateScope(stack);
    expect(
      report.violations.map((violation) => ({
        rule: violation.ruleName,
        resources: violation.violatingResources.map((resource) => resource.constructPath),
      })),
    ).toEqual([]);
  });

  it("reports what nobody acknowledged (the check is live)", () => {
    const stack = buildStack();
    new Queue(stack, "Unguarded"); // no dead-letter queue, no TLS-only policy
    const rules = new AwsSolutionsChecks().validateScope(stack).violations.map((v) => v.ruleName);
    expect(rules).toEqual(expect.arrayContaining(["AwsSolutions-SQS3", "AwsSolutions-SQS4"]));
  });
});
