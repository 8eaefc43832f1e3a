import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureTable } from "../../functions/local/ensure-table";
import { apiGatewayEvent, fakeContext } from "../../functions/local/http-server";
import { TEST_SECRETS, testConfig } from "../support/bridge";
import { type LocalDynamo, makeTestClient, startDynalite } from "../support/dynamo-servers";
import { type FakeSqs, startFakeSqs } from "../support/fake-sqs";
import {
  bundleLambdas,
  type IngestHandler,
  localFunctionEnv,
  nativeImport,
  restoreEnv,
  staticClosure,
  useLocalAws,
} from "../support/lambda-bundles";
import { githubExamples, githubRequest } from "../support/signers";

/**
 * The Lambdas load LiquidJS on demand (functions/adapters/liquid-on-demand.ts): it is not in the
 * code a bundled function loads at start, and a route that needs it (a condition, a LiquidJS
 * filter) still routes and renders on a cold instance's first webhook.
 */

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

describe("LiquidJS on demand in the bundled functions", () => {
  const savedEnv = { ...process.env };
  let workDir: string;
  let dynamo: LocalDynamo | undefined;
  let sqs: FakeSqs | undefined;
  let ingestFile: string;
  let deliverFile: string;

  beforeAll(async () => {
    workDir = await mkdtemp(join(tmpdir(), "hookline-liquid-"));
    ({ ingest: ingestFile, deliver: deliverFile } = bundleLambdas(workDir, rawConfig, [
      "ingest",
      "deliver",
    ]));
    [dynamo, sqs] = await Promise.all([startDynalite(), startFakeSqs()]);
    await ensureTable(makeTestClient(dynamo.endpoint), TABLE);
    useLocalAws(
      workDir,
      { dynamodb: dynamo.endpoint, sqs: sqs.endpoint },
      {
        ...localFunctionEnv(TABLE, sqs),
        LAMBDA_TASK_ROOT: join(workDir, "ingest"),
        BITRIX_WEBHOOK_URL: "http://127.0.0.1:9/rest/1/x/",
        ...TEST_SECRETS,
      },
    );
  }, 60_000);

  afterAll(async () => {
    restoreEnv(savedEnv);
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
