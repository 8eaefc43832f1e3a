import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Template } from "aws-cdk-lib/assertions";
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  Context,
  SQSBatchResponse,
  SQSEvent,
} from "aws-lambda";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ensureTable } from "../../functions/adapters/dynamo/table";
import { type BitrixSimulator, startBitrixSimulator } from "../../functions/local/bitrix-simulator";
import { fakeContext } from "../../functions/local/http-server";
import { bundleFunction } from "../../lib/bundling";
import { buildStack } from "../infra/synth";
import { OPEN_LINE_CODE, TEST_SECRETS, testConfig } from "../support/bridge";
import { type LocalDynamo, makeTestClient, startDynalite } from "../support/dynamo-servers";
import { type FakeSqs, startFakeSqs, toSqsEvent } from "../support/fake-sqs";
import {
  issueOpened,
  nativeImport,
  restoreEnv,
  useLocalAws,
  webhookEvent,
} from "../support/lambda-bundles";
import {
  githubRequest,
  type SignedRequest,
  stripeInvoiceFailed,
  stripeRequest,
} from "../support/signers";

/**
 * What CloudWatch receives from each bundled function, under the log settings of the synthesized
 * template. Lambda's log-level filter drops application lines below the function's
 * `LoggingConfig.ApplicationLogLevel` before they reach CloudWatch Logs, and a metric in embedded
 * metric format (EMF) exists only if its line reaches CloudWatch Logs.
 *
 * The rule, from "Log-level filtering" in the Lambda developer guide
 * (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html):
 * - levels, most detailed first: TRACE, DEBUG, INFO, WARN, ERROR, FATAL; "Lambda sends logs of the
 *   selected level and lower" in detail (WARN keeps WARN, ERROR and FATAL);
 * - a JSON line is classified by its `"level"` key; "If the "level" value field is invalid or
 *   missing, Lambda assigns the log output the level INFO", and "When Lambda filters your
 *   function's application logs, any log message without a level will be assigned the log level
 *   INFO" (so a plain-text line, or an EMF line, is INFO);
 * - log-level filtering requires the JSON log format.
 * The runtime sets AWS_LAMBDA_LOG_LEVEL and AWS_LAMBDA_LOG_FORMAT from the LoggingConfig
 * ("Using advanced logging controls with Node.js": Powertools reads them), as this test does.
 */
const LAMBDA_LEVELS = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"] as const;
type LambdaLevel = (typeof LAMBDA_LEVELS)[number];

interface PrintedLine {
  text: string;
  json: Record<string, unknown> | undefined;
}

/** The level Lambda gives a printed line. */
function lambdaLevelOf(line: PrintedLine): LambdaLevel {
  const level = line.json?.level;
  const upper = typeof level === "string" ? level.toUpperCase() : "";
  return (LAMBDA_LEVELS as readonly string[]).includes(upper) ? (upper as LambdaLevel) : "INFO";
}

/** Lambda's filter: kept when the line's level is the configured one or less detailed. */
function survives(line: PrintedLine, applicationLogLevel: string): boolean {
  const configured = LAMBDA_LEVELS.indexOf(applicationLogLevel as LambdaLevel);
  if (configured < 0) throw new Error(`not a Lambda log level: ${applicationLogLevel}`);
  return LAMBDA_LEVELS.indexOf(lambdaLevelOf(line)) >= configured;
}

/** An EMF line's metrics: namespace, name and dimension set, as CloudWatch extracts them. */
interface EmittedMetric {
  namespace: string;
  name: string;
  dimensions: Record<string, string>;
}

function metricsOf(line: PrintedLine): EmittedMetric[] {
  const aws = line.json?._aws as
    | {
        CloudWatchMetrics?: Array<{
          Namespace: string;
          Dimensions: string[][];
          Metrics: Array<{ Name: string }>;
        }>;
      }
    | undefined;
  const json = line.json ?? {};
  return (aws?.CloudWatchMetrics ?? []).flatMap((directive) =>
    directive.Metrics.flatMap((metric) =>
      directive.Dimensions.map((set) => ({
        namespace: directive.Namespace,
        name: metric.Name,
        dimensions: Object.fromEntries(set.map((key) => [key, String(json[key])])),
      })),
    ),
  );
}

type IngestHandler = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyStructuredResultV2>;
type DeliverHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;
type SweepHandler = (event: Record<string, unknown>, context: Context) => Promise<unknown>;

const FUNCTIONS = {
  ingest: "functions/ingest/handler.ts",
  deliver: "functions/deliver/handler.ts",
  sweep: "functions/sweep/handler.ts",
} as const;
type FunctionName = keyof typeof FUNCTIONS;

/** Each function's log settings and plain environment variables, from the synthesized template. */
function functionSettings() {
  const stack = buildStack();
  const template = Template.fromStack(stack);
  const resources = template.toJSON().Resources as Record<
    string,
    { Properties: Record<string, unknown> }
  >;
  const settings = {} as Record<
    FunctionName,
    {
      logging: { LogFormat: string; ApplicationLogLevel: string };
      variables: Record<string, string>;
    }
  >;
  for (const name of Object.keys(FUNCTIONS) as FunctionName[]) {
    const id = stack.getLogicalId(stack[name].fn.node.defaultChild as never);
    const properties = resources[id]?.Properties ?? {};
    const variables = (properties.Environment as { Variables: Record<string, unknown> }).Variables;
    settings[name] = {
      logging: properties.LoggingConfig as { LogFormat: string; ApplicationLogLevel: string },
      // References (table name, queue URLs) are the local servers' here.
      variables: Object.fromEntries(
        Object.entries(variables).filter((entry): entry is [string, string] => {
          return typeof entry[1] === "string";
        }),
      ),
    };
  }
  return settings;
}

const TABLE = "hookline-log-filter";

describe("what each bundle prints, through Lambda's log-level filter", () => {
  const savedEnv = { ...process.env };
  const settings = functionSettings();
  const printed = { ingest: [], deliver: [], sweep: [] } as Record<FunctionName, PrintedLine[]>;
  let workDir: string;
  let dynamo: LocalDynamo | undefined;
  let simulator: BitrixSimulator | undefined;
  let sqs: FakeSqs | undefined;

  /** Runs `invoke` in the function's Lambda environment, recording every line it prints. */
  const asLambda = async <T>(name: FunctionName, invoke: () => Promise<T>): Promise<T> => {
    const { logging, variables } = settings[name];
    Object.assign(process.env, variables, {
      AWS_LAMBDA_LOG_FORMAT: logging.LogFormat,
      AWS_LAMBDA_LOG_LEVEL: logging.ApplicationLogLevel,
      LAMBDA_TASK_ROOT: join(workDir, name),
    });
    const record = (chunk: unknown) => {
      for (const text of String(chunk).split("\n").filter(Boolean)) {
        let json: Record<string, unknown> | undefined;
        try {
          json = JSON.parse(text) as Record<string, unknown>;
        } catch {
          json = undefined;
        }
        printed[name].push({ text, json });
      }
      return true;
    };
    const out = vi.spyOn(process.stdout, "write").mockImplementation(record);
    const err = vi.spyOn(process.stderr, "write").mockImplementation(record);
    try {
      return await invoke();
    } finally {
      out.mockRestore();
      err.mockRestore();
    }
  };
  const load = (name: FunctionName) =>
    asLambda(name, async () => {
      const module = await nativeImport(join(workDir, name, "index.mjs"));
      expect(typeof module.handler).toBe("function");
      return module.handler;
    });

  beforeAll(async () => {
    workDir = await mkdtemp(join(tmpdir(), "hookline-log-filter-"));
    const config = testConfig({ bitrix: { webhookUrl: "env:BITRIX_WEBHOOK_URL" } });
    for (const [name, entry] of Object.entries(FUNCTIONS)) {
      bundleFunction(entry, join(workDir, name), { config });
    }
    [dynamo, simulator, sqs] = await Promise.all([
      startDynalite(),
      startBitrixSimulator({ openLineCodes: [OPEN_LINE_CODE] }),
      startFakeSqs(),
    ]);
    await ensureTable(makeTestClient(dynamo.endpoint), TABLE);
    for (const name of [
      "POWERTOOLS_DEV",
      "POWERTOOLS_LOG_LEVEL",
      "POWERTOOLS_METRICS_DISABLED",
      "LOG_LEVEL",
    ]) {
      delete process.env[name];
    }
    useLocalAws(
      workDir,
      { dynamodb: dynamo.endpoint, sqs: sqs.endpoint },
      { BITRIX_WEBHOOK_URL: simulator.webhookUrl, ...TEST_SECRETS },
    );
    // The template's variables, with the references (table, queues) pointed at the local servers.
    for (const name of Object.keys(FUNCTIONS) as FunctionName[]) {
      Object.assign(settings[name].variables, {
        HOOKLINE_TABLE: TABLE,
        HOOKLINE_QUEUE_URL: sqs.queueUrl("hookline"),
        ...(name === "deliver" && {
          HOOKLINE_DEAD_LETTER_QUEUE_URL: sqs.queueUrl("hookline-dead-letters"),
        }),
      });
    }

    const ingest = (await load("ingest")) as IngestHandler;
    const deliver = (await load("deliver")) as DeliverHandler;
    const sweep = (await load("sweep")) as SweepHandler;
    const callIngest = (request: SignedRequest, sourceId: string) =>
      asLambda("ingest", () => ingest(webhookEvent(sourceId, request), fakeContext()));
    const deliverNext = async () => {
      const message = sqs?.messages.at(-1);
      if (!message) throw new Error("nothing queued");
      return asLambda("deliver", () =>
        deliver(toSqsEvent([message], { receiveCount: 1 }), fakeContext(30_000)),
      );
    };

    // Ingest: a rejected signature, then three accepted webhooks.
    expect(
      (await callIngest(await githubRequest("wrong", "issues", issueOpened()), "github"))
        .statusCode,
    ).toBe(401);
    // Deliver: sent, deferred (the user's week is used), and a configuration fault (401).
    for (const request of [
      await githubRequest(TEST_SECRETS.GITHUB_SECRET, "issues", issueOpened("first")),
      await githubRequest(TEST_SECRETS.GITHUB_SECRET, "issues", issueOpened("second")),
    ]) {
      expect((await callIngest(request, "github")).statusCode).toBe(202);
      await deliverNext();
    }
    const invoice = stripeRequest(TEST_SECRETS.STRIPE_SECRET, stripeInvoiceFailed("cus_e2e", 500));
    expect((await callIngest(invoice, "stripe")).statusCode).toBe(202);
    simulator.inject({ status: 401, error: "NO_AUTH_FOUND" });
    await deliverNext();
    // Sweep: the deferred event's digest is not due yet; the backlog is counted anyway.
    await asLambda("sweep", () => sweep({}, fakeContext()));
  }, 90_000);

  afterAll(async () => {
    restoreEnv(savedEnv);
    await Promise.allSettled([dynamo?.close(), simulator?.close(), sqs?.close()]);
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  it.each(Object.keys(FUNCTIONS) as FunctionName[])(
    "%s: every metric line it prints reaches CloudWatch",
    (name) => {
      const { logging } = settings[name];
      expect(logging.LogFormat).toBe("JSON");
      const metricLines = printed[name].filter((line) => metricsOf(line).length > 0);
      expect(metricLines.length).toBeGreaterThan(0);
      const dropped = metricLines.filter((line) => !survives(line, logging.ApplicationLogLevel));
      expect(dropped.map((line) => line.text)).toEqual([]);
    },
  );

  it("emits each of hookline's metrics in these runs, and all of them survive", () => {
    const surviving = Object.entries(printed).flatMap(([name, lines]) =>
      lines
        .filter((line) =>
          survives(line, settings[name as FunctionName].logging.ApplicationLogLevel),
        )
        .flatMap(metricsOf),
    );
    const names = new Set(surviving.map((metric) => metric.name));
    expect([...names].sort()).toEqual(
      [
        "BitrixConfigFaults",
        "BitrixErrors",
        "DeliveryLatency",
        "DigestBacklog",
        "Messages",
        "SignatureFailures",
        "WebhooksReceived",
      ].sort(),
    );
    expect(
      surviving.filter((metric) => metric.name === "Messages").map((m) => m.dimensions.Outcome),
    ).toEqual(expect.arrayContaining(["sent", "deferred", "failed"]));
  });

  it.each(Object.keys(FUNCTIONS) as FunctionName[])(
    "%s: no DEBUG or TRACE line reaches CloudWatch, nor hookline's own lines below its level",
    (name) => {
      const { logging, variables } = settings[name];
      const kept = printed[name].filter((line) => survives(line, logging.ApplicationLogLevel));
      expect(kept.filter((line) => ["TRACE", "DEBUG"].includes(lambdaLevelOf(line)))).toEqual([]);
      // hookline's log lines (not metrics) stay at its own level: INFO lines would repeat the
      // outcome records at a cost (lib/hookline-stack.ts, DEFAULT_LOG_LEVEL).
      const ownLevel = variables.HOOKLINE_LOG_LEVEL ?? logging.ApplicationLogLevel;
      const belowOwn = kept.filter(
        (line) =>
          metricsOf(line).length === 0 &&
          LAMBDA_LEVELS.indexOf(lambdaLevelOf(line)) < LAMBDA_LEVELS.indexOf(ownLevel as never),
      );
      expect(belowOwn.map((line) => line.text)).toEqual([]);
    },
  );

  it("still lets hookline's errors through (the failed message's outcome)", () => {
    const warnings = printed.deliver.filter(
      (line) => survives(line, settings.deliver.logging.ApplicationLogLevel) && line.json?.message,
    );
    expect(warnings.map((line) => lambdaLevelOf(line))).toContain("ERROR");
  });
});
