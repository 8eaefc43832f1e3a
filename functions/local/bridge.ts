import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { newRunToken } from "../../devkit/run-state";
import { checkSecretsReadable } from "../../devkit/secret-check";
import { makeSecretResolver } from "../adapters/secrets";
import type { Tracing } from "../adapters/tracing";
import { makeIngestDeps, makeSweepDeps, portalsDeliver, type Wiring } from "../adapters/wiring";
import { type Clock, systemClock } from "../core/clock";
import type { Config } from "../core/config";
import { deliveryTimings } from "../core/delivery-timings";
import type { IngestDeps } from "../core/ingest";
import type { Log } from "../core/log";
import { type Metrics, noMetrics } from "../core/metrics";
import { makeSweep } from "../core/sweep";
import { createDeliverHandler } from "../deliver/app";
import { createIngestHandler } from "../ingest/app";
import {
  type BitrixSimulator,
  type SimulatorOptions,
  startBitrixSimulator,
} from "./bitrix-simulator";
import { BurstDetector } from "./burst";
import { type LocalDynamo, startDynalite } from "./dynalite-server";
import { ensureTable } from "./ensure-table";
import { fakeContext, startHttpServer } from "./http-server";
import { inProcessHandler } from "./in-process-dynamo";
import { type LocalPage, withLocalRoutes } from "./local-routes";
import { MemoryQueue, type MemoryQueueOptions } from "./memory-queue";
import { makeMemoryReceiptStore } from "./memory-receipts";
import { RequestLog } from "./request-log";
import { makeRequestRecorder, observeOutcomes, RoutedNames } from "./request-recorder";

export interface LocalBridgeOptions {
  config: Config;
  /** 0 picks a free port. */
  port: number;
  host?: string;
  /** Where `env:` secret references and AWS_ENDPOINT_URL_DYNAMODB are read. */
  env: Readonly<Record<string, string | undefined>>;
  tableName: string;
  log: Log;
  metrics?: Metrics;
  clock?: Clock;
  /** Overrides for the built-in Bitrix24 simulator (used when the config names no webhook URL). */
  simulator?: Partial<SimulatorOptions>;
  queue?: Partial<MemoryQueueOptions>;
  /** The deliver "Lambda" timeout: how long one batch may take. */
  deliverTimeoutMs?: number;
  /** How often the sweeper looks for due digests (default: every minute, faster for short weeks). */
  sweepEveryMs?: number;
  /** Lifetime of the access tokens simulated OAuth portals issue (default an hour, as Bitrix24). */
  oauthTokenTtlMs?: number;
  /** The run's secret for state-changing local endpoints (default: a fresh one). */
  token?: string;
  /**
   * Where ingest keeps event receipts: `memory` (the default with the embedded DynamoDB, which
   * lives in memory as well) or `table` (the default when AWS_ENDPOINT_URL_DYNAMODB names a
   * server of the user's own, so receipts outlive the run as that server's data does).
   */
  receipts?: "memory" | "table";
  /** Local-only pages served before the webhook routes (the inbox), given the running bridge. */
  pages?: (bridge: Omit<LocalBridge, "close">) => readonly LocalPage[];
  /**
   * The same spans the Lambdas make with tracing on (`npm start -- --trace`, docs/tracing.md):
   * ingest's, deliver's as its child through the queue, a client span per Bitrix24 call. The
   * caller owns it (and shuts it down). Default: none.
   */
  tracing?: Tracing;
}

export interface LocalBridge {
  url: string;
  queue: MemoryQueue;
  /** The first portal's simulator, when it is simulated. */
  simulator: BitrixSimulator | undefined;
  /** Every simulated portal's simulator, by portal id. */
  simulators: ReadonlyMap<string, BitrixSimulator>;
  dynamoEndpoint: string;
  /** What a client signs with: the embedded server's per-run credentials, or the environment's. */
  dynamoCredentials: { accessKeyId: string; secretAccessKey: string };
  dynamo: DynamoDBClient;
  /** The run's secret: the inbox page, the run file and the simulator's controls know it. */
  token: string;
  /** Recent requests with their answers, then the outcomes of their messages. */
  requestLog: RequestLog;
  close(): Promise<void>;
}

/**
 * The whole pipeline on one machine: HTTP server -> ingest handler -> in-process queue ->
 * deliver handler -> Bitrix24 (or the simulator), over DynamoDB (or embedded dynalite). The
 * handlers are the very ones the Lambdas run; only the queue and the servers are local.
 */
export async function startLocalBridge(options: LocalBridgeOptions): Promise<LocalBridge> {
  const { config, env, log } = options;
  const token = options.token ?? newRunToken();
  const closers: (() => Promise<void>)[] = [];
  const inFlight = new InFlight();
  const close = async () => {
    for (const closer of closers.reverse()) await closer().catch(() => {});
  };
  try {
    let dynamoEndpoint = env.AWS_ENDPOINT_URL_DYNAMODB;
    let dynamoCredentials = {
      accessKeyId: env.AWS_ACCESS_KEY_ID ?? "local",
      secretAccessKey: env.AWS_SECRET_ACCESS_KEY ?? "local",
    };
    let embedded: LocalDynamo | undefined;
    if (!dynamoEndpoint) {
      // Answers only clients that sign with its per-run credentials (docs/security.md).
      embedded = await startDynalite();
      closers.push(embedded.close);
      dynamoEndpoint = embedded.endpoint;
      dynamoCredentials = embedded.credentials;
    }
    const dynamo = new DynamoDBClient({
      endpoint: dynamoEndpoint,
      // The embedded server is in this process: its own client skips the socket.
      ...(embedded?.requestListener && {
        requestHandler: inProcessHandler(embedded.requestListener),
      }),
      region: env.AWS_REGION ?? "local",
      credentials: dynamoCredentials,
    });
    closers.push(async () => dynamo.destroy());
    // Runs before the client and the server above stop, after intake has stopped (closers run in
    // reverse): the work still running finishes first, so no write reaches a closed database.
    closers.push(() => inFlight.settled(CLOSE_WAIT_MS));
    await ensureTable(dynamo, options.tableName);

    const requestLog = new RequestLog();
    const showOutcome = (outcome: Parameters<RequestLog["addOutcome"]>[0]) =>
      requestLog.addOutcome(outcome);
    const resolveSecret = makeSecretResolver({ env });
    await checkSecretsReadable(config, resolveSecret);
    // Every portal with no real Bitrix24 behind it gets a simulator of its own: its own bucket,
    // weekly ledger and, for an OAuth app, OAuth server.
    const simulators = new Map<string, BitrixSimulator>();
    for (const portal of config.portals) {
      if (portal.webhookUrl || (portal.oauth && portal.url)) continue;
      const oauth = portal.oauth && {
        clientId: await resolveSecret(portal.oauth.clientId),
        clientSecret: await resolveSecret(portal.oauth.clientSecret),
        refreshToken: await resolveSecret(portal.oauth.refreshToken),
        ...(options.oauthTokenTtlMs !== undefined && { accessTokenTtlMs: options.oauthTokenTtlMs }),
      };
      const simulator = await startBitrixSimulator({
        openLineCodes: Object.values(portal.openLines),
        rateLimit: portal.rateLimit,
        weeklyLimit: portal.weeklyLimit,
        weekMs: portal.weekSeconds * 1000,
        ...(oauth && { oauth }),
        controlToken: token,
        ...options.simulator,
      });
      closers.push(simulator.close);
      simulators.set(portal.id, simulator);
    }

    const wiring: Wiring = {
      config,
      dynamo,
      tableName: options.tableName,
      resolveSecret,
      clock: options.clock ?? systemClock,
      log,
      metrics: options.metrics ?? noMetrics,
      simulated: simulators,
      observeOutcomes: (outcomes) => observeOutcomes(outcomes, showOutcome),
      // The local table is free: `hookline events` lists sent messages too.
      listSentOutcomes: true,
      ...(options.tracing && { tracing: options.tracing }),
    };
    const { tracing } = options;
    const burst = new BurstDetector();
    const timings = deliveryTimings(config);
    const deliverTimeoutMs = options.deliverTimeoutMs ?? timings.deliverTimeoutSeconds * 1000;
    const queue = new MemoryQueue({
      maxReceives: timings.maxReceiveCount,
      visibilityTimeoutMs: deliverTimeoutMs + 5_000,
      retentionMs: timings.queueRetentionSeconds * 1000,
      batchSize: 5,
      concurrency: 2,
      ...(tracing && { traceContext: () => tracing.carrier() }),
      // Deliver yields to ingest: during a burst, taking webhooks in comes first.
      yieldWhile: () => burst.busy(),
      ...options.queue,
    });
    closers.push(async () => queue.stop());

    const receipts =
      (options.receipts ?? (embedded ? "memory" : "table")) === "memory"
        ? makeMemoryReceiptStore()
        : undefined;
    const routedNames = new RoutedNames();
    const ingestHandler = createIngestHandler({
      log,
      ...(tracing && { tracing: async () => tracing }),
      deps: async () => {
        const deps = makeIngestDeps(wiring, queue);
        return {
          ...deps,
          secretsFor: envSecretsOnce(config, deps.secretsFor),
          router: routedNames.noting(deps.router),
          ...(receipts && { receipts }),
        };
      },
    });
    const deliver = portalsDeliver(wiring);
    const deliverHandler = createDeliverHandler({
      log,
      deps: async () => ({
        deliver,
        retries: queue,
        deadLetters: queue,
        ...(tracing && { tracing }),
      }),
    });
    queue.start((event) => inFlight.track(deliverHandler(event, fakeContext(deliverTimeoutMs))));

    // The sweeper, as the schedule runs it on AWS: every minute, or faster for short test weeks.
    const sweep = makeSweep(makeSweepDeps(wiring, queue));
    const shortestWeek = Math.min(...config.portals.map((portal) => portal.weekSeconds));
    const sweepEveryMs = options.sweepEveryMs ?? Math.min(60_000, shortestWeek * 100);
    const sweeper = setInterval(() => {
      inFlight
        .track(sweep())
        .catch((error: unknown) => log.error("sweep failed", { error: String(error) }));
    }, sweepEveryMs);
    closers.push(async () => clearInterval(sweeper));

    const record = makeRequestRecorder({
      config,
      requestLog,
      secretsFor: (source) => Promise.all(source.secret.map(wiring.resolveSecret)),
      clock: wiring.clock,
      routedName: (sourceId, eventId) => routedNames.take(sourceId, eventId),
    });
    const simulator = [...simulators.values()][0];
    const running = {
      url: "",
      queue,
      simulator,
      simulators,
      dynamoEndpoint,
      dynamoCredentials,
      dynamo,
      token,
      requestLog,
    };
    const server = await startHttpServer(
      withLocalRoutes(
        (event, context) => {
          burst.arrived();
          return inFlight.track(ingestHandler(event, context));
        },
        {
          record,
          pages: options.pages?.(running) ?? [],
        },
      ),
      options.port,
      options.host,
      {
        maxBodyBytes: config.limits.maxBodyBytes,
        sourceIds: new Set(config.sources.map((source) => source.id)),
      },
    );
    closers.push(server.close);
    running.url = server.url;
    return { ...running, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/**
 * The local run reads its environment once, at start: a source whose secrets are all `env:`
 * references is resolved once, not on every webhook. Others (`secretsmanager:`) are asked each
 * time, as on AWS (where the resolver caches them for minutes). A failure is not kept.
 */
function envSecretsOnce(
  config: Config,
  secretsFor: IngestDeps["secretsFor"],
): IngestDeps["secretsFor"] {
  const fixed = new Set(
    config.sources
      .filter((source) => source.secret.every((ref) => ref.startsWith("env:")))
      .map((source) => source.id),
  );
  const resolved = new Map<string, Promise<readonly string[]>>();
  return (source) => {
    if (!fixed.has(source.id)) return secretsFor(source);
    let secrets = resolved.get(source.id);
    if (!secrets) {
      secrets = secretsFor(source);
      resolved.set(source.id, secrets);
      secrets.catch(() => resolved.delete(source.id));
    }
    return secrets;
  };
}

/** How long closing waits for running work (a deliver batch is bounded by its own timeout). */
const CLOSE_WAIT_MS = 30_000;

/** Work under way (ingest requests, deliver batches, sweeps), so closing can wait for it. */
class InFlight {
  /** A count, not a set of promises: tracking runs on every webhook. */
  private running = 0;
  private idle: (() => void)[] = [];
  private readonly finished = () => {
    this.running -= 1;
    if (this.running > 0) return;
    for (const resolve of this.idle.splice(0)) resolve();
  };

  track<T>(work: Promise<T>): Promise<T> {
    this.running += 1;
    work.then(this.finished, this.finished);
    return work;
  }

  /** Resolves once nothing runs (intake has stopped when closing asks), or after `boundMs`. */
  async settled(boundMs: number): Promise<void> {
    if (this.running === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, boundMs);
    });
    await Promise.race([new Promise<void>((resolve) => this.idle.push(resolve)), bound]);
    clearTimeout(timer);
  }
}
