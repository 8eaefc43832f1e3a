import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { APIGatewayProxyEventV2, Context, SQSBatchResponse, SQSEvent } from "aws-lambda";
import { afterAll, beforeAll } from "vitest";
import type { Config } from "../../functions/core/config";
import { type BitrixSimulator, startBitrixSimulator } from "../../functions/local/bitrix-simulator";
import { ensureTable } from "../../functions/local/ensure-table";
import { apiGatewayEvent, type HttpHandler } from "../../functions/local/http-server";
import { bundleFunction } from "../../lib/bundling";
import { TEST_OPEN_LINE } from "./config-fixtures";
import { type LocalDynamo, makeTestClient, startDynalite } from "./dynamo-servers";
import { type FakeSqs, startFakeSqs } from "./fake-sqs";
import { githubExamples, type SignedRequest } from "./signers";

export type IngestHandler = HttpHandler;
export type DeliverHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;
export type SweepHandler = (
  event: Record<string, unknown>,
  context: Context,
) => Promise<{ dueEvents: number; flushes: number }>;

/** The Lambda entries, by function. */
export const LAMBDA_ENTRIES = {
  ingest: "functions/ingest/handler.ts",
  deliver: "functions/deliver/handler.ts",
  sweep: "functions/sweep/handler.ts",
} as const;
export type FunctionName = keyof typeof LAMBDA_ENTRIES;

/**
 * Bundles each function as the construct does (production esbuild settings, the checked config
 * carried in the code) into `workDir/<name>`; returns each bundle's `index.mjs`.
 */
export function bundleLambdas(
  workDir: string,
  config: Config,
  names: readonly FunctionName[] = Object.keys(LAMBDA_ENTRIES) as FunctionName[],
): Record<FunctionName, string> {
  const bundles = {} as Record<FunctionName, string>;
  for (const name of names) {
    bundleFunction(LAMBDA_ENTRIES[name], join(workDir, name), { config });
    bundles[name] = join(workDir, name, "index.mjs");
  }
  return bundles;
}

/** The bundles `useBundledLambdas` made and the local servers they call. */
export interface BundledLambdas {
  workDir: string;
  bundles: Record<FunctionName, string>;
  dynamo: LocalDynamo;
  simulator: BitrixSimulator;
  sqs: FakeSqs;
}

/**
 * Bundled functions and the servers they call, for the enclosing `describe`: before its tests,
 * bundles every function with `config` into a fresh `hookline-<name>-` directory and starts
 * dynalite (with `table`), the Bitrix24 simulator and the fake SQS; after them, closes the
 * servers, removes the directory and puts back the process environment. What it returns is
 * filled in before the tests (and the describe's own `beforeAll`) run.
 *
 * @example const lambdas = useBundledLambdas("bundle", "hookline-bundle", testConfig());
 */
export function useBundledLambdas(name: string, table: string, config: Config): BundledLambdas {
  const savedEnv = { ...process.env };
  const lambdas = {} as Partial<BundledLambdas>;
  beforeAll(async () => {
    lambdas.workDir = await mkdtemp(join(tmpdir(), `hookline-${name}-`));
    lambdas.bundles = bundleLambdas(lambdas.workDir, config);
    [lambdas.dynamo, lambdas.simulator, lambdas.sqs] = await Promise.all([
      startDynalite(),
      startBitrixSimulator({ openLineCodes: [TEST_OPEN_LINE] }),
      startFakeSqs(),
    ]);
    await ensureTable(makeTestClient(lambdas.dynamo.endpoint), table);
  }, 60_000);
  afterAll(async () => {
    restoreEnv(savedEnv);
    await Promise.allSettled([
      lambdas.dynamo?.close(),
      lambdas.simulator?.close(),
      lambdas.sqs?.close(),
    ]);
    if (lambdas.workDir) await rm(lambdas.workDir, { recursive: true, force: true });
  });
  return lambdas as BundledLambdas;
}

/** The files a bundled module loads before any `import()`: itself and its static imports, transitively. */
export async function staticClosure(entry: string): Promise<string[]> {
  const seen = new Set<string>();
  const visit = async (file: string): Promise<void> => {
    if (seen.has(file)) return;
    seen.add(file);
    const code = await readFile(file, "utf8");
    for (const match of code.matchAll(
      /(?:^|[;}\s])(?:import|export)\s*[^"'()]*?from\s*"(\.[^"]+)"/g,
    )) {
      await visit(resolve(dirname(file), match[1] as string));
    }
    for (const match of code.matchAll(/(?:^|[;}\s])import\s*"(\.[^"]+)"/g)) {
      await visit(resolve(dirname(file), match[1] as string));
    }
  };
  await visit(entry);
  return [...seen];
}

/**
 * Node's own `import()`, bypassing Vitest's module runner (which would transform a `.mjs` outside
 * node_modules): a bundle must load exactly as Lambda loads it. Vitest hands `data:` modules to
 * Node untouched, and their `import()` is Node's.
 */
const NATIVE_LOADER = "data:text/javascript,export default (url) => import(url);";

export async function nativeImport(file: string): Promise<Record<string, unknown>> {
  const loader = (await import(/* @vite-ignore */ NATIVE_LOADER)) as {
    default: (url: string) => Promise<Record<string, unknown>>;
  };
  return loader.default(pathToFileURL(file).href);
}

/**
 * Points a bundled function's AWS clients at local servers, as the process environment of a test
 * that loads bundles: removes what the machine's own AWS setup could steer them with, and sets
 * the region, dummy credentials, the endpoints and files that do not exist.
 */
export function useLocalAws(
  workDir: string,
  endpoints: { dynamodb: string; sqs: string },
  more: Record<string, string> = {},
): void {
  for (const name of [
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "HOOKLINE_SECRETS",
    "HOOKLINE_SECRET_PREFIX",
  ]) {
    delete process.env[name];
  }
  Object.assign(process.env, {
    AWS_REGION: "us-east-1",
    AWS_ACCESS_KEY_ID: "local",
    AWS_SECRET_ACCESS_KEY: "local",
    // No shared config or credentials file of the machine may steer the clients.
    AWS_CONFIG_FILE: join(workDir, "no-aws-config"),
    AWS_SHARED_CREDENTIALS_FILE: join(workDir, "no-aws-credentials"),
    AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamodb,
    AWS_ENDPOINT_URL_SQS: endpoints.sqs,
    ...more,
  });
}

/**
 * A bundled function's own variables for `useLocalAws`: the table and the queues (on the fake
 * SQS), and Powertools quiet (errors only, no metric lines).
 */
export const localFunctionEnv = (
  table: string,
  sqs: { queueUrl(name: string): string },
): Record<string, string> => ({
  HOOKLINE_TABLE: table,
  HOOKLINE_QUEUE_URL: sqs.queueUrl("hookline"),
  HOOKLINE_DEAD_LETTER_QUEUE_URL: sqs.queueUrl("hookline-dead-letters"),
  POWERTOOLS_LOG_LEVEL: "ERROR",
  POWERTOOLS_METRICS_DISABLED: "true",
});

/** Puts the process environment back as `saved` had it (a copy taken before `useLocalAws`). */
export function restoreEnv(saved: Record<string, string | undefined>): void {
  for (const name of Object.keys(process.env)) {
    if (!(name in saved)) delete process.env[name];
  }
  Object.assign(process.env, saved);
}

/** The API Gateway event of a signed webhook to `/webhooks/{sourceId}`. */
export function webhookEvent(sourceId: string, request: SignedRequest): APIGatewayProxyEventV2 {
  return apiGatewayEvent({
    method: "POST",
    path: `/webhooks/${sourceId}`,
    headers: request.headers,
    body: Buffer.from(request.body),
  });
}

/**
 * GitHub's issues.opened example; with a `title`, a payload of its own (the same payload twice
 * is a duplicate by its content).
 */
export function issueOpened(title?: string): Record<string, unknown> {
  const example = githubExamples("issues", "opened")[0] as
    | { issue: Record<string, unknown> }
    | undefined;
  if (!example) throw new Error("no issues.opened example in @octokit/webhooks-examples");
  return title === undefined ? example : { ...example, issue: { ...example.issue, title } };
}
