import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { systemClock } from "../core/clock";
import type { Log } from "../core/log";
import type { Metrics } from "../core/metrics";
import { onceUntilFailure } from "../core/once";
import { bundledConfig } from "./bundled-config";
import { readEnvironment, required } from "./environment";
import { makeSecretResolver } from "./secrets";
import { makeSqsDeadLetters, makeSqsQueue } from "./sqs-queue";
import { noTracing, type Tracing } from "./tracing";
import type { Wiring } from "./wiring";

/** How long one AWS request may take, and how often the SDK tries it, per function. */
export interface AwsRequestBudget {
  requestTimeoutMs: number;
  maxAttempts: number;
}

/**
 * Ingest must answer within its 8 s: a receipt put, an outcome read per job (a retry only) and an
 * enqueue each take at most 2 × 1 s, so ingest ends before the Lambda's own timeout. Should it die
 * anyway, the sender's retry finds the receipt and queues every job that has no outcome
 * (docs/ingest-receipts.md).
 */
export const INGEST_AWS_BUDGET: AwsRequestBudget = { requestTimeoutMs: 1000, maxAttempts: 2 };
/** Deliver and the sweeper have time: the SDK's usual three tries, each bounded. */
export const WORKER_AWS_BUDGET: AwsRequestBudget = { requestTimeoutMs: 3000, maxAttempts: 3 };

/**
 * The DynamoDB and SQS clients' options for a budget: options of the SDK's own Node.js handler
 * (no module more on the cold path). `throwOnRequestTimeout` makes the request timeout abort the
 * request: without it the installed @smithy/node-http-handler only logs a warning and waits on,
 * past the Lambda's own timeout (test/integration/aws-timeouts.test.ts).
 */
export function awsClientOptions(budget: AwsRequestBudget) {
  return {
    maxAttempts: budget.maxAttempts,
    requestHandler: {
      requestTimeout: budget.requestTimeoutMs,
      throwOnRequestTimeout: true,
      connectionTimeout: Math.min(1000, budget.requestTimeoutMs),
    },
  };
}

/**
 * Builds what a Lambda needs from its environment: the bundled config, the DynamoDB table,
 * the SQS queues and the secrets under HOOKLINE_SECRET_PREFIX. Call once per cold start. With
 * `tracing`, queued messages carry the trace context and Bitrix24 calls get client spans. The SQS
 * client is built on first use: deliver's first message needs none.
 */
export async function awsWiring(
  log: Log,
  metrics: Metrics,
  budget: AwsRequestBudget,
  tracing: Tracing = noTracing,
) {
  const env = readEnvironment();
  // The config checked at synth and carried by the bundle; a bundle without one (built by hand)
  // reads and checks HOOKLINE_CONFIG, and only then loads the schemas.
  const checked = bundledConfig();
  const config = checked ?? (await import("../core/config")).loadConfigFile(env.configPath);
  const clientOptions = awsClientOptions(budget);
  const wiring: Wiring = {
    config,
    checked: checked !== undefined,
    dynamo: new DynamoDBClient(clientOptions),
    tableName: env.HOOKLINE_TABLE,
    resolveSecret: makeSecretResolver({
      env: process.env,
      parameterPrefix: env.HOOKLINE_SECRET_PREFIX,
    }),
    clock: systemClock,
    log,
    metrics,
    ...(tracing !== noTracing && { tracing }),
  };
  const sqs = onceUntilFailure(
    async () => new (await import("@aws-sdk/client-sqs")).SQSClient(clientOptions),
  );
  const queue = makeSqsQueue(sqs, required(env.HOOKLINE_QUEUE_URL, "HOOKLINE_QUEUE_URL"), tracing);
  const deadLetters = () =>
    makeSqsDeadLetters(
      sqs,
      required(env.HOOKLINE_DEAD_LETTER_QUEUE_URL, "HOOKLINE_DEAD_LETTER_QUEUE_URL"),
    );
  return { wiring, queue, deadLetters };
}
