import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { type BuildOptions, build } from "esbuild";
import { hooklineEsbuildOptions } from "../lib/bundling";
import { githubRequest } from "../test/support/signers";
import {
  benchConfigInput,
  GITHUB_SECRET,
  GITHUB_SECRET_ENV,
  type GithubPayload,
  senderId,
} from "./fixtures";
import { median } from "./stats";

const run = promisify(execFile);
const PROJECT_ROOT = resolve(import.meta.dirname, "..");
const MARK = "@@hookline-bench ";

export type BundleName = "ingest" | "clientOnly" | "empty";

export interface ColdStartResult {
  /** Median ms from process start to the end (import, and the first event for ingest). */
  fromStart: Record<BundleName, number>;
  /** Median ms from just before the import to the end: node's own bootstrap left out. */
  fromImport: Record<BundleName, number>;
  /** Diagnostic: median ms of the ingest bundle's import alone (the rest is the first event). */
  ingestImportOnly: number;
  /** Diagnostic: median ms from process start when node runs without --enable-source-maps. */
  withoutSourceMaps: Record<"ingest" | "clientOnly", number>;
  /** Bundle sizes in bytes (index.mjs, without its .map). */
  bytes: Record<BundleName, number>;
  runs: number;
  /** What the ingest bundle answered its first event. */
  firstAnswer: string;
}

/**
 * A child process that imports one bundle and, if it exports a handler, serves it one event.
 * It prints the time since process start (performance.now()) and since just before the import.
 */
const RUNNER = `import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
const event = process.argv[3] ? JSON.parse(readFileSync(process.argv[3], "utf8")) : undefined;
const context = {
  callbackWaitsForEmptyEventLoop: true, functionName: "hookline-bench", functionVersion: "$LATEST",
  invokedFunctionArn: "arn:aws:lambda:us-east-1:000000000000:function:hookline-bench",
  memoryLimitInMB: "512", awsRequestId: "00000000-0000-4000-8000-000000000000",
  logGroupName: "bench", logStreamName: "bench", getRemainingTimeInMillis: () => 10000,
  done() {}, fail() {}, succeed() {},
};
const beforeImport = performance.now();
const mod = await import(pathToFileURL(process.argv[2]).href);
const imported = performance.now() - beforeImport;
let answer = "";
if (event && typeof mod.handler === "function") {
  const result = await mod.handler(event, context);
  answer = result.statusCode + " " + result.body;
}
const end = performance.now();
process.stdout.write("\\n${MARK}" + JSON.stringify({ end, fromImport: end - beforeImport, imported, answer }) + "\\n");
`;

async function bundle(
  outdir: string,
  entry: Pick<BuildOptions, "entryPoints" | "stdin">,
): Promise<string> {
  await mkdir(outdir, { recursive: true });
  const outfile = join(outdir, "index.mjs");
  await build({ ...hooklineEsbuildOptions, ...entry, outfile, logLevel: "error" });
  return outfile;
}

const stdinModule = (contents: string, sourcefile: string): Pick<BuildOptions, "stdin"> => ({
  stdin: { contents, resolveDir: PROJECT_ROOT, loader: "js", sourcefile },
});

/** An API Gateway HTTP API (payload v2) event for POST /webhooks/{sourceId}. */
function webhookEvent(sourceId: string, headers: Record<string, string>, body: string) {
  const now = new Date();
  const path = `/webhooks/${sourceId}`;
  return {
    version: "2.0",
    routeKey: "POST /webhooks/{sourceId}",
    rawPath: path,
    rawQueryString: "",
    headers: { ...headers, "content-length": String(Buffer.byteLength(body)) },
    pathParameters: { sourceId },
    requestContext: {
      accountId: "000000000000",
      apiId: "bench",
      domainName: "bench.execute-api.us-east-1.amazonaws.com",
      domainPrefix: "bench",
      http: {
        method: "POST",
        path,
        protocol: "HTTP/1.1",
        sourceIp: "192.0.2.1",
        userAgent: "GitHub-Hookshot/bench",
      },
      requestId: "bench",
      routeKey: "POST /webhooks/{sourceId}",
      stage: "$default",
      time: now.toISOString(),
      timeEpoch: now.getTime(),
    },
    body,
    isBase64Encoded: false,
  };
}

/**
 * Cold start of the ingest bundle (import + first webhook, which builds config, clients and
 * router), against a bundle that only creates a DynamoDB client and an empty bundle, all built
 * with the Lambdas' esbuild options and run in fresh node processes, interleaved.
 */
export async function measureColdStart(
  sample: GithubPayload,
  runs: number,
): Promise<ColdStartResult> {
  const dir = await mkdtemp(join(tmpdir(), "hookline-bench-"));
  try {
    const bundles: Record<BundleName, string> = {
      ingest: await bundle(join(dir, "ingest"), {
        entryPoints: [join(PROJECT_ROOT, "functions/ingest/handler.ts")],
      }),
      clientOnly: await bundle(
        join(dir, "client-only"),
        stdinModule(
          'import { DynamoDBClient } from "@aws-sdk/client-dynamodb";\nexport const client = new DynamoDBClient({});\n',
          "client-only.js",
        ),
      ),
      empty: await bundle(join(dir, "empty"), stdinModule("export {};\n", "empty.js")),
    };
    const bytes = {} as Record<BundleName, number>;
    for (const [name, file] of Object.entries(bundles) as [BundleName, string][]) {
      bytes[name] = (await stat(file)).size;
    }

    // A verified webhook that matches no route: 200 ignored, with no DynamoDB or SQS call, yet
    // the first event still loads the config, creates both AWS clients and compiles the routes.
    const configPath = join(dir, "hookline.config.json");
    const routedEvents = ["issues.*", "pull_request.*"];
    if (routedEvents.some((pattern) => pattern.startsWith(`${sample.event}.`))) {
      throw new Error(`cold start: pick a payload outside ${routedEvents.join(", ")}`);
    }
    await writeFile(
      configPath,
      JSON.stringify(benchConfigInput(routedEvents, [senderId(sample)]), null, 2),
    );
    const signed = await githubRequest(GITHUB_SECRET, sample.event, sample.payload);
    const eventPath = join(dir, "event.json");
    await writeFile(eventPath, JSON.stringify(webhookEvent("github", signed.headers, signed.body)));
    const runner = join(dir, "runner.mjs");
    await writeFile(runner, RUNNER);

    // What the Lambda sets (lib/hookline-function.ts) plus dummy AWS settings. Any AWS call would
    // hit a closed local port and fail at once; the ignored event makes none.
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? "",
      HOME: dir,
      NODE_OPTIONS: "--enable-source-maps",
      HOOKLINE_CONFIG: configPath,
      HOOKLINE_QUEUE_URL: "https://sqs.us-east-1.amazonaws.com/000000000000/hookline-bench",
      HOOKLINE_TABLE: "hookline-bench",
      POWERTOOLS_SERVICE_NAME: "hookline",
      POWERTOOLS_METRICS_NAMESPACE: "Hookline",
      POWERTOOLS_LOG_LEVEL: "INFO",
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: "AKIDBENCHMARK",
      AWS_SECRET_ACCESS_KEY: "bench-secret-access-key",
      AWS_ENDPOINT_URL_DYNAMODB: "http://127.0.0.1:9",
      AWS_ENDPOINT_URL_SQS: "http://127.0.0.1:9",
      AWS_MAX_ATTEMPTS: "1",
      [GITHUB_SECRET_ENV]: GITHUB_SECRET,
    };

    let firstAnswer = "";
    const spawnOnce = async (name: BundleName, sourceMaps = true) => {
      const args = [runner, bundles[name], ...(name === "ingest" ? [eventPath] : [])];
      const childEnv = sourceMaps ? env : { ...env, NODE_OPTIONS: "" };
      const { stdout } = await run(process.execPath, args, { env: childEnv, cwd: dir });
      const line = stdout.split("\n").find((text) => text.startsWith(MARK));
      if (!line) throw new Error(`cold start: no timing from the ${name} bundle:\n${stdout}`);
      const result = JSON.parse(line.slice(MARK.length)) as {
        end: number;
        fromImport: number;
        imported: number;
        answer: string;
      };
      if (name === "ingest") {
        if (!result.answer.startsWith("200 ") || !result.answer.includes('"ignored"')) {
          throw new Error(`cold start: the ingest bundle answered ${result.answer}`);
        }
        firstAnswer = result.answer;
      }
      return result;
    };

    // The Lambda runs with --enable-source-maps; the two last variants, without, are a
    // diagnostic only (how much of the difference is reading the larger source map).
    const variants: [BundleName, boolean][] = [
      ["ingest", true],
      ["clientOnly", true],
      ["empty", true],
      ["ingest", false],
      ["clientOnly", false],
    ];
    const fromStart: Record<BundleName, number[]> = { ingest: [], clientOnly: [], empty: [] };
    const fromImport: Record<BundleName, number[]> = { ingest: [], clientOnly: [], empty: [] };
    const noMaps: Record<"ingest" | "clientOnly", number[]> = { ingest: [], clientOnly: [] };
    const ingestImportOnly: number[] = [];
    // One untimed round warms the file cache; then each round runs every variant, the order
    // rotating from round to round.
    for (const [name, sourceMaps] of variants) await spawnOnce(name, sourceMaps);
    for (let round = 0; round < runs; round++) {
      for (let k = 0; k < variants.length; k++) {
        const [name, sourceMaps] = variants[(round + k) % variants.length] as [BundleName, boolean];
        const result = await spawnOnce(name, sourceMaps);
        if (!sourceMaps) {
          if (name !== "empty") noMaps[name].push(result.end);
          continue;
        }
        fromStart[name].push(result.end);
        fromImport[name].push(result.fromImport);
        if (name === "ingest") ingestImportOnly.push(result.imported);
      }
    }
    const medians = (samples: Record<BundleName, number[]>) => ({
      ingest: median(samples.ingest),
      clientOnly: median(samples.clientOnly),
      empty: median(samples.empty),
    });
    return {
      fromStart: medians(fromStart),
      fromImport: medians(fromImport),
      ingestImportOnly: median(ingestImportOnly),
      withoutSourceMaps: { ingest: median(noMaps.ingest), clientOnly: median(noMaps.clientOnly) },
      bytes,
      runs,
      firstAnswer,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
