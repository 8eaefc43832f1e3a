import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { makeBitrixWebhookClient } from "../functions/adapters/bitrix-client";
import { makeSecretResolver } from "../functions/adapters/secrets";
import { makeDeliverDeps, type Wiring } from "../functions/adapters/wiring";
import { systemClock } from "../functions/core/clock";
import type { PortalConfig } from "../functions/core/config";
import { makeDeliver } from "../functions/core/deliver";
import type { EventJob } from "../functions/core/job";
import { silentLog } from "../functions/core/log";
import { noMetrics } from "../functions/core/metrics";
import { startBitrixSimulator } from "../functions/local/bitrix-simulator";
import { startDynalite } from "../functions/local/dynalite-server";
import { ensureTable } from "../functions/local/ensure-table";
import { OPEN_LINE_CODE, TEST_SECRETS, testConfig } from "../test/support/bridge";

export interface BatchDeliveryOptions {
  messages: number;
  /** 1: one message per request (as before batches); up to 50. */
  maxMessages: number;
  /** Records handed to deliver at once, like the SQS event source's batch. */
  queueBatch: number;
  /** Deliver invocations at once. */
  concurrency: number;
  /**
   * How long the consumer waits for a full `queueBatch` once a record is visible, as the stack's
   * event source does (`maxBatchingWindow`); 0 hands over whatever is visible at once.
   */
  batchingWindowMs?: number;
  /** The portal (Bitrix24's standard plan by default: 2/s, burst 50, 480 s per 600 s). */
  perSecond?: number;
  burst?: number;
  /** What one command costs the simulator's operating time (Bitrix24 default here: 50 ms). */
  commandMs?: number;
}

export interface BatchDeliveryResult extends BatchDeliveryOptions {
  delivered: number;
  /** Users who got more than one message: each message is for its own user. */
  doubled: number;
  /** 503 QUERY_LIMIT_EXCEEDED and 429 OPERATION_TIME_LIMIT answers of the simulator. */
  refusedBucket: number;
  refusedOperating: number;
  requests: number;
  batches: number;
  /** Messages per second in the steady state (after the bucket's burst credit). */
  steadyRate: number;
  steadyMessages: number;
  /** The target: min(bucket rate × 50, operating budget ÷ command cost). */
  limitRate: number;
  seconds: number;
}

/**
 * Deliver's throughput against the simulator, the backlog queued up front: real deliver use case,
 * real stores (dynalite), the real webhook client over HTTP, and a consumer that hands deliver
 * `queueBatch` records at a time, `concurrency` at once, putting retries back after their delay.
 * The simulator enforces the bucket and the operating limit as Bitrix24 does.
 */
export async function measureBatchDelivery(
  options: BatchDeliveryOptions,
): Promise<BatchDeliveryResult> {
  const perSecond = options.perSecond ?? 2;
  const burst = options.burst ?? 50;
  const commandMs = options.commandMs ?? 50;
  const operating = { operatingSeconds: 480, operatingWindowSeconds: 600 };
  const dynamo = await startDynalite();
  const sim = await startBitrixSimulator({
    openLineCodes: [OPEN_LINE_CODE],
    rateLimit: { burst, perSecond },
    operating: {
      limitSeconds: operating.operatingSeconds,
      windowSeconds: operating.operatingWindowSeconds,
      costMs: commandMs,
    },
  });
  const client = new DynamoDBClient({
    endpoint: dynamo.endpoint,
    region: "local",
    credentials: dynamo.credentials,
  });
  try {
    const tableName = "hookline-batch-bench";
    await ensureTable(client, tableName);
    const config = testConfig({
      bitrix: {
        openLineCode: OPEN_LINE_CODE,
        rateLimit: { perSecond, burst, ...operating },
        batch: { maxMessages: options.maxMessages, gatherMs: 1000 },
        timeoutMs: 5000,
        requestLimitSeconds: 60,
      },
      delivery: { leaseSeconds: 180 },
    });
    const wiring: Wiring = {
      config,
      dynamo: client,
      tableName,
      resolveSecret: makeSecretResolver({ env: TEST_SECRETS }),
      clock: systemClock,
      log: silentLog,
      metrics: noMetrics,
    };
    const portal = config.portals[0] as PortalConfig;
    const bitrix = makeBitrixWebhookClient({ webhookUrl: sim.webhookUrl, timeoutMs: 5000 });
    const deliver = makeDeliver(await makeDeliverDeps(wiring, portal, bitrix));

    const receivedAt = new Date().toISOString();
    const queue: EventJob[] = Array.from({ length: options.messages }, (_, i) => ({
      v: 3,
      kind: "event",
      jobId: `bench:${i}:0`,
      sourceId: "app",
      eventId: `evt_${i}`,
      eventName: "order.created",
      receivedAt,
      whenLimited: "digest",
      portal: portal.id,
      openLineCode: OPEN_LINE_CODE,
      userId: 10_000 + i,
      message: `Order [b]#${i}[/b] received.`,
    }));
    const queuedAt = Date.now();
    let inFlight = 0;
    const worker = async () => {
      while (queue.length > 0 || inFlight > 0) {
        // Lambda's SQS event source invokes once the batch is full or its window has passed
        // (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html#sqs-polling-behavior).
        const windowEnds = Date.now() + (options.batchingWindowMs ?? 0);
        while (queue.length > 0 && queue.length < options.queueBatch && Date.now() < windowEnds) {
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        const records = queue.splice(0, options.queueBatch);
        if (records.length === 0) {
          await new Promise((resolve) => setTimeout(resolve, 20));
          continue;
        }
        inFlight += records.length;
        await Promise.all(
          records.map(async (message) => {
            const result = await deliver({
              message,
              receiveCount: 1,
              queuedAt,
              deadline: Date.now() + 300_000,
            }).catch(() => ({ status: "retry" as const, delayMs: 1000, reason: "threw" }));
            if (result.status === "retry") {
              setTimeout(() => queue.push(message), result.delayMs);
              // Counted in flight until it is back in the queue.
              setTimeout(() => inFlight--, result.delayMs);
            } else {
              inFlight--;
            }
          }),
        );
      }
    };
    const started = performance.now();
    await Promise.all(Array.from({ length: options.concurrency }, worker));
    const seconds = (performance.now() - started) / 1000;

    const times = sim.messages.map((m) => m.at).sort((a, b) => a - b);
    const users = sim.messages.map((m) => m.userId);
    const bucketCredit = Math.ceil((burst - 2) * (perSecond / perSecond));
    const { rate, counted } = steadyRate(
      times,
      Math.max(bucketCredit, Math.floor(times.length / 2)),
    );
    return {
      ...options,
      delivered: times.length,
      doubled: users.length - new Set(users).size,
      refusedBucket: sim.stats.rejectedRateLimit,
      refusedOperating: sim.stats.rejectedOperating,
      requests: sim.stats.requests,
      batches: sim.stats.batches,
      steadyRate: rate,
      steadyMessages: counted,
      limitRate: Math.min(
        perSecond * 50,
        operating.operatingSeconds / operating.operatingWindowSeconds / (commandMs / 1000),
      ),
      seconds,
    };
  } finally {
    client.destroy();
    await sim.close();
    await dynamo.close();
  }
}

/**
 * The messages of one request land within milliseconds: count whole requests. From the first
 * request that starts at or after message `j` to the start of the last one, every message in
 * between over the time between the two starts (the last request's own messages excluded). With
 * one message per request this is (k - j) / (t[k] - t[j]).
 */
export function steadyRate(times: readonly number[], j: number): { rate: number; counted: number } {
  const starts: number[] = [];
  for (let i = 0; i < times.length; i++) {
    const previous = times[i - 1];
    if (previous === undefined || (times[i] as number) - previous > 20) starts.push(i);
  }
  const from = starts.find((index) => index >= j);
  const to = starts[starts.length - 1];
  if (from === undefined || to === undefined || to <= from) return { rate: Number.NaN, counted: 0 };
  return {
    rate: ((to - from) * 1000) / ((times[to] as number) - (times[from] as number)),
    counted: to - from,
  };
}
