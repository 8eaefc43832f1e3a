import { App } from "aws-cdk-lib";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../functions/core/errors";
import { stackPropsFromContext } from "../../lib/app-props";

const props = (context: Record<string, unknown>) => stackPropsFromContext(new App({ context }));

describe("the stack's context (-c key=value, or cdk.json)", () => {
  it("has defaults for everything", () => {
    expect(props({})).toMatchObject({
      configPath: "hookline.config.json",
      alarmEmail: undefined,
      allowNoTarget: undefined,
      dashboard: undefined,
      accessLogs: undefined,
      apiThrottle: {},
      accountConcurrency: undefined,
      secretsKmsKeyArns: [],
      logLevel: undefined,
    });
  });

  it("reads the command line's strings and cdk.json's JSON values alike", () => {
    expect(
      props({
        config: "prod.json",
        alarmEmail: "ops@example.com",
        allowNoTarget: "true",
        dashboard: true,
        accessLogs: "false",
        apiRateLimit: "20",
        apiBurstLimit: 40,
        accountConcurrency: "3000",
        secretsKmsKeyArns: "arn:aws:kms:eu-central-1:1:key/a, arn:aws:kms:eu-central-1:1:key/b",
        logLevel: "info",
      }),
    ).toMatchObject({
      configPath: "prod.json",
      alarmEmail: "ops@example.com",
      allowNoTarget: true,
      dashboard: true,
      accessLogs: false,
      apiThrottle: { rateLimit: 20, burstLimit: 40 },
      accountConcurrency: 3000,
      secretsKmsKeyArns: ["arn:aws:kms:eu-central-1:1:key/a", "arn:aws:kms:eu-central-1:1:key/b"],
      logLevel: "INFO",
    });
  });

  it("names a bad value, as a config error does", () => {
    expect(() => props({ apiRateLimit: "fast" })).toThrow(ConfigError);
    expect(() => props({ apiRateLimit: "fast" })).toThrow(
      /-c apiRateLimit: must be a positive number/,
    );
    expect(() => props({ logLevel: "LOUD" })).toThrow(/-c logLevel: one of .*WARN/);
  });
});
