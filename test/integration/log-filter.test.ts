import { join } from "node:path";
import { DeleteTableCommand } from "@aws-sdk/client-dynamodb";
import { Template } from "aws-cdk-lib/assertions";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { OUTCOMES } from "../../functions/core/outcome";
import { fakeContext } from "../../functions/local/http-server";
import type { HooklineStack } from "../../lib/hookline-stack";
import { buildStack } from "../infra/synth";
import { TEST_SECRETS, testConfig } from "../support/bridge";
import { makeTestClient } from "../support/dynamo-servers";
import { toSqsEvent } from "../support/fake-sqs";
import {
  type DeliverHandler,
  type FunctionName,
  type IngestHandler,
  issueOpened,
  LAMBDA_ENTRIES,
  nativeImport,
  type SweepHandler,
  useBundledLambdas,
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

/** Each function's log settings and plain environment variables, from the synthesized template. */
function functionSettings(stack: HooklineStack, template: Template) {
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
  for (const name of Object.keys(LAMBDA_ENTRIES) as FunctionName[]) {
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
  const stack = buildStack();
  const template = Template.fromStack(stack);
  const settings = functionSettings(stack, template);
  const printed = { ingest: [], deliver: [], sweep: [] } as Record<FunctionName, PrintedLine[]>;
  const lambdas = useBundledLambdas(
    "log-filter",
    TABLE,
    testConfig({ bitrix: { webhookUrl: "env:BITRIX_WEBHOOK_URL" } }),
  );

  /** Runs `invoke` in the function's Lambda environment, recording every line it prints. */
  const asLambda = async <T>(name: FunctionName, invoke: () => Promise<T>): Promise<T> => {
    const { logging, variables } = settings[name];
    Object.assign(process.env, variables, {
      AWS_LAMBDA_LOG_FORMAT: logging.LogFormat,
      AWS_LAMBDA_LOG_LEVEL: logging.ApplicationLogLevel,
      LAMBDA_TASK_ROOT: join(lambdas.workDir, name),
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
      const module = await nativeImport(lambdas.bundles[name]);
      expect(typeof module.handler).toBe("function");
      return module.handler;
    });

  /** Every metric hookline printed that reached CloudWatch, from all three functions. */
  const survivingMetrics = () =>
    Object.entries(printed).flatMap(([name, lines]) =>
      lines
        .filter((line) =>
          survives(line, settings[name as FunctionName].logging.ApplicationLogLevel),
        )
        .flatMap(metricsOf),
    );

  beforeAll(async () => {
    const { workDir, dynamo, simulator, sqs } = lambdas;
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
    for (const name of Object.keys(LAMBDA_ENTRIES) as FunctionName[]) {
      // Secrets come from the environment here, not Parameter Store (its reads are tested with the
      // secret resolver): without the prefix, `env:NAME` reads the variable.
      delete settings[name].variables.HOOKLINE_SECRET_PREFIX;
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
      const message = sqs.messages.at(-1);
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
    // Deliver: sent, deferred (the user's week is used), and a configuration fault (401): counted
    // in BitrixConfigFaults, the message kept for a later try, no outcome yet (docs/ledger.md).
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
    // Its next try is refused for good: a failed outcome, counted (an alarm reads Messages).
    simulator.inject({ status: 400, error: "WRONG_REQUEST" });
    await deliverNext();
    // Sweep: the deferred event's digest is not due yet; the backlog is counted anyway.
    await asLambda("sweep", () => sweep({}, fakeContext()));
    // An unexpected error for one message (the table is gone): deliver hands it back.
    await makeTestClient(dynamo.endpoint).send(new DeleteTableCommand({ TableName: TABLE }));
    const first = sqs.messages[0];
    if (!first) throw new Error("nothing queued");
    const retried = toSqsEvent([{ ...first, messageId: "m-unexpected" }], { receiveCount: 2 });
    const answer = await asLambda("deliver", () => deliver(retried, fakeContext(30_000)));
    expect(answer.batchItemFailures).toEqual([{ itemIdentifier: "m-unexpected" }]);
  }, 90_000);

  it.each(Object.keys(LAMBDA_ENTRIES) as FunctionName[])(
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

  it("emits each of hookline's metrics in these runs but those only a dashboard reads, and all of them survive", () => {
    const surviving = survivingMetrics();
    const names = new Set(surviving.map((metric) => metric.name));
    // The stack has no dashboard: deliver leaves out the sent and deferred counts and the
    // latency of the messages it sent (docs/alarms.md, "What the alarms and metrics cost").
    expect([...names].sort()).toEqual(
      [
        "BitrixConfigFaults",
        "BitrixErrors",
        "DigestBacklog",
        "Messages",
        "OldestUndelivered",
        "SignatureFailures",
      ].sort(),
    );
    expect(
      surviving.filter((metric) => metric.name === "Messages").map((m) => m.dimensions.Outcome),
    ).toEqual(["failed"]);
  });

  it.each(Object.keys(LAMBDA_ENTRIES) as FunctionName[])(
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

  it("counts deliver's unexpected per-message error through the alarm's metric filter", () => {
    const [filter] = Object.values(template.findResources("AWS::Logs::MetricFilter")) as Array<{
      Properties: { FilterPattern: string; MetricTransformations: Array<{ MetricName: string }> };
    }>;
    const matching = printed.deliver.filter(
      (line) =>
        survives(line, settings.deliver.logging.ApplicationLogLevel) &&
        matchesJsonFilter(filter?.Properties.FilterPattern ?? "", line.json),
    );
    expect(matching).toHaveLength(1);
    expect(matching[0]?.json).toMatchObject({ messageId: "m-unexpected" });
    expect(filter?.Properties.MetricTransformations[0]?.MetricName).toBe("DeliverMessageErrors");
  });

  it("alarms only on hookline metrics these bundles print, by the same name and dimensions", () => {
    const emitted = survivingMetrics();
    const alarmResources = Object.values(
      template.findResources("AWS::CloudWatch::Alarm"),
    ) as Array<{
      Properties: {
        Namespace?: string;
        MetricName?: string;
        Dimensions?: Array<{ Name: string; Value: unknown }>;
        Metrics?: Array<{ MetricStat?: { Metric: Record<string, unknown> } }>;
      };
    }>;
    const read = alarmResources.flatMap(({ Properties: alarm }) => [
      ...(alarm.MetricName ? [alarm] : []),
      ...(alarm.Metrics ?? []).flatMap((m) =>
        m.MetricStat ? [m.MetricStat.Metric as typeof alarm] : [],
      ),
    ]);
    const filters = Object.values(template.findResources("AWS::Logs::MetricFilter")).flatMap(
      (filter) =>
        (filter as { Properties: { MetricTransformations: Array<{ MetricName: string }> } })
          .Properties.MetricTransformations,
    );
    const ours = read.filter((metric) => metric.Namespace === "Hookline");
    expect(ours.length).toBeGreaterThan(5);
    for (const metric of ours) {
      // A metric filter's metric: counted from a printed line (the test above).
      if (filters.some((f) => f.MetricName === metric.MetricName)) continue;
      const dimensions = metric.Dimensions ?? [];
      const names = dimensions.map((d) => d.Name).sort();
      const candidates = emitted.filter(
        (e) =>
          e.namespace === "Hookline" &&
          e.name === metric.MetricName &&
          Object.keys(e.dimensions).sort().join() === names.join(),
      );
      expect(candidates, `${metric.MetricName} by ${names.join(",")}`).not.toEqual([]);
      // Values the code sets itself must be values it prints (an outcome, the service);
      // config ids (a source, a portal) differ between the fixture and this run.
      for (const { Name, Value } of dimensions) {
        if (Name === "service") expect(Value).toBe("hookline");
        if (Name === "Outcome") expect(OUTCOMES).toContain(Value);
      }
    }
  });
});

/**
 * A CloudWatch Logs JSON filter pattern of `($.key = "value")` terms joined by `&&`, as the
 * stack writes them; a value ending in `*` matches by prefix ("Filter pattern syntax for
 * metric filters", JSON log events).
 */
function matchesJsonFilter(pattern: string, json: Record<string, unknown> | undefined): boolean {
  const terms = [...pattern.matchAll(/\(\$\.(\w+) = "([^"]*)"\)/g)];
  if (terms.length === 0 || !json) return false;
  return terms.every(([, key = "", value = ""]) => {
    const actual = json[key];
    if (typeof actual !== "string") return false;
    return value.endsWith("*") ? actual.startsWith(value.slice(0, -1)) : actual === value;
  });
}
