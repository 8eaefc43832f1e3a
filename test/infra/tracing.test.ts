import { App } from "aws-cdk-lib";
import { Annotations, Match, Template } from "aws-cdk-lib/assertions";
import { AwsSolutionsChecks } from "cdk-nag";
import { describe, expect, it } from "vitest";
import { stackPropsFromContext } from "../../lib/app-props";
import { buildStack } from "./synth";

/** Every function's environment variables, by the function's description. */
function environments(stack: ReturnType<typeof buildStack>) {
  const functions = Template.fromStack(stack).findResources("AWS::Lambda::Function");
  return Object.values(functions).map((fn) => ({
    name: String(fn.Properties.Description),
    variables: (fn.Properties.Environment?.Variables ?? {}) as Record<string, unknown>,
    layers: fn.Properties.Layers as unknown,
  }));
}

/** The sweeper (by its description) first, then the others. */
const sortedBySweep = (functions: ReturnType<typeof environments>) => {
  const isSweep = (fn: { name: string }) => fn.name.includes("weekly digest is due");
  return [...functions.filter(isSweep), ...functions.filter((fn) => !isSweep(fn))];
};

const tracingNames = (variables: Record<string, unknown>) =>
  Object.keys(variables).filter((name) => name.startsWith("OTEL_") || name === "HOOKLINE_TRACING");

const tracingWarnings = (stack: ReturnType<typeof buildStack>) =>
  Annotations.fromStack(stack).findWarning("*", Match.stringLikeRegexp("tracing:"));

describe("tracing (context tracing=true, docs/tracing.md)", () => {
  it("is off by default: no function gets a tracing variable or a layer", () => {
    const stack = buildStack();
    const functions = environments(stack);
    expect(functions).toHaveLength(3);
    for (const fn of functions) {
      expect(tracingNames(fn.variables)).toEqual([]);
      expect(fn.layers).toBeUndefined();
    }
    expect(tracingWarnings(stack)).toEqual([]);
  });

  it("gives ingest and deliver the OTEL_* environment, and no layer (the SDK is in the bundle)", () => {
    const stack = buildStack({ tracing: { otlpEndpoint: "https://otel.example.com:4318" } });
    const [sweep, ...traced] = sortedBySweep(environments(stack));
    // The sweeper starts no trace: a digest's deliver span starts its own.
    expect(tracingNames(sweep?.variables ?? {})).toEqual([]);
    expect(traced).toHaveLength(2);
    for (const fn of traced) {
      expect(fn.variables).toMatchObject({
        HOOKLINE_TRACING: "true",
        OTEL_SERVICE_NAME: "hookline",
        OTEL_TRACES_EXPORTER: "otlp",
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
        OTEL_EXPORTER_OTLP_ENDPOINT: "https://otel.example.com:4318",
        OTEL_EXPORTER_OTLP_TIMEOUT: "2000",
      });
      expect(fn.layers).toBeUndefined();
    }
    expect(tracingWarnings(stack)).toEqual([]);
  });

  it("warns at synth when spans would go to a local collector nobody added", () => {
    const stack = buildStack({ tracing: {} });
    const [, ...traced] = sortedBySweep(environments(stack));
    for (const fn of traced) {
      expect(fn.variables.OTEL_EXPORTER_OTLP_ENDPOINT).toBe("http://localhost:4318");
    }
    expect(tracingWarnings(stack)).toHaveLength(1);
  });

  it("keeps cdk-nag clean with tracing on", () => {
    const stack = buildStack({ alarmEmail: "ops@example.com", tracing: {} });
    expect(new AwsSolutionsChecks().validateScope(stack).violations).toEqual([]);
  });

  it("reads -c tracing and -c otlpEndpoint, and refuses an endpoint with credentials", () => {
    const props = (context: Record<string, unknown>) => stackPropsFromContext(new App({ context }));
    expect(props({}).tracing).toBeUndefined();
    expect(props({ tracing: "false" }).tracing).toBeUndefined();
    expect(props({ tracing: "true" }).tracing).toEqual({ otlpEndpoint: undefined });
    expect(props({ tracing: true, otlpEndpoint: "https://otel.example.com:4318" }).tracing).toEqual(
      { otlpEndpoint: "https://otel.example.com:4318" },
    );
    expect(() =>
      props({ tracing: "true", otlpEndpoint: "https://user:key@otel.example.com" }),
    ).toThrow(/-c otlpEndpoint: no credentials/);
    expect(() => props({ tracing: "true", otlpEndpoint: "otel" })).toThrow(/not a URL/);
    // A value that is no URL may still hold a key (here a bad port): the error never shows it.
    expect(() =>
      props({ tracing: "true", otlpEndpoint: "https://user:s3cr3t@otel:99999" }),
    ).toThrow(expect.objectContaining({ message: expect.not.stringContaining("s3cr3t") }));
  });
});
