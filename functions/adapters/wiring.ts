import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { Clock } from "../core/clock";
import type { Config, PortalConfig } from "../core/config";
import { type DeliverDeps, makeDeliver } from "../core/deliver";
import { deliveryTimings, portalWindow } from "../core/delivery-timings";
import { makeDigestComposer } from "../core/digest";
import { ConfigError } from "../core/errors";
import type { IngestDeps } from "../core/ingest";
import type { Log } from "../core/log";
import { type Metrics, portalMetrics } from "../core/metrics";
import { makeTokenProvider, type TokenProvider } from "../core/oauth";
import { onceUntilFailure } from "../core/once";
import { DEFAULT_PORTAL_ID, defaultLineCode } from "../core/portal-defaults";
import { type Deliver, routeToPortals } from "../core/portal-router";
import type { BitrixClient, JobQueue, OutcomeStore } from "../core/ports";
import { compileRoutes } from "../core/routes";
import type { SweepDeps } from "../core/sweep";
import { isPlainTemplate, makeTemplateEngine } from "../core/template";
import { makeBitrixWebhookClient } from "./bitrix-client";
import { makeBitrixOAuthClient, refreshWithBitrix } from "./bitrix-oauth";
import { makeDynamoOutcomeStore } from "./dynamo/outcomes";
import { makeDynamoRateLimiter } from "./dynamo/rate-limiter";
import { makeDynamoReceiptStore } from "./dynamo/receipts";
import { makeDynamoSlotStore } from "./dynamo/slots";
import { makeDynamoTokenStore } from "./dynamo/tokens";
import { loadLiquid } from "./liquid-on-demand";
import type { Tracing } from "./tracing";

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
  /**
   * The config was checked at build time (`cdk synth`, the Lambdas): templates are then compiled
   * on first use, plain interpolation without LiquidJS.
   */
  checked?: boolean;
  /**
   * Portals that stand in for the config's (the local run's simulators), by portal id: their
   * webhook URL, and their origin as the portal URL and OAuth server.
   */
  simulated?: ReadonlyMap<string, { origin: string; webhookUrl: string }>;
  /** Wraps every outcome store deliver uses (the local run shows outcomes as they happen). */
  observeOutcomes?: <T extends OutcomeStore>(outcomes: T) => T;
  /**
   * The `events` index lists `sent` outcomes too (the local run). Unset (a deployed stack), it
   * holds what needs a look: every outcome but `sent` (docs/cost.md).
   */
  listSentOutcomes?: boolean;
  /** A client span per Bitrix24 call (docs/tracing.md); none when unset. */
  tracing?: Tracing;
}

/** The ingest use case's dependencies over DynamoDB and the given queue. */
export function makeIngestDeps(wiring: Wiring, queue: JobQueue): IngestDeps {
  const { config, dynamo, tableName, resolveSecret, clock, log, metrics } = wiring;
  // A checked config (the Lambdas) loads LiquidJS on demand: with the secrets of the first
  // webhook of a source whose routes need it, so it is there before they are routed.
  const needsLiquid = wiring.checked ? sourcesNeedingLiquid(config) : new Set<string>();
  return {
    config,
    secretsFor: async (source) => {
      const secrets = Promise.all(source.secret.map(resolveSecret));
      if (needsLiquid.has(source.id)) await Promise.all([secrets, loadLiquid()]);
      return secrets;
    },
    router: compileRoutes(config, { checked: wiring.checked ?? false }),
    receipts: makeDynamoReceiptStore(dynamo, tableName),
    queue,
    outcomes: outcomeStore(wiring),
    clock,
    log,
    metrics,
  };
}

/** The sources with a route that needs LiquidJS: a condition, or a template beyond interpolation. */
export function sourcesNeedingLiquid(config: Pick<Config, "routes">): Set<string> {
  const strings = (value: unknown): string[] =>
    typeof value === "string"
      ? [value]
      : typeof value === "object" && value !== null
        ? Object.values(value).flatMap(strings)
        : [];
  return new Set(
    config.routes
      .filter(
        (route) =>
          route.condition !== undefined ||
          strings([route.userId, route.message, route.attach, route.keyboard]).some(
            (template) => !isPlainTemplate(template),
          ),
      )
      .map((route) => route.source),
  );
}

/**
 * One portal's deliver dependencies. Its Bitrix24 client is the portal's webhook or OAuth app,
 * unless one is given (a bench's or a test's fake).
 */
export async function makeDeliverDeps(
  wiring: Wiring,
  portal: PortalConfig,
  client?: BitrixClient,
): Promise<DeliverDeps> {
  const { config, dynamo, tableName, clock, log, metrics } = wiring;
  const window = portalWindow(portal);
  const timings = { ...deliveryTimings(config), ...window };
  return {
    bitrix: {
      openLineCode: defaultLineCode(portal),
      weeklyLimit: portal.weeklyLimit,
      timeoutMs: portal.timeoutMs,
    },
    portal: portal.id,
    timings,
    slots: makeDynamoSlotStore(dynamo, tableName, { ...window, evidenceMs: timings.evidenceMs }),
    composeDigest: makeDigestComposer(
      config.digest,
      makeTemplateEngine(config.lookups, { checked: wiring.checked ?? false }),
    ),
    limiter: makeDynamoRateLimiter(dynamo, tableName, {
      portal: portal.id,
      perSecond: portal.rateLimit.perSecond,
      burst: Math.max(1, portal.rateLimit.burst - BUCKET_RESERVE),
    }),
    client: client ?? (await portalClient(wiring, portal)),
    batching: {
      ...portal.batch,
      perSecond: portal.rateLimit.perSecond,
      budget: {
        operatingSeconds: portal.rateLimit.operatingSeconds,
        operatingWindowSeconds: portal.rateLimit.operatingWindowSeconds,
      },
    },
    outcomes: outcomeStore(wiring),
    clock,
    log,
    metrics: portalMetrics(metrics, portal.id, config.portals.length),
  };
}

/**
 * Deliver for every portal of the config: each portal is built on first use (its secrets read
 * then), so one portal's broken secret never stops the others.
 */
export function portalsDeliver(wiring: Wiring): Deliver {
  const deliverers = new Map(
    wiring.config.portals.map((portal) => [
      portal.id,
      onceUntilFailure(async () =>
        liquidForDigests(wiring, makeDeliver(await makeDeliverDeps(wiring, portal))),
      ),
    ]),
  );
  return routeToPortals({
    portals: deliverers,
    outcomes: outcomeStore(wiring),
    clock: wiring.clock,
  });
}

/**
 * With a checked config (the Lambdas) LiquidJS is loaded on demand: before a job that may compose
 * a digest (a digest's template needs it; only flush jobs compose one), never for a first message.
 */
const liquidForDigests = (wiring: Wiring, deliver: Deliver): Deliver =>
  wiring.checked
    ? async (attempt) => {
        if (attempt.message.kind !== "event") await loadLiquid();
        return deliver(attempt);
      }
    : deliver;

/** The outcome store every use case writes through, as the wiring says to list and observe it. */
function outcomeStore(wiring: Wiring): OutcomeStore {
  const outcomes = makeDynamoOutcomeStore(wiring.dynamo, wiring.tableName, {
    listSent: wiring.listSentOutcomes ?? false,
  });
  return wiring.observeOutcomes ? wiring.observeOutcomes(outcomes) : outcomes;
}

/** The sweeper's dependencies: the due index, the slots' queued-flush marks, the queue. */
export function makeSweepDeps(wiring: Wiring, queue: JobQueue): SweepDeps {
  const { config, dynamo, tableName, clock, log, metrics } = wiring;
  const timings = deliveryTimings(config);
  const longestWeek = Math.max(...config.portals.map((portal) => portalWindow(portal).weekMs));
  return {
    outcomes: outcomeStore(wiring),
    slots: makeDynamoSlotStore(dynamo, tableName, {
      weekMs: longestWeek,
      weekMarginMs: 0,
      evidenceMs: timings.evidenceMs,
    }),
    queue,
    clock,
    log,
    metrics,
    // Long enough for a queued flush to be handed out and hold the slot, short enough that a
    // flush lost to a crash is queued again soon.
    flushQueuedMs: Math.min(timings.maxBackoffMs, 5 * 60_000) + timings.leaseMs,
    keepAlive: config.portals.flatMap((portal) =>
      portal.oauth
        ? [
            {
              portal: portal.id,
              maxAgeMs: portal.oauth.keepAliveDays * 86_400_000,
              tokens: () => tokenProvider(wiring, portal),
            },
          ]
        : [],
    ),
  };
}

/** The portal's own Bitrix24 client: its incoming webhook, or its OAuth app (or their stand-in). */
async function portalClient(wiring: Wiring, portal: PortalConfig): Promise<BitrixClient> {
  const where = portalKey(wiring.config, portal);
  const simulated = wiring.simulated?.get(portal.id);
  if (simulated) {
    return portal.oauth
      ? makeBitrixOAuthClient({
          portalUrl: simulated.origin,
          tokens: await tokenProvider(wiring, portal),
          timeoutMs: portal.timeoutMs,
          ...callTracing(wiring, portal),
        })
      : makeBitrixWebhookClient({
          webhookUrl: simulated.webhookUrl,
          timeoutMs: portal.timeoutMs,
          ...callTracing(wiring, portal),
        });
  }
  if (portal.webhookUrl) {
    const webhookUrl = await wiring.resolveSecret(portal.webhookUrl);
    try {
      return makeBitrixWebhookClient({
        webhookUrl,
        timeoutMs: portal.timeoutMs,
        ...callTracing(wiring, portal),
      });
    } catch (error) {
      throw new ConfigError(
        `${where}.webhookUrl: the value of ${portal.webhookUrl} ${(error as Error).message}`,
        { cause: error },
      );
    }
  }
  if (portal.oauth && portal.url) {
    return makeBitrixOAuthClient({
      portalUrl: portal.url,
      tokens: await tokenProvider(wiring, portal),
      timeoutMs: portal.timeoutMs,
      ...callTracing(wiring, portal),
    });
  }
  throw new ConfigError(
    `${where}: a webhookUrl, or an oauth block with the portal's url, is required to deliver`,
  );
}

/** A portal client's `trace` option: its calls' spans, when the wiring traces. */
export const callTracing = (wiring: Pick<Wiring, "tracing">, portal: PortalConfig) =>
  wiring.tracing ? { trace: { tracing: wiring.tracing, portal: portal.id } } : {};

/** One portal's OAuth tokens, shared through the table with every other worker. */
export async function tokenProvider(wiring: Wiring, portal: PortalConfig): Promise<TokenProvider> {
  const oauth = portal.oauth;
  if (!oauth) throw new ConfigError(`${portalKey(wiring.config, portal)}: not an OAuth portal`);
  const app = {
    server: wiring.simulated?.get(portal.id)?.origin ?? oauth.server,
    clientId: await wiring.resolveSecret(oauth.clientId),
    clientSecret: await wiring.resolveSecret(oauth.clientSecret),
  };
  return makeTokenProvider({
    portal: portal.id,
    store: makeDynamoTokenStore(wiring.dynamo, wiring.tableName),
    initialRefreshToken: () => wiring.resolveSecret(oauth.refreshToken),
    refresh: (refreshToken) => refreshWithBitrix(app, refreshToken),
    clock: wiring.clock,
  });
}

/** `portals[1]`, or `bitrix` for the single block of older configs: for error messages. */
function portalKey(config: Config, portal: PortalConfig): string {
  const index = config.portals.indexOf(portal);
  return portal.id === DEFAULT_PORTAL_ID && config.portals.length === 1
    ? "bitrix"
    : `portals[${index}]`;
}
