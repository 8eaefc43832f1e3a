import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  Context,
} from "aws-lambda";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureTable } from "../../functions/local/ensure-table";
import { apiGatewayEvent, fakeContext } from "../../functions/local/http-server";
import { bundleFunction } from "../../lib/bundling";
import { TEST_SECRETS, testConfig } from "../support/bridge";
import { type LocalDynamo, makeTestClient, startDynalite } from "../support/dynamo-servers";
import { type FakeSqs, startFakeSqs } from "../support/fake-sqs";
import { githubExamples, githubRequest } from "../support/signers";

/**
 * The Lambdas load LiquidJS on demand (functions/adapters/liquid-on-demand.ts): it is not in the
 * code a bundled function loads at start, and a route that needs it (a condition, a LiquidJS
 * filter) still routes and renders on a cold instance's first webhook.
 */

type IngestHandler = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyStructuredResultV2>;

/** A string only LiquidJS's code holds (its Drop fallback for a missing property). */
const LIQUID_MARKER = "liquidMethodMissing";
const TABLE = "hookline-liquid-on-demand";

const rawConfig = testConfig({ bitrix: { webhookUrl: "env:BITRIX_WEBHOOK_URL" } });
const githubRoute = rawConfig.routes.find((route) => route.source === "github");
if (!githubRoute) throw new Error("testConfig has no github route");
Object.assign(githubRoute, {
  condition: "payload.action == 'opened' and payload.issue.title != blank",
  message: "Issue {{ payload.issue.title | upcase }} opened",
});

const NATIVE_LOADER = "data:text/javascript,export default (url) => import(url);";

/** Node's own `import()`, as Lambda loads the bundle (see bundle.test.ts). */
async function nativeImport(file: string): Promise<Record<string, unknown>> {
  const loader = (await import(/* @vite-ignore */ NATIVE_LOADER)) as {
    default: (url: string) => Promise<Record<string, unknown>>;
  };
  return loader.default(pathToFileURL(file).href);
}

/** The files a module loads before any `import()`: itself and its static imports, transitively. */
async function staticClosure(entry: string): Promise<string[]> {
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

describe("LiquidJS on demand in the bundled functions", () => {
  const savedEnv = { ...process.env };
  let workDir: string;
  let dynamo: LocalDynamo | undefined;
  let sqs: FakeSqs | undefined;
  let ingestFile: string;
  let deliverFile: string;

  beforeAll(async () => {
    workDir = await mkdtemp(join(tmpdir(), "hookline-liquid-"));
    bundleFunction("functions/ingest/handler.ts", join(workDir, "ingest"), { config: rawConfig });
    bundleFunction("functions/deliver/handler.ts", join(workDir, "deliver"), {
      config: rawConfig,
    });
    ingestFile = join(workDir, "ingest", "index.mjs");
    deliverFile = join(workDir, "deliver", "index.mjs");
    [dynamo, sqs] = await Promise.all([startDynalite(), startFakeSqs()]);
    await ensureTable(makeTestClient(dynamo.endpoint), TABLE);
    for (const name of ["AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"]) {
      delete process.env[name];
    }
    delete process.env.HOOKLINE_SECRET_PREFIX;
    Object.assign(process.env, {
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: "local",
      AWS_SECRET_ACCESS_KEY: "local",
      AWS_CONFIG_FILE: join(workDir, "no-aws-config"),
      AWS_SHARED_CREDENTIALS_FILE: join(workDir, "no-aws-credentials"),
      AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
      AWS_ENDPOINT_URL_SQS: sqs.endpoint,
      HOOKLINE_TABLE: TABLE,
      HOOKLINE_QUEUE_URL: sqs.queueUrl("hookline"),
      LAMBDA_TASK_ROOT: join(workDir, "ingest"),
      POWERTOOLS_LOG_LEVEL: "ERROR",
      POWERTOOLS_METRICS_DISABLED: "true",
      BITRIX_WEBHOOK_URL: "http://127.0.0.1:9/rest/1/x/",
      ...TEST_SECRETS,
    });
  }, 60_000);

  afterAll(async () => {
    for (const name of Object.keys(process.env)) {
      if (!(name in savedEnv)) delete process.env[name];
    }
    Object.assign(process.env, savedEnv);
    await Promise.allSettled([dynamo?.close(), sqs?.close()]);
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  it("leaves LiquidJS out of what ingest and deliver load at start, in a chunk of its own", async () => {
    for (const entry of [ingestFile, deliverFile]) {
      const closure = await staticClosure(entry);
      expect(closure.length).toBeGreaterThan(1);
      const loaded = await Promise.all(closure.map((file) => readFile(file, "utf8")));
      expect(loaded.some((code) => code.includes(LIQUID_MARKER))).toBe(false);
    }
  });

  it("routes a first webhook through a condition and a LiquidJS filter", async () => {
    const ingest = (await nativeImport(ingestFile)).handler as IngestHandler;
    const example = githubExamples("issues", "opened")[0] as { issue: { title: string } };
    const request = await githubRequest(TEST_SECRETS.GITHUB_SECRET, "issues", example);
    const answer = await ingest(
      apiGatewayEvent({
        method: "POST",
        path: "/webhooks/github",
        headers: request.headers,
        body: Buffer.from(request.body),
      }),
      fakeContext(),
    );
    expect(JSON.parse(answer.body ?? "")).toMatchObject({ status: "accepted", messages: 1 });
    const queued = JSON.parse(sqs?.messages[0]?.body ?? "{}") as { message?: string };
    expect(queued.message).toBe(`Issue ${example.issue.title.toUpperCase()} opened`);
  });
});
