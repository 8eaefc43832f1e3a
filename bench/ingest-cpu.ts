import { createHmac, randomUUID, timingSafeEqual } from "node:crypto";
import { makeSecretResolver } from "../functions/adapters/secrets";
import { systemClock } from "../functions/core/clock";
import { makeIngest, type WebhookRequest } from "../functions/core/ingest";
import { silentLog } from "../functions/core/log";
import { noMetrics } from "../functions/core/metrics";
import type { JobQueue, OutcomeStore, ReceiptStore } from "../functions/core/ports";
import { compileRoutes } from "../functions/core/routes";
import {
  benchConfig,
  eventName,
  GITHUB_SECRET,
  GITHUB_SECRET_ENV,
  type GithubPayload,
  githubHeaders,
  senderId,
} from "./fixtures";
import { median } from "./stats";

export interface IngestCpuOptions {
  /** Untimed calls of each side before a payload's batches. */
  warmup: number;
  batches: number;
  batchSize: number;
}

export interface PayloadCpu {
  name: string;
  bodyBytes: number;
  /** Median nanoseconds per webhook over the batches. */
  ingestNs: number;
  floorNs: number;
  ratio: number;
  /** What ingest answered: `queued` (202, one message) or `failed` (202, the route failed). */
  path: "queued" | "failed";
}

/**
 * In-memory ports: each write is a Map set, so the timed work is ingest's own. The receipt store
 * never answers `duplicate` (the bench sends the same body many times).
 */
function memoryPorts() {
  const receipts = new Map<string, Date>();
  const jobs = new Map<string, unknown>();
  const outcomes = new Map<string, unknown>();
  const receiptStore: ReceiptStore = {
    async record(receipt, receivedAt) {
      receipts.set(receipt.eventId, receivedAt);
      return { state: "recorded" };
    },
  };
  const queue: JobQueue = {
    async enqueue(queued) {
      for (const job of queued) jobs.set("jobId" in job ? job.jobId : "flush", job);
    },
  };
  const unused = async (): Promise<never> => {
    throw new Error("not used by ingest");
  };
  const outcomeStore: OutcomeStore = {
    async finish(record) {
      outcomes.set(record.jobId, record);
      return record;
    },
    defer: unused,
    notified: unused,
    reschedule: unused,
    pending: unused,
    pendingByIds: unused,
    marker: unused,
    allowResend: unused,
    due: unused,
    get: unused,
    getMany: unused,
    begin: unused,
    abandon: unused,
  };
  const clear = () => {
    for (const map of [receipts, jobs, outcomes]) map.clear();
  };
  return { receipts: receiptStore, queue, outcomes: outcomeStore, clear };
}

/**
 * P1: ingest CPU per webhook for every payload, I/O faked in process, against the least any
 * receiver must do with the same body: HMAC-SHA256, a constant-time compare and JSON.parse.
 * One config routes every event (`*`) through a realistic route, so each webhook takes the whole
 * 202 path. Per payload, batches of the two sides alternate (so noise hits both) and each figure
 * is the median batch; the batches of all payloads are interleaved, round by round, in shuffled
 * orders. `onProgress` is called after each round.
 */
export async function measureIngestCpu(
  payloads: readonly GithubPayload[],
  options: IngestCpuOptions,
  onProgress?: (rounds: number) => void,
): Promise<PayloadCpu[]> {
  const config = benchConfig(payloads.map(senderId).filter((id) => id !== undefined));
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

  const prepared = await Promise.all(
    payloads.map(async (sample) => {
      const headers = await githubHeaders(sample, "template");
      return { sample, headers, body: Buffer.from(sample.body, "utf8") };
    }),
  );

  // Fresh delivery ids, made before any timing (the id is not signed).
  const requestsFor = (item: (typeof prepared)[number], count: number): WebhookRequest[] =>
    Array.from({ length: count }, () => ({
      sourceId: "github",
      headers: { ...item.headers, "x-github-delivery": randomUUID() },
      body: item.body,
    }));

  const runIngest = async (requests: readonly WebhookRequest[]): Promise<number> => {
    const start = process.cpuUsage();
    for (const request of requests) {
      const answer = await ingest(request);
      if (answer.statusCode !== 202) throw new Error(`ingest bench: got ${answer.statusCode}`);
    }
    const elapsed = cpuNs(start) / requests.length;
    ports.clear();
    return elapsed;
  };

  // Warm-up over a spread of payloads, so the first payload measured is not also the JIT's.
  for (let round = 0; round < 4; round++) {
    for (let i = 0; i < prepared.length; i += 7) {
      await runIngest(requestsFor(prepared[i] as (typeof prepared)[number], 10));
    }
  }

  let sink = 0;
  const measured = prepared.map((item) => {
    const { body } = item;
    const expected = createHmac("sha256", GITHUB_SECRET).update(body).digest();
    const floorBatch = (count: number): number => {
      const start = process.cpuUsage();
      for (let i = 0; i < count; i++) {
        const digest = createHmac("sha256", GITHUB_SECRET).update(body).digest();
        if (!timingSafeEqual(digest, expected)) throw new Error("floor: digest mismatch");
        const parsed = JSON.parse(body.toString("utf8")) as { action?: unknown };
        if (parsed.action !== undefined) sink++;
      }
      return cpuNs(start) / count;
    };
    return { item, floorBatch, ingestNs: [] as number[], floorNs: [] as number[], path: "" };
  });

  for (const entry of measured) {
    const first = await ingest(requestsFor(entry.item, 1)[0] as WebhookRequest);
    if (first.statusCode !== 202 || first.body.status !== "accepted") {
      throw new Error(
        `ingest bench: ${eventName(entry.item.sample)} answered ${JSON.stringify(first)}`,
      );
    }
    entry.path = first.body.messages === 1 ? "queued" : "failed";
    entry.floorBatch(options.warmup);
    await runIngest(requestsFor(entry.item, options.warmup));
  }

  // Batches interleaved across payloads: each round visits every payload once, in an order of
  // its own, so no payload is always measured first after the warm-up or next to the same
  // neighbours (the smallest payload measured first read high).
  const random = seeded(0x5eed);
  for (let batch = 0; batch < options.batches; batch++) {
    for (const entry of shuffled(measured, random)) {
      const requests = requestsFor(entry.item, options.batchSize);
      // Alternate which goes first, so neither always runs right after the other's garbage.
      if (batch % 2 === 0) {
        entry.floorNs.push(entry.floorBatch(options.batchSize));
        entry.ingestNs.push(await runIngest(requests));
      } else {
        entry.ingestNs.push(await runIngest(requests));
        entry.floorNs.push(entry.floorBatch(options.batchSize));
      }
    }
    onProgress?.(batch + 1);
  }

  const results: PayloadCpu[] = measured.map((entry) => {
    const ingestMedian = median(entry.ingestNs);
    const floorMedian = median(entry.floorNs);
    return {
      name: eventName(entry.item.sample),
      bodyBytes: entry.item.body.length,
      ingestNs: ingestMedian,
      floorNs: floorMedian,
      ratio: ingestMedian / floorMedian,
      path: entry.path as PayloadCpu["path"],
    };
  });
  if (sink === 0) throw new Error("ingest bench: the floor parsed nothing");
  return results;
}

/** A small deterministic generator (mulberry32), so every run visits payloads in the same orders. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A shuffled copy (Fisher-Yates). */
function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
  }
  return copy;
}

/**
 * CPU time (user + system) of this process since `start`, in nanoseconds: unlike wall time, it
 * does not count the time other processes on the machine held the CPU.
 */
function cpuNs(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return (used.user + used.system) * 1000;
}

/** Rows of the P1 table: payloads at these ranks by size (0 = smallest, 1 = largest). */
export const P1_QUANTILES = [
  ["smallest", 0],
  ["p10", 0.1],
  ["p25", 0.25],
  ["median", 0.5],
  ["p75", 0.75],
  ["p90", 0.9],
  ["largest", 1],
] as const;

/** The payload at quantile `q` of a list sorted by size (the lower middle for an even count). */
export const atQuantile = <T>(sorted: readonly T[], q: number): T =>
  sorted[Math.round(q * (sorted.length - 1))] as T;
