import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { Clock } from "../core/clock";
import type { Config } from "../core/config";
import type { DeliverDeps } from "../core/deliver";
import { deliveryTimings } from "../core/delivery-timings";
import { makeDigestComposer } from "../core/digest";
import { ConfigError } from "../core/errors";
import type { IngestDeps } from "../core/ingest";
import type { Log } from "../core/log";
import type { Metrics } from "../core/metrics";
import type { BitrixClient, JobQueue } from "../core/ports";
import { compileRoutes } from "../core/routes";
import type { SweepDeps } from "../core/sweep";
import { createTemplateEngine } from "../core/template";
import { makeBitrixWebhookClient } from "./bitrix-client";
import { makeDynamoOutcomeStore } from "./dynamo/outcomes";
import { makeDynamoRateLimiter } from "./dynamo/rate-limiter";
import { makeDynamoReceiptStore } from "./dynamo/receipts";
import { makeDynamoSlotStore } from "./dynamo/slots";

/**
 * Requests of the portal's bucket hookline never uses. Sending exactly at the limit overflows a
 * full bucket as soon as network jitter brings two requests closer than one drain interval;
 * two spare units absorb that (and another app's odd call) at no cost to the steady drain rate.
 */
export const BUCKET_RESERVE = 2;

/** What both functions share, built once per process (Lambda cold start or local run). */
export interface Wiring {
  config: Config;
  dynamo: DynamoDBClient;
  tableName: string;
  resolveSecret: (ref: string) => Promise<string>;
  clock: Clock;
  log: Log;
  metrics: Metrics;
}

/** The ingest use case's dependencies over DynamoDB and the given queue. */
export function ingestDeps(wiring: Wiring, queue: JobQueue): IngestDeps {
  const { config, dynamo, tableName, resolveSecret, clock, log, metrics } = wiring;
  return {
    config,
    secretsFor: (source) => Promise.all(source.secret.map(resolveSecret)),
    router: compileRoutes(config),
    receipts: makeDynamoReceiptStore(dynamo, tableName),
    queue,
    outcomes: makeDynamoOutcomeStore(dynamo, tableName),
    clock,
    log,
    metrics,
  };
}

/**
 * The deliver use case's dependencies. The Bitrix24 client comes from the config's webhook URL
 * (a secret) unless one is given (the local simulator).
 */
export async function deliverDeps(
  wiring: Wiring,
  bitrixEndpoint?: { client: BitrixClient; portal: string },
): Promise<DeliverDeps> {
  const { config, dynamo, tableName, resolveSecret, clock, log, metrics } = wiring;
  const endpoint = bitrixEndpoint ?? (await webhookEndpoint(config, resolveSecret));
  const timings = deliveryTimings(config);
  return {
    bitrix: config.bitrix,
    portal: endpoint.portal,
    timings,
    slots: makeDynamoSlotStore(dynamo, tableName, timings),
    composeDigest: makeDigestComposer(config.digest, createTemplateEngine(config.lookups)),
    limiter: makeDynamoRateLimiter(dynamo, tableName, {
      portal: endpoint.portal,
      perSecond: config.bitrix.rateLimit.perSecond,
      burst: Math.max(1, config.bitrix.rateLimit.burst - BUCKET_RESERVE),
    }),
    client: endpoint.client,
    outcomes: makeDynamoOutcomeStore(dynamo, tableName),
    clock,
    log,
    metrics,
  };
}

/** The sweeper's dependencies: the due index, the slots' queued-flush marks, the queue. */
export function sweepDeps(wiring: Wiring, queue: JobQueue): SweepDeps {
  const { config, dynamo, tableName, clock, log, metrics } = wiring;
  const timings = deliveryTimings(config);
  return {
    outcomes: makeDynamoOutcomeStore(dynamo, tableName),
    slots: makeDynamoSlotStore(dynamo, tableName, timings),
    queue,
    clock,
    log,
    metrics,
    // Long enough for a queued flush to be handed out and hold the slot, short enough that a
    // flush lost to a crash is queued again soon.
    flushQueuedMs: Math.min(timings.maxBackoffMs, 5 * 60_000) + timings.leaseMs,
  };
}

async function webhookEndpoint(
  config: Config,
  resolveSecret: (ref: string) => Promise<string>,
): Promise<{ client: BitrixClient; portal: string }> {
  if (!config.bitrix.webhookUrl) {
    throw new ConfigError(
      "bitrix.webhookUrl: required to deliver (OAuth via bitrix.auth is not supported yet)",
    );
  }
  const webhookUrl = await resolveSecret(config.bitrix.webhookUrl);
  let portal: string;
  try {
    portal = new URL(webhookUrl).host;
  } catch {
    throw new ConfigError(
      `bitrix.webhookUrl: the value of ${config.bitrix.webhookUrl} is not a URL`,
    );
  }
  return {
    client: makeBitrixWebhookClient({ webhookUrl, timeoutMs: config.bitrix.timeoutMs }),
    portal,
  };
}
