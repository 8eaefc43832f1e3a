import middy from "@middy/core";
import type { Context } from "aws-lambda";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { lambdaLogContext, makeLambdaLog } from "../../functions/adapters/lambda-log";
import {
  DASHBOARD_SERIES_VARIABLE,
  makeEmfMetrics,
  pointsWritten,
  withMetricsFlush,
} from "../../functions/adapters/telemetry";
import { Metric, type Metrics, portalMetrics } from "../../functions/core/metrics";

// What Lambda passes an on-demand instance: its context and AWS_LAMBDA_INITIALIZATION_TYPE.
const context = (awsRequestId: string) =>
  ({
    awsRequestId,
    functionName: "Hookline-DeliverFunction",
    functionVersion: "$LATEST",
    invokedFunctionArn:
      "arn:aws:lambda:eu-central-1:123456789012:function:Hookline-DeliverFunction",
    memoryLimitInMB: "192",
    getRemainingTimeInMillis: () => 10_000,
  }) as unknown as Context;

let lines: Array<Record<string, unknown>>;

beforeEach(() => {
  vi.stubEnv("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand");
  vi.stubEnv("POWERTOOLS_DEV", "");
  lines = [];
  // JSON lines written to the process's streams, as on Lambda: warnings and errors to stderr.
  const capture = (chunk: unknown) => {
    lines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
    return true;
  };
  vi.spyOn(process.stdout, "write").mockImplementation(capture);
  vi.spyOn(process.stderr, "write").mockImplementation(capture);
});

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
});

describe("lambdaLogContext", () => {
  it("puts the request id and the cold-start flag on every line of an invocation", async () => {
    const log = makeLambdaLog();
    const handler = middy()
      .use(lambdaLogContext(log))
      .handler(async () => {
        log.info("message outcome", { outcome: "sent" });
      });

    await handler({}, context("request-1"));
    await handler({}, context("request-2"));

    expect(lines).toEqual([
      expect.objectContaining({
        message: "message outcome",
        outcome: "sent",
        function_request_id: "request-1",
        cold_start: true,
        function_name: "Hookline-DeliverFunction",
        function_memory_size: "192",
      }),
      expect.objectContaining({ function_request_id: "request-2", cold_start: false }),
    ]);
  });

  it("keeps the context on lines written after the handler failed (the error responder's)", async () => {
    const log = makeLambdaLog();
    const handler = middy()
      .use(lambdaLogContext(log))
      .use({ onError: async () => log.error("request failed") })
      .handler(async () => {
        throw new Error("boom");
      });

    await expect(handler({}, context("request-3"))).rejects.toThrow("boom");
    expect(lines).toEqual([
      expect.objectContaining({ message: "request failed", function_request_id: "request-3" }),
    ]);
  });
});

describe("makeLambdaLog", () => {
  it("writes Powertools Logger's line shape: context, trace id, attributes, an Error's fields", async () => {
    vi.stubEnv(
      "_X_AMZN_TRACE_ID",
      "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
    );
    const log = makeLambdaLog({ level: "INFO" });
    const handler = middy()
      .use(lambdaLogContext(log))
      .handler(async () => {
        log.warn("could not set retry delay", {
          messageId: "m-1",
          message: "a reserved key is dropped",
          error: new Error("boom", { cause: "network" }),
          missing: undefined,
        });
      });
    const stderr = vi.mocked(process.stderr.write);
    await handler({}, context("request-9"));
    expect(stderr).toHaveBeenCalledTimes(1);
    const [line] = lines;
    expect(Object.keys(line ?? {})).toEqual([
      "level",
      "message",
      "timestamp",
      "service",
      "cold_start",
      "function_arn",
      "function_memory_size",
      "function_name",
      "function_request_id",
      "sampling_rate",
      "xray_trace_id",
      "messageId",
      "error",
    ]);
    expect(line).toMatchObject({
      level: "WARN",
      message: "could not set retry delay",
      service: "hookline",
      cold_start: true,
      function_memory_size: "192",
      function_request_id: "request-9",
      sampling_rate: 0,
      xray_trace_id: "1-5759e988-bd862e3fe1be46a994272793",
      messageId: "m-1",
      error: {
        name: "Error",
        // The first `(file:line:column)` frame, as Powertools finds it (test/unit/lambda-log-parity.test.ts).
        location: expect.stringMatching(/^[^()]+:\d+$/),
        message: "boom",
        stack: expect.stringContaining("Error: boom"),
        cause: "network",
      },
    });
    expect(Date.parse(String(line?.timestamp))).not.toBeNaN();
  });

  it("writes DEBUG and INFO to stdout, below Lambda's own filter nothing", () => {
    vi.stubEnv("AWS_LAMBDA_LOG_LEVEL", "DEBUG");
    makeLambdaLog({ level: "DEBUG" }).info("info line");
    expect(vi.mocked(process.stdout.write)).toHaveBeenCalledTimes(1);
    vi.stubEnv("AWS_LAMBDA_LOG_LEVEL", "ERROR");
    const filtered = makeLambdaLog({ level: "DEBUG" });
    filtered.warn("dropped: Lambda filters at ERROR");
    filtered.error("kept");
    expect(lines.map((line) => line.message)).toEqual(["info line", "kept"]);
  });

  it("writes a line whose attributes are circular or BigInt instead of throwing", () => {
    const loop: Record<string, unknown> = { name: "loop" };
    loop.self = loop;
    makeLambdaLog({ level: "INFO" }).error("odd attributes", { loop, big: 10n });
    expect(lines).toEqual([
      expect.objectContaining({ loop: { name: "loop", self: "[Circular]" }, big: "10" }),
    ]);
  });

  it("counts no cold start on a provisioned instance", async () => {
    vi.stubEnv("AWS_LAMBDA_INITIALIZATION_TYPE", "provisioned-concurrency");
    const log = makeLambdaLog({ level: "INFO" });
    const handler = middy()
      .use(lambdaLogContext(log))
      .handler(async () => log.info("line"));
    await handler({}, context("request-1"));
    expect(lines).toEqual([expect.objectContaining({ cold_start: false })]);
  });

  it("drops hookline's lines below its own level, whatever level Lambda filters at", () => {
    vi.stubEnv("AWS_LAMBDA_LOG_LEVEL", "INFO");
    const log = makeLambdaLog({ level: "WARN" });
    log.debug("debug line");
    log.info("info line");
    log.warn("warn line");
    log.error("error line");
    expect(lines.map((line) => [line.level, line.message])).toEqual([
      ["WARN", "warn line"],
      ["ERROR", "error line"],
    ]);
  });
});

describe("makeEmfMetrics", () => {
  const flushed = (record: (metrics: Metrics) => void) => {
    const written: string[] = [];
    const metrics = makeEmfMetrics(
      (line) => written.push(line),
      () => 1_796_000_000_000,
    );
    record(metrics);
    expect(written).toEqual([]); // nothing before the flush
    metrics.flush();
    metrics.flush(); // a second flush writes nothing again
    return written.map((line) => {
      expect(line.endsWith("\n")).toBe(true);
      return JSON.parse(line) as Record<string, unknown>;
    });
  };

  it.each([
    {
      name: "a deliver batch: outcomes and latencies in one line, values as arrays",
      record: (m: Metrics) => {
        for (const latency of [120, 340]) {
          m.count(Metric.Messages, { Outcome: "sent" });
          m.milliseconds(Metric.DeliveryLatency, latency);
        }
      },
      lines: [
        {
          _aws: {
            Timestamp: 1_796_000_000_000,
            CloudWatchMetrics: [
              {
                Namespace: "Hookline",
                Dimensions: [["Outcome", "service"]],
                Metrics: [{ Name: "Messages", Unit: "Count" }],
              },
              {
                Namespace: "Hookline",
                Dimensions: [["service"]],
                Metrics: [{ Name: "DeliveryLatency", Unit: "Milliseconds" }],
              },
            ],
          },
          service: "hookline",
          Outcome: "sent",
          Messages: [1, 1],
          DeliveryLatency: [120, 340],
        },
      ],
    },
    {
      name: "clashing dimension values: a line each",
      record: (m: Metrics) => {
        m.count(Metric.Messages, { Outcome: "sent" });
        m.count(Metric.Messages, { Outcome: "deferred" });
        m.count(Metric.BitrixErrors, { Code: "QUERY_LIMIT_EXCEEDED" });
      },
      lines: [
        expect.objectContaining({
          Outcome: "sent",
          Messages: 1,
          Code: "QUERY_LIMIT_EXCEEDED",
          BitrixErrors: 1,
        }),
        expect.objectContaining({ Outcome: "deferred", Messages: 1 }),
      ],
    },
    {
      name: "a per-portal point: counted by portal and in the total, in one directive",
      record: (m: Metrics) => m.count(Metric.Messages, { Outcome: "sent", Portal: "eu" }),
      lines: [
        expect.objectContaining({
          _aws: expect.objectContaining({
            CloudWatchMetrics: [
              {
                Namespace: "Hookline",
                Dimensions: [
                  ["Outcome", "Portal", "service"],
                  ["Outcome", "service"],
                ],
                Metrics: [{ Name: "Messages", Unit: "Count" }],
              },
            ],
          }),
          Portal: "eu",
          Outcome: "sent",
          Messages: 1,
        }),
      ],
    },
    {
      name: "a signature failure: counted by source and in the total the one alarm reads",
      record: (m: Metrics) => m.count(Metric.SignatureFailures, { Source: "github" }),
      lines: [
        {
          _aws: {
            Timestamp: 1_796_000_000_000,
            CloudWatchMetrics: [
              {
                Namespace: "Hookline",
                Dimensions: [["Source", "service"], ["service"]],
                Metrics: [{ Name: "SignatureFailures", Unit: "Count" }],
              },
            ],
          },
          service: "hookline",
          Source: "github",
          SignatureFailures: 1,
        },
      ],
    },
    { name: "nothing counted: no line", record: () => {}, lines: [] },
  ])("$name", ({ record, lines }) => {
    expect(flushed(record)).toEqual(lines);
  });

  it("leaves out the series only the dashboard reads, unless the stack has the dashboard", () => {
    const names = (env: Record<string, string>) => {
      const written: string[] = [];
      const metrics = makeEmfMetrics(
        (line) => written.push(line),
        () => 0,
        pointsWritten(env),
      );
      metrics.count(Metric.Messages, { Outcome: "sent", Portal: "eu" });
      metrics.count(Metric.Messages, { Outcome: "deferred" });
      metrics.count(Metric.Messages, { Outcome: "notified" });
      metrics.milliseconds(Metric.DeliveryLatency, 1200);
      metrics.count(Metric.Messages, { Outcome: "unknown" });
      metrics.count(Metric.Messages, { Outcome: "failed" });
      metrics.count(Metric.SignatureFailures, { Source: "github" });
      metrics.flush();
      // Each metric a line declares, `Messages` with its outcome.
      return written.flatMap((line) => {
        const emf = JSON.parse(line) as {
          _aws: { CloudWatchMetrics: Array<{ Metrics: Array<{ Name: string }> }> };
          Outcome?: string;
        };
        const declared = emf._aws.CloudWatchMetrics.flatMap((d) => d.Metrics.map((m) => m.Name));
        return [...new Set(declared)].map((name) =>
          name === "Messages" ? `Messages ${emf.Outcome}` : name,
        );
      });
    };
    expect(names({}).sort()).toEqual(["Messages failed", "Messages unknown", "SignatureFailures"]);
    expect(names({ [DASHBOARD_SERIES_VARIABLE]: "true" }).sort()).toEqual([
      "DeliveryLatency",
      "Messages deferred",
      "Messages failed",
      "Messages notified",
      "Messages sent",
      "Messages unknown",
      "SignatureFailures",
    ]);
  });

  it("writes nothing when metrics are disabled (POWERTOOLS_METRICS_DISABLED)", () => {
    vi.stubEnv("POWERTOOLS_METRICS_DISABLED", "true");
    const written: string[] = [];
    const metrics = makeEmfMetrics((line) => written.push(line));
    metrics.count(Metric.SignatureFailures, { Source: "github" });
    metrics.flush();
    expect(written).toEqual([]);
  });

  it("flushes when the handler ends, also when it throws", async () => {
    const written: string[] = [];
    const metrics = makeEmfMetrics((line) => written.push(line));
    const failing = withMetricsFlush(async () => {
      metrics.count(Metric.SignatureFailures, { Source: "github" });
      throw new Error("boom");
    }, metrics);
    await expect(failing({}, context("request-4"))).rejects.toThrow("boom");
    expect(written).toHaveLength(1);
  });
});

describe("portalMetrics", () => {
  const recorded = (portals: number) => {
    const points: unknown[] = [];
    const metrics = portalMetrics(
      {
        count: (name, dimensions) => points.push([name, dimensions]),
        milliseconds: (name, _value, dimensions) => points.push([name, dimensions]),
      },
      "eu",
      portals,
    );
    metrics.count(Metric.Messages, { Outcome: "sent" });
    metrics.count(Metric.BitrixErrors, { Code: "QUERY_LIMIT_EXCEEDED" });
    metrics.milliseconds(Metric.DeliveryLatency, 5);
    return points;
  };

  it.each([
    {
      portals: 2,
      points: [
        ["Messages", { Outcome: "sent", Portal: "eu" }],
        ["BitrixErrors", { Code: "QUERY_LIMIT_EXCEEDED", Portal: "eu" }],
        ["DeliveryLatency", undefined],
      ],
    },
    {
      portals: 1,
      points: [
        ["Messages", { Outcome: "sent" }],
        ["BitrixErrors", { Code: "QUERY_LIMIT_EXCEEDED" }],
        ["DeliveryLatency", undefined],
      ],
    },
  ])(
    "with $portals portal(s): the portal on its per-portal metrics only",
    ({ portals, points }) => {
      const expected = points.map(([name, dimensions]) =>
        name === "DeliveryLatency" ? [name, undefined] : [name, dimensions],
      );
      expect(recorded(portals)).toEqual(expected);
    },
  );
});
