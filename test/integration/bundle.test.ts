import { dirname } from "node:path";
import type { APIGatewayProxyEventV2, Context, SQSEvent } from "aws-lambda";
import { beforeAll, describe, expect, it } from "vitest";
import { makeDynamoOutcomeStore } from "../../functions/adapters/dynamo/outcomes";
import { jobIdFor } from "../../functions/core/job";
import { apiGatewayEvent, fakeContext } from "../../functions/local/http-server";
import { OPEN_LINE_CODE, TEST_SECRETS, testConfig } from "../support/bridge";
import { makeTestClient } from "../support/dynamo-servers";
import { type FakeSqsMessage, toSqsEvent } from "../support/fake-sqs";
import {
  type DeliverHandler,
  type FunctionName,
  type IngestHandler,
  issueOpened,
  localFunctionEnv,
  nativeImport,
  useBundledLambdas,
  useLocalAws,
  webhookEvent,
} from "../support/lambda-bundles";
import { githubRequest } from "../support/signers";

/**
 * The real Lambda entries, bundled with the production esbuild settings and loaded by Node as
 * Lambda loads them, invoked with API Gateway and SQS events against local servers. A bundling
 * mistake (ESM output, a missing dependency, a CommonJS `require` in ESM) fails here.
 */

type SweepHandler = (
  event: Record<string, unknown>,
  context: Context,
) => Promise<{ dueEvents: number; flushes: number }>;

const TABLE = "hookline-bundle";
const CONFIG_FILE = "hookline.config.json";
/** The user `lookups.githubUsers` maps the example's sender (Codertocat, 21031067) to. */
const GITHUB_USER = 7;

/** Another sender and its user: one message per user a week, so a second test needs its own. */
const OTHER_SENDER = 583231;
const OTHER_USER = 9;

const rawConfig = testConfig({
  bitrix: { webhookUrl: "env:BITRIX_WEBHOOK_URL" },
  lookups: {
    githubUsers: { "21031067": GITHUB_USER, [OTHER_SENDER]: OTHER_USER },
    stripeCustomers: { cus_e2e: 8 },
  },
});

describe("the bundled Lambda handlers (production esbuild settings)", () => {
  const lambdas = useBundledLambdas("bundle", TABLE, rawConfig);
  let ingest: IngestHandler;
  let deliver: DeliverHandler;
  let sweep: SweepHandler;

  beforeAll(async () => {
    const { workDir, bundles, dynamo, simulator, sqs } = lambdas;
    useLocalAws(
      workDir,
      { dynamodb: dynamo.endpoint, sqs: sqs.endpoint },
      {
        ...localFunctionEnv(TABLE, sqs),
        // Relative, resolved against LAMBDA_TASK_ROOT as on AWS (set per invocation below).
        HOOKLINE_CONFIG: CONFIG_FILE,
        BITRIX_WEBHOOK_URL: simulator.webhookUrl,
        ...TEST_SECRETS,
      },
    );

    ingest = handlerOf(await nativeImport(bundles.ingest)) as IngestHandler;
    deliver = handlerOf(await nativeImport(bundles.deliver)) as DeliverHandler;
    sweep = handlerOf(await nativeImport(bundles.sweep)) as SweepHandler;
  }, 60_000);

  /** Each function's config is the file bundled next to it, as in its Lambda task root. */
  const inTaskRoot = <T>(name: FunctionName, invoke: () => Promise<T>): Promise<T> => {
    process.env.LAMBDA_TASK_ROOT = dirname(lambdas.bundles[name]);
    return invoke();
  };
  const callIngest = (event: APIGatewayProxyEventV2) =>
    inTaskRoot("ingest", () => ingest(event, fakeContext()));
  const callDeliver = (event: SQSEvent) =>
    inTaskRoot("deliver", () => deliver(event, fakeContext(30_000)));

  it("answers GET /health", async () => {
    const answer = await callIngest(
      apiGatewayEvent({ method: "GET", path: "/health", headers: {} }),
    );
    expect(answer.statusCode).toBe(200);
    expect(JSON.parse(answer.body ?? "")).toEqual({ status: "ok" });
  });

  it("answers a bad signature with 401 and queues nothing", async () => {
    const request = await githubRequest("wrong-secret", "issues", issueOpened());
    const answer = await callIngest(webhookEvent("github", request));
    expect(answer.statusCode).toBe(401);
    expect(JSON.parse(answer.body ?? "")).toMatchObject({ error: "invalid_signature" });
    expect(lambdas.sqs.messages).toHaveLength(0);
  });

  it("queues a signed GitHub webhook on SQS and delivers it to Bitrix24", async () => {
    const request = await githubRequest(TEST_SECRETS.GITHUB_SECRET, "issues", issueOpened());
    const delivery = request.headers["x-github-delivery"] as string;

    const answer = await callIngest(webhookEvent("github", request));
    expect(answer.statusCode).toBe(202);
    expect(JSON.parse(answer.body ?? "")).toMatchObject({ status: "accepted", messages: 1 });
    const queued = lambdas.sqs.messages;
    expect(queued).toHaveLength(1);
    const jobId = jobIdFor("github", delivery, 0);
    expect(JSON.parse(queued[0]?.body ?? "")).toMatchObject({
      jobId,
      sourceId: "github",
      userId: GITHUB_USER,
    });

    const event = toSqsEvent(queued, { receiveCount: 1 });
    expect(await callDeliver(event)).toEqual({ batchItemFailures: [] });
    const sent = lambdas.simulator.messages.filter((message) => message.userId === GITHUB_USER);
    expect(sent).toHaveLength(1);
    expect(sent[0]?.message).toMatch(/^Issue \[b\].*\[\/b\] opened by Codertocat$/);
    expect(sent[0]?.code).toBe(OPEN_LINE_CODE);
    const outcomes = makeDynamoOutcomeStore(makeTestClient(lambdas.dynamo.endpoint), TABLE);
    expect((await outcomes.get(jobId))?.outcome).toBe("sent");

    // SQS delivers at least once: a redelivery is settled without a second message.
    expect(await callDeliver(toSqsEvent(queued, { receiveCount: 2 }))).toEqual({
      batchItemFailures: [],
    });
    expect(lambdas.simulator.messages).toHaveLength(1);
    expect(lambdas.sqs.visibilityChanges).toHaveLength(0);
  });

  it("moves a malformed queue message to the dead-letter queue itself", async () => {
    const before = lambdas.sqs.messages.length;
    const malformed = toSqsEvent(
      [{ ...(lambdas.sqs.messages[0] as FakeSqsMessage), messageId: "m-1", body: "{not json" }],
      { receiveCount: 1 },
    );
    expect(await callDeliver(malformed)).toEqual({ batchItemFailures: [] });
    const moved = lambdas.sqs.messages.slice(before);
    expect(moved.map((message) => [message.queueUrl, message.body])).toEqual([
      [lambdas.sqs.queueUrl("hookline-dead-letters"), "{not json"],
    ]);
  });

  // Deliver loads its SQS client on first use: a retry's ChangeMessageVisibility goes out from
  // the bundle too (a failure there is only logged, so the call itself is what shows it).
  it("schedules a retry through SQS when Bitrix24 fails", async () => {
    const payload = issueOpened();
    const sender = { ...(payload.sender as object), id: OTHER_SENDER };
    const request = await githubRequest(TEST_SECRETS.GITHUB_SECRET, "issues", {
      ...payload,
      sender,
    });
    const before = lambdas.sqs.messages.length;
    expect((await callIngest(webhookEvent("github", request))).statusCode).toBe(202);
    const queued = lambdas.sqs.messages.slice(before);
    expect(queued).toHaveLength(1);
    const sent = lambdas.simulator.messages.length;
    lambdas.simulator.inject({ status: 500 });
    const event = toSqsEvent(queued, { receiveCount: 1 });
    expect(await callDeliver(event)).toEqual({
      batchItemFailures: [{ itemIdentifier: event.Records[0]?.messageId }],
    });
    expect(lambdas.simulator.messages).toHaveLength(sent);
    expect(lambdas.sqs.visibilityChanges.map((change) => change.receiptHandle)).toEqual([
      event.Records[0]?.receiptHandle,
    ]);
  });

  it("runs the sweeper: nothing due, nothing queued", async () => {
    const before = lambdas.sqs.messages.length;
    const result = await inTaskRoot("sweep", () => sweep({}, fakeContext()));
    expect(result).toEqual({ dueEvents: 0, flushes: 0 });
    expect(lambdas.sqs.messages).toHaveLength(before);
  });
});

function handlerOf(module: Record<string, unknown>): unknown {
  expect(typeof module.handler).toBe("function");
  return module.handler;
}
