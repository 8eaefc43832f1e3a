import { createHmac, randomUUID, timingSafeEqual } from "node:crypto";
import { makeSecretResolver } from "../functions/adapters/secrets";
import { systemClock } from "../functions/core/clock";
import { makeIngest, type WebhookRequest } from "../functions/core/ingest";
import type { DeliveryJob } from "../functions/core/job";
import { silentLog } from "../functions/core/log";
import { noMetrics } from "../functions/core/metrics";
import type { OutcomeRecord } from "../functions/core/outcome";
import type { JobQueue, OutcomeStore, ReceiptStore } from "../functions/core/ports";
import { compileRoutes } from "../functions/core/routes";
import { githubRequest } from "../test/support/signers";
import {
  benchConfig,
  eventName,
  GITHUB_SECRET,
  GITHUB_SECRET_ENV,
  type GithubPayload,
  senderId,
} from "./fixtures";
import { median } from "./stats";

export interface IngestCpuOptions {
  warmupIterations: number;
  batches: number;
  batchSize: number;
}

export interface IngestCpuResult {
  payload: string;
  bodyBytes: number;
  /** Median nanoseconds per webhook over the batches. */
  ingestNs: number;
  baselineNs: number;
  iterations: number;
}

/** In-memory ports that do nothing but a Map set (and the has() a receipt needs). */
function memoryPorts() {
  const receiptMap = new Map<string, Date>();
  const jobMap = new Map<string, DeliveryJob>();
  const outcomeMap = new Map<string, OutcomeRecord>();
  const receipts: ReceiptStore = {
    async record(receipt, receivedAt) {
      const key = `${receipt.sourceId}#${receipt.contentHash ?? receipt.eventId}`;
      if (receiptMap.has(key)) return "duplicate";
      receiptMap.set(key, receivedAt);
      return "recorded";
    },
    async remove(receipt) {
      receiptMap.delete(`${receipt.sourceId}#${receipt.contentHash ?? receipt.eventId}`);
    },
  };
  const queue: JobQueue = {
    async enqueue(jobs) {
      for (const job of jobs) jobMap.set(job.jobId, job);
    },
  };
  const outcomes: OutcomeStore = {
    async record(outcome) {
      outcomeMap.set(outcome.jobId, outcome);
    },
    async begin() {
      return "started";
    },
    async abandon() {},
    async get(jobId) {
      return outcomeMap.get(jobId);
    },
  };
  return { receipts, queue, outcomes, jobs: jobMap };
}

/**
 * Ingest use case CPU per webhook, I/O faked in process, against the least any receiver must do:
 * HMAC-SHA256 of the body, a constant-time compare and JSON.parse. Baseline and ingest batches
 * alternate, so machine noise hits both; each figure is the median batch.
 */
export async function measureIngestCpu(
  sample: GithubPayload,
  options: IngestCpuOptions,
): Promise<IngestCpuResult> {
  const name = eventName(sample);
  const config = benchConfig([name], [senderId(sample)]);
  const ports = memoryPorts();
  // The same secretsFor as functions/adapters/wiring.ts, over the real env resolver.
  const resolveSecret = makeSecretResolver({ env: { [GITHUB_SECRET_ENV]: GITHUB_SECRET } });
  const ingest = makeIngest({
    config,
    secretsFor: (source) => Promise.all(source.secret.map(resolveSecret)),
    router: compileRoutes(config),
    ...ports,
    clock: systemClock,
    log: silentLog,
    metrics: noMetrics,
  });

  // GitHub signs the body only, so one signature serves every delivery id.
  const signed = await githubRequest(GITHUB_SECRET, sample.event, sample.payload, "template");
  const body = Buffer.from(signed.body, "utf8");
  const total = options.warmupIterations + options.batches * options.batchSize;
  // Fresh delivery ids (else the receipt fake answers duplicate), made before any timing.
  const requests: WebhookRequest[] = Array.from({ length: total }, () => ({
    sourceId: "github",
    headers: { ...signed.headers, "x-github-delivery": randomUUID() },
    body,
  }));

  const first = await ingest(requests[0] as WebhookRequest);
  if (first.statusCode !== 202 || first.body.status !== "accepted" || first.body.messages !== 1) {
    throw new Error(`ingest bench: expected 202 with one message, got ${JSON.stringify(first)}`);
  }

  const expected = createHmac("sha256", GITHUB_SECRET).update(body).digest();
  let sink = 0;
  const baselineOnce = () => {
    const digest = createHmac("sha256", GITHUB_SECRET).update(body).digest();
    if (!timingSafeEqual(digest, expected)) throw new Error("baseline digest mismatch");
    const parsed = JSON.parse(body.toString("utf8")) as { sender?: unknown };
    if (parsed.sender !== undefined) sink++;
  };

  let next = 1;
  const ingestBatch = async (count: number): Promise<bigint> => {
    const start = process.hrtime.bigint();
    for (let i = 0; i < count; i++) {
      const answer = await ingest(requests[next++] as WebhookRequest);
      if (answer.statusCode !== 202) throw new Error(`ingest bench: got ${answer.statusCode}`);
    }
    return process.hrtime.bigint() - start;
  };
  const baselineBatch = (count: number): bigint => {
    const start = process.hrtime.bigint();
    for (let i = 0; i < count; i++) baselineOnce();
    return process.hrtime.bigint() - start;
  };

  // Warm-up: let both reach optimized code before anything is timed.
  const warm = options.warmupIterations - 1;
  baselineBatch(warm);
  await ingestBatch(warm);

  const ingestNs: number[] = [];
  const baselineNs: number[] = [];
  for (let batch = 0; batch < options.batches; batch++) {
    // Alternate which goes first, so neither always runs right after a GC of the other's garbage.
    if (batch % 2 === 0) {
      baselineNs.push(Number(baselineBatch(options.batchSize)) / options.batchSize);
      ingestNs.push(Number(await ingestBatch(options.batchSize)) / options.batchSize);
    } else {
      ingestNs.push(Number(await ingestBatch(options.batchSize)) / options.batchSize);
      baselineNs.push(Number(baselineBatch(options.batchSize)) / options.batchSize);
    }
  }
  if (sink === 0 || ports.jobs.size !== next) {
    throw new Error(`ingest bench: ${ports.jobs.size} jobs queued for ${next} webhooks`);
  }

  return {
    payload: `${name} ${(body.length / 1024).toFixed(1)} KiB`,
    bodyBytes: body.length,
    ingestNs: median(ingestNs),
    baselineNs: median(baselineNs),
    iterations: options.batches * options.batchSize,
  };
}
