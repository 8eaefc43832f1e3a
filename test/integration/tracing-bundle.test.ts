import { readdir, readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { fakeContext } from "../../functions/local/http-server";
import { TEST_SECRETS, testConfig } from "../support/bridge";
import { toSqsEvent } from "../support/fake-sqs";
import {
  type DeliverHandler,
  type FunctionName,
  type IngestHandler,
  issueOpened,
  LAMBDA_ENTRIES,
  localFunctionEnv,
  nativeImport,
  staticClosure,
  useBundledLambdas,
  useLocalAws,
  webhookEvent,
} from "../support/lambda-bundles";
import {
  attribute,
  CLIENT,
  CONSUMER,
  deliverySpans,
  SERVER,
  startOtlpCollector,
} from "../support/otlp-collector";
import { githubRequest } from "../support/signers";
import { useStarted } from "../support/use-started";

/**
 * Tracing in the bundled Lambdas (docs/tracing.md): without HOOKLINE_TRACING the OpenTelemetry
 * SDK is in none of the code a function loads at start, only in chunks loaded on demand; with
 * it (and the `OTEL_*` variables the stack sets), the real bundles export one connected trace
 * over OTLP/HTTP to a collector, the trace context riding in the SQS message's attributes.
 */

const TABLE = "hookline-tracing-bundle";
const rawConfig = testConfig({ bitrix: { webhookUrl: "env:BITRIX_WEBHOOK_URL" } });

/** The source files a bundled file was built from, by its source map (`sources`). */
const sourcesOf = async (file: string): Promise<string[]> =>
  (JSON.parse(await readFile(`${file}.map`, "utf8")) as { sources: string[] }).sources;

const OTEL_PACKAGE = /node_modules\/@opentelemetry\//;

describe("tracing in the bundled Lambda handlers", () => {
  const lambdas = useBundledLambdas("tracing", TABLE, rawConfig);
  const collector = useStarted("the OTLP collector", () => startOtlpCollector());

  it("keeps the OpenTelemetry SDK out of what every function loads at start", async () => {
    for (const name of Object.keys(LAMBDA_ENTRIES) as FunctionName[]) {
      const eager = await staticClosure(lambdas.bundles[name]);
      expect(eager.length).toBeGreaterThan(1);
      for (const file of eager) {
        expect((await sourcesOf(file)).filter((source) => OTEL_PACKAGE.test(source))).toEqual([]);
      }
      // ...while the bundle carries it, in chunks only `import()` reaches (the sweeper's never
      // loads them: it starts no trace).
      const chunks = join(dirname(lambdas.bundles[name]), "chunks");
      const lazy = (await readdir(chunks))
        .filter((file) => file.endsWith(".mjs"))
        .map((file) => join(chunks, file))
        .filter((file) => !eager.includes(file));
      const lazySources = (await Promise.all(lazy.map(sourcesOf))).flat();
      expect(lazySources.some((source) => source.includes("@opentelemetry/sdk-trace"))).toBe(true);
    }
  });

  it("exports one connected trace over OTLP with HOOKLINE_TRACING=true", async () => {
    const { workDir, bundles, dynamo, simulator, sqs } = lambdas;
    useLocalAws(
      workDir,
      { dynamodb: dynamo.endpoint, sqs: sqs.endpoint },
      {
        ...localFunctionEnv(TABLE, sqs),
        BITRIX_WEBHOOK_URL: simulator.webhookUrl,
        ...TEST_SECRETS,
        // What the stack sets with `-c tracing=true` (lib/tracing.ts), the endpoint a collector's.
        HOOKLINE_TRACING: "true",
        OTEL_SERVICE_NAME: "hookline",
        OTEL_TRACES_EXPORTER: "otlp",
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
        OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint,
      },
    );
    const ingest = (await nativeImport(bundles.ingest)).handler as IngestHandler;
    const deliver = (await nativeImport(bundles.deliver)).handler as DeliverHandler;

    const request = await githubRequest(TEST_SECRETS.GITHUB_SECRET, "issues", issueOpened("otlp"));
    const answer = await ingest(webhookEvent("github", request), fakeContext());
    expect(answer.statusCode).toBe(202);
    const queued = sqs.messages;
    expect(queued).toHaveLength(1);
    expect(queued[0]?.attributes?.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);

    const delivered = await deliver(toSqsEvent(queued), fakeContext(30_000));
    expect(delivered).toEqual({ batchItemFailures: [] });
    expect(simulator.messages).toHaveLength(1);

    // Each invocation exported its spans before it returned.
    const spans = collector.spans;
    const { server, consumer, client } = deliverySpans(spans);
    expect(spans.map((span) => span.kind).sort()).toEqual([SERVER, CLIENT, CONSUMER].sort());
    expect(new Set(spans.map((span) => span.traceId)).size).toBe(1);
    expect(queued[0]?.attributes?.traceparent).toContain(server?.spanId);
    expect(consumer?.parentSpanId).toBe(server?.spanId);
    expect(client?.parentSpanId).toBe(consumer?.spanId);
    expect(attribute(client, "bitrix24.method")).toBe("imopenlines.network.message.add");
    expect(attribute(client, "bitrix24.portal")).toBe("default");
    expect(Number(attribute(client, "http.response.status_code"))).toBe(200);
  }, 60_000);
});
