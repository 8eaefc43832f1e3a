import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import type { SQSEvent } from "aws-lambda";
import { buildSync } from "esbuild";
import { makeSecretResolver } from "../functions/adapters/secrets";
import { systemClock } from "../functions/core/clock";
import { parseConfig } from "../functions/core/config";
import { makeIngest } from "../functions/core/ingest";
import type { EventJob } from "../functions/core/job";
import { silentLog } from "../functions/core/log";
import { noMetrics } from "../functions/core/metrics";
import type { OutcomeRecord } from "../functions/core/outcome";
import type { OutcomeStore } from "../functions/core/ports";
import { compileRoutes } from "../functions/core/routes";
import { startBitrixSimulator } from "../functions/local/bitrix-simulator";
import { startDynalite } from "../functions/local/dynalite-server";
import { ensureTable } from "../functions/local/ensure-table";
import { bundleFunction, esmBundleOptions } from "../lib/bundling";
import { FUNCTION_ENVIRONMENT } from "../lib/hookline-function";
import { makeTestClient } from "../test/support/dynamo-servers";
import { startFakeSqs, toSqsEvent } from "../test/support/fake-sqs";
import {
  benchConfigInput,
  GITHUB_SECRET,
  GITHUB_SECRET_ENV,
  type GithubPayload,
  githubHeaders,
  OPEN_LINE_CODE,
  senderId,
} from "./fixtures";
import { median } from "./stats";

const run = promisify(execFile);
/**
 * Untimed rounds before the timed ones. They warm the file cache, and the local servers: dynalite
 * is JavaScript in this process, and a request with an expression it has seen only a few times
 * costs it far more (deliver's claim: 14-21 ms for its first five, 3 ms from about the
 * twentieth), where DynamoDB's answer does not depend on it. The references' PutItem is warm
 * from the first round; hookline's conditional writes are not. `BENCH_COLD_WARMUP` changes it.
 */
const WARMUP_ROUNDS = Number(process.env.BENCH_COLD_WARMUP) || 20;
const PROJECT_ROOT = resolve(import.meta.dirname, "..");
const MARK = "@@hookline-bench ";
const TABLE = "hookline-bench";

/** min, median and max of a sample. */
export interface Spread {
  min: number;
  median: number;
  max: number;
}

/** One side's figures over the runs: ms from process start to the answer, and CPU ms. */
export interface SideFigures {
  time: Spread;
  cpu: Spread;
  /** The time split: process start to the function's module loaded, then its first call. */
  load: Spread;
  call: Spread;
  /** Bytes of the function's files (code and maps) and how many code files there are. */
  bytes: number;
  files: number;
}

/** hookline against one reference: the ratio of each round's runs. */
export interface Comparison {
  reference: SideFigures;
  ratio: Spread;
  cpuRatio: Spread;
}

export interface PairedResult {
  hookline: SideFigures;
  /** The reference: an ordinary single-file bundle, no NODE_OPTIONS. The budget's. */
  standard: Comparison;
  /** The same reference built and run with hookline's own settings (splitting, source maps). */
  house: Comparison;
  /**
   * Deliver only: the reference with its POST over node:http instead of `fetch`, as
   * hookline's client now makes it (no undici to load): hookline's own work, nothing else.
   */
  lean?: Comparison;
  /**
   * Deliver only: the words read literally, "a bundled client doing one PutItem" (no POST,
   * which deliver cannot do without): ingest's reference, run in deliver's rounds.
   */
  putOnly?: Comparison;
  /**
   * The same function built from another checkout (`BENCH_BEFORE`), run in the same rounds:
   * its figures and its ratio to the reference, for a before/after side by side.
   */
  before?: {
    figures: SideFigures;
    ratio: Spread;
    cpuRatio: Spread;
    /** This checkout's function over the other's, round by round: time and CPU. */
    versus: { ratio: Spread; cpuRatio: Spread };
  };
  rounds: number;
  /** What hookline's function answered (checked on every run). */
  answer: string;
}

export interface ColdStartResult {
  ingest: PairedResult;
  deliver: PairedResult;
  /** The environment every run gets (values of secrets left out). */
  environment: string[];
}

/**
 * A child process that imports one function's `index.mjs` and hands it one event, as Lambda's
 * runtime does; it prints the time since process start (`performance.now()`) at the answer, and
 * when the module had loaded (so the answer's time splits into loading and the first call).
 */
const RUNNER = `import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
const event = JSON.parse(readFileSync(process.argv[3], "utf8"));
const context = {
  callbackWaitsForEmptyEventLoop: true, functionName: "hookline-bench", functionVersion: "$LATEST",
  invokedFunctionArn: "arn:aws:lambda:us-east-1:000000000000:function:hookline-bench",
  memoryLimitInMB: "512", awsRequestId: "00000000-0000-4000-8000-000000000000",
  logGroupName: "bench", logStreamName: "bench", getRemainingTimeInMillis: () => 900000,
  done() {}, fail() {}, succeed() {},
};
const mod = await import(pathToFileURL(process.argv[2]).href);
const loaded = performance.now();
const result = await mod.handler(event, context);
const end = performance.now();
const cpu = process.cpuUsage();
const cpuMs = (cpu.user + cpu.system) / 1000;
process.stdout.write("\\n${MARK}" + JSON.stringify({ end, loaded, cpuMs, answer: JSON.stringify(result) }) + "\\n");
process.exit(0);
`;

const BOTH = ["standard", "house"] as const;

const spread = (values: readonly number[]): Spread => ({
  min: Math.min(...values),
  median: median(values),
  max: Math.max(...values),
});

async function directoryBytes(dir: string): Promise<{ bytes: number; files: number }> {
  let bytes = 0;
  let files = 0;
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    bytes += (await stat(join(entry.parentPath, entry.name))).size;
    if (entry.name.endsWith(".mjs")) files++;
  }
  return { bytes, files };
}

/**
 * P2: cold start of the real ingest and deliver bundles against a bundle that only imports
 * `@aws-sdk/client-dynamodb` and sends one PutItem (plus, for deliver, one POST to the
 * simulator), each run a fresh node process with a clean environment, the two sides interleaved.
 * DynamoDB is dynalite, SQS a local fake, Bitrix24 the simulator, all on 127.0.0.1 in this
 * process.
 */
export async function measureColdStart(
  sample: GithubPayload,
  rounds: number,
  /** Another checkout (with its node_modules) whose ingest and deliver run beside this one's. */
  beforeRoot?: string,
): Promise<ColdStartResult> {
  const dir = await mkdtemp(join(tmpdir(), "hookline-cold-"));
  const [dynamo, sqs, portal] = await Promise.all([
    // The credentials the functions sign with below (the server checks the access key id).
    startDynalite({ credentials: { accessKeyId: "AKIDBENCH", secretAccessKey: "bench-secret" } }),
    startFakeSqs(),
    startBitrixSimulator({
      openLineCodes: [OPEN_LINE_CODE],
      rateLimit: { burst: 1000, perSecond: 100 },
    }),
  ]);
  try {
    const dynamoClient = makeTestClient(dynamo.endpoint, dynamo.credentials);
    await ensureTable(dynamoClient, TABLE);
    dynamoClient.destroy();

    const configInput = benchConfigInput([senderId(sample)]);
    // hookline's functions and the house-built references: bundled as the stack bundles them.
    const house = {
      ingest: "functions/ingest/handler.ts",
      deliver: "functions/deliver/handler.ts",
      putOnlyHouse: "bench/baselines/dynamodb-put.ts",
      putAndPostHouse: "bench/baselines/dynamodb-put-post.ts",
    };
    // The references: bundled the ordinary way.
    const standard = {
      putOnly: "bench/baselines/dynamodb-put.ts",
      putAndPost: "bench/baselines/dynamodb-put-post.ts",
      putAndPostHttp: "bench/baselines/dynamodb-put-post.ts",
    };
    const before = {
      ingestBefore: "functions/ingest/handler.ts",
      deliverBefore: "functions/deliver/handler.ts",
    };
    type Name = keyof typeof house | keyof typeof standard | keyof typeof before;
    const roots = {} as Record<Name, string>;
    // As the construct bundles: the config checked here, carried in the code.
    const config = parseConfig(configInput, "bench config");
    for (const [name, entry] of Object.entries(house) as [Name, string][]) {
      roots[name] = join(dir, name);
      bundleFunction(join(PROJECT_ROOT, entry), roots[name], { config });
    }
    for (const [name, entry] of Object.entries(standard) as [Name, string][]) {
      roots[name] = join(dir, name);
      bundleStandard(join(PROJECT_ROOT, entry), roots[name]);
    }
    if (beforeRoot) {
      // Built by that checkout's own bundling and config check, as its `cdk synth` would.
      const bundling = (await import(join(beforeRoot, "lib/bundling.ts"))) as {
        bundleFunction: typeof bundleFunction;
      };
      const checker = (await import(join(beforeRoot, "functions/core/config.ts"))) as {
        parseConfig: typeof parseConfig;
      };
      const beforeConfig = checker.parseConfig(configInput, "bench config");
      for (const [name, entry] of Object.entries(before) as [Name, string][]) {
        roots[name] = join(dir, name);
        bundling.bundleFunction(join(beforeRoot, entry), roots[name], { config: beforeConfig });
      }
    }
    const runner = join(dir, "runner.mjs");
    await writeFile(runner, RUNNER);

    // Lambda's own variables, the function's (as lib/hookline-function.ts and the stack set
    // them; an ordinary function has no NODE_OPTIONS), and the bench's: endpoints of the local
    // fakes and the secrets as env values.
    const lambda = (name: Name): Record<string, string> => ({
      PATH: "/usr/local/bin:/usr/bin:/bin",
      LANG: "en_US.UTF-8",
      TZ: ":UTC",
      AWS_REGION: "us-east-1",
      AWS_DEFAULT_REGION: "us-east-1",
      AWS_EXECUTION_ENV: "AWS_Lambda_nodejs22.x",
      AWS_LAMBDA_FUNCTION_NAME: `hookline-${name}`,
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: "512",
      AWS_LAMBDA_FUNCTION_VERSION: "$LATEST",
      AWS_LAMBDA_INITIALIZATION_TYPE: "on-demand",
      AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/hookline-${name}`,
      AWS_LAMBDA_LOG_STREAM_NAME: "bench",
      AWS_LAMBDA_LOG_FORMAT: "JSON",
      AWS_LAMBDA_LOG_LEVEL: "INFO",
      AWS_ACCESS_KEY_ID: "AKIDBENCH",
      AWS_SECRET_ACCESS_KEY: "bench-secret",
      AWS_SESSION_TOKEN: "bench-session",
      LAMBDA_TASK_ROOT: roots[name],
      LAMBDA_RUNTIME_DIR: "/var/runtime",
      _HANDLER: "index.handler",
      ...(name in house || name in before ? FUNCTION_ENVIRONMENT : {}),
      HOOKLINE_TABLE: TABLE,
      HOOKLINE_QUEUE_URL: sqs.queueUrl("hookline"),
      HOOKLINE_DEAD_LETTER_QUEUE_URL: sqs.queueUrl("hookline-dead-letters"),
      AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
      AWS_ENDPOINT_URL_SQS: sqs.endpoint,
      AWS_CONFIG_FILE: join(dir, "no-aws-config"),
      AWS_SHARED_CREDENTIALS_FILE: join(dir, "no-aws-credentials"),
      [GITHUB_SECRET_ENV]: GITHUB_SECRET,
      BITRIX_WEBHOOK_URL: portal.webhookUrl,
    });

    const invoke = async (name: Name, event: unknown) => {
      const eventFile = join(dir, `event-${randomUUID()}.json`);
      await writeFile(eventFile, JSON.stringify(event));
      const { stdout } = await run(
        process.execPath,
        [
          ...(process.env.BENCH_NODE_ARGS?.split(" ") ?? []).filter(Boolean),
          runner,
          join(roots[name], "index.mjs"),
          eventFile,
        ],
        { env: lambda(name), cwd: roots[name] },
      );
      const line = stdout.split("\n").find((text) => text.startsWith(MARK));
      if (!line) throw new Error(`cold start: no timing from ${name}:\n${stdout}`);
      return JSON.parse(line.slice(MARK.length)) as {
        end: number;
        loaded: number;
        cpuMs: number;
        answer: string;
      };
    };

    // A job exactly as ingest makes it (this code, this config), for deliver's events.
    const template = await jobFor(configInput, sample);
    let runs = 0;
    const postEvent = () => {
      runs++;
      return { runId: randomUUID(), userId: 200_000 + runs, code: OPEN_LINE_CODE };
    };
    const ingestEvent = async () => {
      // A body of its own per run, else the receipt makes every run after the first a duplicate.
      const body = JSON.stringify({ ...sample.payload, hookline_bench_run: randomUUID() });
      const headers = await githubHeaders({ event: sample.event, body }, randomUUID());
      return webhookEvent("github", headers, body);
    };
    const deliverEvent = async (): Promise<SQSEvent> => {
      runs++;
      // A user of its own per run: the weekly slot of the previous run's user is taken.
      const job = { ...template, jobId: `${template.jobId}-${runs}`, userId: 100_000 + runs };
      const message = {
        queueUrl: sqs.queueUrl("hookline"),
        messageId: randomUUID(),
        receiptHandle: randomUUID(),
        body: JSON.stringify(job),
        md5OfBody: "",
        sentAt: Date.now(),
      };
      return toSqsEvent([message], { receiveCount: 1 });
    };
    const events: Record<Name, () => Promise<unknown>> = {
      ingest: ingestEvent,
      ingestBefore: ingestEvent,
      deliver: deliverEvent,
      deliverBefore: deliverEvent,
      putOnly: async () => ({ runId: randomUUID() }),
      putOnlyHouse: async () => ({ runId: randomUUID() }),
      putAndPost: async () => postEvent(),
      putAndPostHouse: async () => postEvent(),
      putAndPostHttp: async () => ({ ...postEvent(), via: "http" }),
    };
    const ok = (answer: string) => answer.includes('"statusCode":200');
    const checks: Record<Name, (answer: string) => boolean> = {
      ingest: (answer) => answer.includes('\\"status\\":\\"accepted\\"'),
      ingestBefore: (answer) => answer.includes('\\"status\\":\\"accepted\\"'),
      deliver: (answer) => answer === '{"batchItemFailures":[]}',
      deliverBefore: (answer) => answer === '{"batchItemFailures":[]}',
      putOnly: ok,
      putOnlyHouse: ok,
      putAndPost: ok,
      putAndPostHouse: ok,
      putAndPostHttp: ok,
    };

    const compare = async (
      hookline: "ingest" | "deliver",
      references: { standard: Name; house: Name; lean?: Name; putOnly?: Name },
      verify: (runsPerRound: number) => void,
    ): Promise<PairedResult> => {
      const previous: Name | undefined = beforeRoot ? `${hookline}Before` : undefined;
      const kinds = [
        ...BOTH,
        ...(references.lean ? (["lean"] as const) : []),
        ...(references.putOnly ? (["putOnly"] as const) : []),
      ];
      const names: Name[] = kinds.map((kind) => references[kind] as Name);
      names.unshift(hookline);
      if (previous) names.push(previous);
      const beforeRatios: number[] = [];
      const beforeCpuRatios: number[] = [];
      const versus = { ratio: [] as number[], cpuRatio: [] as number[] };
      const time = new Map<Name, number[]>(names.map((name) => [name, []]));
      const cpu = new Map<Name, number[]>(names.map((name) => [name, []]));
      const load = new Map<Name, number[]>(names.map((name) => [name, []]));
      const perKind = () => ({
        standard: [] as number[],
        house: [] as number[],
        lean: [] as number[],
        putOnly: [] as number[],
      });
      const ratios = perKind();
      const cpuRatios = perKind();
      let answer = "";
      const once = async (name: Name) => {
        const result = await invoke(name, await events[name]());
        if (!checks[name](result.answer)) {
          throw new Error(`cold start: ${name} answered ${result.answer}`);
        }
        if (name === hookline) answer = result.answer;
        return result;
      };
      for (let round = 0; round < WARMUP_ROUNDS; round++) {
        for (const name of names) await once(name);
      }
      for (let round = 0; round < rounds; round++) {
        // The order rotates from round to round, so no side always follows another.
        const results = new Map<Name, { end: number; loaded: number; cpuMs: number }>();
        for (let k = 0; k < names.length; k++) {
          const name = names[(round + k) % names.length] as Name;
          results.set(name, await once(name));
        }
        const h = results.get(hookline) as { end: number; cpuMs: number };
        for (const kind of kinds) {
          const r = results.get(references[kind] as Name) as { end: number; cpuMs: number };
          ratios[kind].push(h.end / r.end);
          cpuRatios[kind].push(h.cpuMs / r.cpuMs);
        }
        if (previous) {
          const b = results.get(previous) as { end: number; cpuMs: number };
          const r = results.get(references.standard) as { end: number; cpuMs: number };
          beforeRatios.push(b.end / r.end);
          beforeCpuRatios.push(b.cpuMs / r.cpuMs);
          versus.ratio.push(h.end / b.end);
          versus.cpuRatio.push(h.cpuMs / b.cpuMs);
        }
        for (const [name, result] of results) {
          time.get(name)?.push(result.end);
          cpu.get(name)?.push(result.cpuMs);
          load.get(name)?.push(result.loaded);
        }
      }
      verify(previous ? 2 : 1);
      const figures = async (name: Name): Promise<SideFigures> => ({
        time: spread(time.get(name) ?? []),
        cpu: spread(cpu.get(name) ?? []),
        load: spread(load.get(name) ?? []),
        call: spread((time.get(name) ?? []).map((end, k) => end - (load.get(name)?.[k] ?? 0))),
        ...(await directoryBytes(roots[name])),
      });
      const comparison = async (kind: (typeof kinds)[number]): Promise<Comparison> => ({
        reference: await figures(references[kind] as Name),
        ratio: spread(ratios[kind]),
        cpuRatio: spread(cpuRatios[kind]),
      });
      return {
        hookline: await figures(hookline),
        standard: await comparison("standard"),
        house: await comparison("house"),
        ...(references.lean && { lean: await comparison("lean") }),
        ...(references.putOnly && { putOnly: await comparison("putOnly") }),
        ...(previous && {
          before: {
            figures: await figures(previous),
            ratio: spread(beforeRatios),
            cpuRatio: spread(beforeCpuRatios),
            versus: { ratio: spread(versus.ratio), cpuRatio: spread(versus.cpuRatio) },
          },
        }),
        rounds,
        answer,
      };
    };

    const queuedBefore = sqs.messages.length;
    const ingest = await compare("ingest", { standard: "putOnly", house: "putOnlyHouse" }, (n) => {
      // Every ingest run (the warm-up too) queued its one message.
      if (sqs.messages.length - queuedBefore !== n * (rounds + WARMUP_ROUNDS)) {
        throw new Error(`cold start: ${sqs.messages.length - queuedBefore} messages queued`);
      }
    });
    const sentBefore = portal.messages.length;
    const deliver = await compare(
      "deliver",
      {
        standard: "putAndPost",
        house: "putAndPostHouse",
        lean: "putAndPostHttp",
        putOnly: "putOnly",
      },
      (n) => {
        // Each deliver and each reference run posted one message to the simulator.
        if (portal.messages.length - sentBefore !== (n + 3) * (rounds + WARMUP_ROUNDS)) {
          throw new Error(`cold start: ${portal.messages.length - sentBefore} messages sent`);
        }
      },
    );
    const environment = Object.keys(lambda("ingest")).sort();
    return { ingest, deliver, environment };
  } finally {
    await Promise.allSettled([dynamo.close(), sqs.close(), portal.close()]);
    if (process.env.BENCH_KEEP_DIR) console.error(`kept ${dir}`);
    else await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The reference built the ordinary way: one esbuild file (ESM, minified, for node 22),
 * no source map, no code splitting.
 */
function bundleStandard(entry: string, outdir: string): void {
  buildSync({
    entryPoints: [entry],
    outfile: join(outdir, "index.mjs"),
    ...esmBundleOptions,
    logLevel: "error",
  });
}

/** The job this config's route makes of `sample`, through the real ingest use case. */
async function jobFor(configInput: object, sample: GithubPayload): Promise<EventJob> {
  const config = parseConfig(configInput, "bench config");
  const queued: EventJob[] = [];
  const resolveSecret = makeSecretResolver({ env: { [GITHUB_SECRET_ENV]: GITHUB_SECRET } });
  const ingest = makeIngest({
    config,
    secretsFor: (source) => Promise.all(source.secret.map(resolveSecret)),
    router: compileRoutes(config),
    receipts: { record: async () => ({ state: "recorded" }) },
    queue: { enqueue: async (jobs) => void queued.push(...(jobs as EventJob[])) },
    outcomes: { finish: async (record: OutcomeRecord) => record } as unknown as OutcomeStore,
    clock: systemClock,
    log: silentLog,
    metrics: noMetrics,
  });
  const headers = await githubHeaders(sample, randomUUID());
  await ingest({ sourceId: "github", headers, body: Buffer.from(sample.body) });
  const [job] = queued;
  if (!job) throw new Error(`cold start: the bench route queued nothing for ${sample.event}`);
  return job;
}

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
