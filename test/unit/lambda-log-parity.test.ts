import { Logger } from "@aws-lambda-powertools/logger";
import type { Context } from "aws-lambda";
import { afterEach, describe, expect, it, vi } from "vitest";
import { makeLambdaLog } from "../../functions/adapters/lambda-log";

/**
 * The Lambdas write their own log lines (functions/adapters/lambda-log.ts) instead of loading
 * Powertools Logger on every cold start. Operators' Logs Insights queries, the metric filter on
 * errors and docs/alarms.md read Powertools' field names: this holds our lines to the lines
 * Powertools Logger writes for the same calls, field for field and in the same order.
 */

const context = {
  functionName: "hookline-deliver",
  invokedFunctionArn: "arn:aws:lambda:eu-central-1:123456789012:function:hookline-deliver",
  // A string, as Lambda's Node.js runtime gives it (AWS_LAMBDA_FUNCTION_MEMORY_SIZE).
  memoryLimitInMB: "512",
  awsRequestId: "c6af9ac6-7b61-11e6-9a41-93e812345678",
} as unknown as Context;

/** Every line written to stdout and stderr while `run` runs, parsed, with the stream's name. */
function captured(run: () => void): { stream: string; line: Record<string, unknown> }[] {
  const lines: { stream: string; line: Record<string, unknown> }[] = [];
  const spy = (stream: "stdout" | "stderr") =>
    vi.spyOn(process[stream], "write").mockImplementation((chunk: unknown) => {
      for (const text of String(chunk).split("\n")) {
        if (text.trim() !== "") lines.push({ stream, line: JSON.parse(text) });
      }
      return true;
    });
  // Powertools writes through console when POWERTOOLS_DEV is set, and through its own Console on
  // process.stdout/stderr otherwise: both end in these writes.
  const spies = [spy("stdout"), spy("stderr")];
  try {
    run();
  } finally {
    for (const s of spies) s.mockRestore();
  }
  return lines;
}

/**
 * The line without its time, and without `cold_start`: Powertools keeps its cold-start flag per
 * process (already spent in a test run); ours is tested in test/unit/telemetry.test.ts.
 */
const withoutTime = ({ stream, line }: { stream: string; line: Record<string, unknown> }) => {
  const { timestamp, cold_start, ...rest } = line;
  expect(Date.parse(String(timestamp))).not.toBeNaN();
  return { stream, keys: Object.keys(line), line: rest };
};

describe("hookline's Lambda log lines", () => {
  afterEach(() => vi.unstubAllEnvs());

  it("are Powertools Logger's lines: fields, their order, the Lambda context, streams", () => {
    vi.stubEnv("POWERTOOLS_DEV", "");
    vi.stubEnv("AWS_LAMBDA_LOG_LEVEL", "");
    vi.stubEnv("_X_AMZN_TRACE_ID", "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1");
    type Calls = Pick<Logger, "info" | "warn">;
    const calls = (log: Calls) => {
      log.info("message sent", { jobId: "stripe:evt_1:0", portal: "default", attempts: 2 });
      log.warn("Bitrix24 answered 503", { code: "QUERY_LIMIT_EXCEEDED", nested: { a: [1, 2] } });
    };

    const powertools = new Logger({ serviceName: "hookline", logLevel: "DEBUG" });
    powertools.addContext(context);
    const theirs = captured(() => calls(powertools));

    const ours = makeLambdaLog({ service: "hookline", level: "DEBUG" });
    ours.setContext(context);
    const mine = captured(() => calls(ours as unknown as Calls));

    expect(theirs).toHaveLength(2);
    expect(mine.map(withoutTime)).toEqual(theirs.map(withoutTime));
  });

  it("write an Error attribute under the same fields as Powertools", () => {
    vi.stubEnv("POWERTOOLS_DEV", "");
    vi.stubEnv("AWS_LAMBDA_LOG_LEVEL", "");
    vi.stubEnv("_X_AMZN_TRACE_ID", "");
    const error = new TypeError("fetch failed");
    const powertools = new Logger({ serviceName: "hookline" });
    const theirs = captured(() => powertools.error("could not send", { error }));
    const mine = captured(() =>
      makeLambdaLog({ service: "hookline", level: "INFO" }).error("could not send", { error }),
    );
    expect(mine.map(withoutTime)).toEqual(theirs.map(withoutTime));
  });
});
