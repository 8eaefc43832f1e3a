import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SQSClient } from "@aws-sdk/client-sqs";
import { systemClock } from "../core/clock";
import { loadConfigFile } from "../core/config";
import type { Log } from "../core/log";
import type { Metrics } from "../core/metrics";
import { readEnvironment, required } from "./environment";
import { makeSecretResolver } from "./secrets";
import { makeSqsQueue } from "./sqs-queue";
import type { Wiring } from "./wiring";

/**
 * Builds what a Lambda needs from its environment: the bundled config, the DynamoDB table,
 * the SQS queue and the secrets mapped in HOOKLINE_SECRETS. Call once per cold start.
 */
export function awsWiring(log: Log, metrics: Metrics) {
  const env = readEnvironment();
  const wiring: Wiring = {
    config: loadConfigFile(env.configPath),
    dynamo: new DynamoDBClient({}),
    tableName: env.HOOKLINE_TABLE,
    resolveSecret: makeSecretResolver({ env: process.env, secretArns: env.HOOKLINE_SECRETS ?? {} }),
    clock: systemClock,
    log,
    metrics,
  };
  const queue = makeSqsQueue(
    new SQSClient({}),
    required(env.HOOKLINE_QUEUE_URL, "HOOKLINE_QUEUE_URL"),
  );
  return { wiring, queue };
}
