import type { App } from "aws-cdk-lib";
import { ApplicationLogLevel } from "aws-cdk-lib/aws-lambda";
import { ConfigError } from "../functions/core/errors";
import type { HooklineStackProps } from "./hookline-stack";
import { checkOtlpEndpoint } from "./tracing";

/**
 * The stack's props from the app's context (`-c key=value`, or cdk.json), shared by `cdk synth`
 * (bin/app.ts) and `npm run cost`, so both see the same stack.
 *
 * | context | prop |
 * |---|---|
 * | `config` | config file path (default `hookline.config.json`) |
 * | `alarmEmail` | subscribed to the alarm topic |
 * | `allowNoTarget` | `true`: synth without a Bitrix24 target (a dry run) |
 * | `allowTestWeek` | `true`: synth a config whose weekSeconds is not Bitrix24's (a test stack) |
 * | `dashboard` | `false`: no CloudWatch dashboard |
 * | `accessLogs` | `true`: HTTP API access logs |
 * | `apiRateLimit`, `apiBurstLimit` | the HTTP API throttle (default: from the config) |
 * | `accountConcurrency` | the account's Lambda concurrency quota, if raised (default 1,000) |
 * | `secretsKmsKeyArns` | comma-separated KMS keys of imported secrets |
 * | `logLevel` | hookline's lowest log level kept (`INFO`, `WARN`, `DEBUG`, …) |
 * | `tracing` | `true`: OpenTelemetry traces, one per webhook event (docs/tracing.md) |
 * | `otlpEndpoint` | where traces go (default `http://localhost:4318`, a collector extension) |
 *
 * @example
 * new HooklineStack(app, "Hookline", stackPropsFromContext(app));
 */
export function stackPropsFromContext(app: App): HooklineStackProps {
  const context = (key: string): unknown => app.node.tryGetContext(key);
  const flag = (key: string): boolean | undefined => {
    const value = context(key);
    return value === undefined ? undefined : value === true || value === "true";
  };
  const positive = (key: string): number | undefined => {
    const value = context(key);
    if (value === undefined) return undefined;
    const parsed = Number(value);
    if (!Number.isFinite(parsed) || parsed <= 0) {
      throw new ConfigError(`-c ${key}: must be a positive number`);
    }
    return parsed;
  };
  const levels = Object.values(ApplicationLogLevel);
  const level = context("logLevel");
  const logLevel =
    level === undefined ? undefined : levels.find((l) => l === String(level).toUpperCase());
  if (level !== undefined && !logLevel) {
    throw new ConfigError(`-c logLevel: one of ${levels.join(", ")}`);
  }
  return {
    configPath: String(context("config") ?? "hookline.config.json"),
    alarmEmail: context("alarmEmail") as string | undefined,
    allowNoTarget: flag("allowNoTarget"),
    allowTestWeek: flag("allowTestWeek"),
    dashboard: flag("dashboard"),
    accessLogs: flag("accessLogs"),
    apiThrottle: definedOnly({
      rateLimit: positive("apiRateLimit"),
      burstLimit: positive("apiBurstLimit"),
    }),
    accountConcurrency: positive("accountConcurrency"),
    secretsKmsKeyArns: String(context("secretsKmsKeyArns") ?? "")
      .split(",")
      .map((arn) => arn.trim())
      .filter(Boolean),
    logLevel,
    ...(flag("tracing") && {
      tracing: {
        otlpEndpoint:
          context("otlpEndpoint") === undefined
            ? undefined
            : checkOtlpEndpoint(String(context("otlpEndpoint"))),
      },
    }),
    description: "hookline: signed webhooks to Bitrix24 open-line messages",
  };
}

/** The object without its undefined values (a partial throttle override). */
const definedOnly = <T extends object>(value: { [K in keyof T]: T[K] | undefined }): Partial<T> =>
  Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
