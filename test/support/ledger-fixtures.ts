import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { expect } from "vitest";
import { makeDynamoOutcomeStore } from "../../functions/adapters/dynamo/outcomes";
import { makeDynamoRateLimiter } from "../../functions/adapters/dynamo/rate-limiter";
import { makeDynamoSlotStore } from "../../functions/adapters/dynamo/slots";
import { type Config, parseConfig } from "../../functions/core/config";
import {
  type Deliver,
  type DeliverDeps,
  type DeliveryResult,
  makeDeliver,
} from "../../functions/core/deliver";
import {
  type DeliveryTimings,
  deliveryTimings,
  type PortalWindow,
  portalWindow,
} from "../../functions/core/delivery-timings";
import { makeDigestComposer } from "../../functions/core/digest";
import type { EventJob, FlushJob, QueueMessage } from "../../functions/core/job";
import { silentLog } from "../../functions/core/log";
import { type Metrics, noMetrics } from "../../functions/core/metrics";
import type { OutcomeRecord } from "../../functions/core/outcome";
import { defaultLineCode, type PortalConfig } from "../../functions/core/portals";
import type {
  BitrixClient,
  OutcomeStore,
  RateLimiter,
  SendResult,
  SlotStore,
  SystemNotification,
} from "../../functions/core/ports";
import { makeSweep } from "../../functions/core/sweep";
import { makeTemplateEngine } from "../../functions/core/template";
import { FakeClock } from "./fake-clock";

/**
 * Shared pieces for the ledger's tests (deliver, regressions, the property test): a config with
 * short but valid timings, a settable clock, event jobs and the deliver dependencies over the
 * real DynamoDB stores.
 */

export const LINE = "ab515f5d85a8b844d484f6ea75a2e494";
export const SECOND = 1000;
/** Where the ledger tests' fake clocks start. */
export const T0 = Date.parse("2030-01-07T09:00:00.000Z");
/** Deliver's answer when the queue may forget the message. */
export const done: DeliveryResult = { status: "done" };

/** The backoff of a retry answer; anything else fails the test. */
export function delayOf(result: DeliveryResult): number {
  if (result.status !== "retry") throw new Error(`expected a retry, got ${JSON.stringify(result)}`);
  return result.delayMs;
}

/**
 * Expects an attempt of a world to end `done`, with `calls` Bitrix24 calls made in all by then.
 *
 * @example await expectDone(w, w.attempt(job, 2), 1);
 */
export async function expectDone(
  w: { bitrix: { calls: readonly unknown[] } },
  attempt: Promise<DeliveryResult>,
  calls: number,
): Promise<void> {
  expect(await attempt).toEqual(done);
  expect(w.bitrix.calls).toHaveLength(calls);
}

/**
 * User 1's week used by `<prefix>-first`, then `<prefix>-older` a second later, deferred to the
 * user's digest: the older event, waiting.
 *
 * @example const older = await olderWaiting(w, "reset");
 */
export async function olderWaiting(w: LedgerWorldFixture, prefix: string): Promise<EventJob> {
  expect(await w.attempt(w.job(`${prefix}-first`))).toEqual(done);
  w.clock.advance(SECOND);
  const older = w.job(`${prefix}-older`);
  expect(await w.attempt(older)).toEqual(done);
  expect((await w.outcome(older))?.outcome).toBe("deferred");
  return older;
}

export interface LedgerConfigOptions {
  weeklyLimit?: boolean;
  weekSeconds?: number;
  weekMarginSeconds?: number;
  timeoutMs?: number;
  requestLimitSeconds?: number;
  leaseSeconds?: number;
  retryFor?: number;
  maxBackoffSeconds?: number;
  maxEvents?: number;
}

/** A config that passes the real validation (lease covers an attempt, and so on). */
export function ledgerConfig(options: LedgerConfigOptions = {}): Config {
  return parseConfig({
    bitrix: {
      openLineCode: LINE,
      weeklyLimit: options.weeklyLimit ?? true,
      timeoutMs: options.timeoutMs ?? 3000,
      requestLimitSeconds: options.requestLimitSeconds ?? 5,
      weekSeconds: options.weekSeconds ?? 3600,
      weekMarginSeconds: options.weekMarginSeconds ?? 5,
    },
    sources: [{ id: "app", type: "github", secret: "env:APP_SECRET" }],
    delivery: {
      leaseSeconds: options.leaseSeconds ?? 12,
      retryFor: options.retryFor ?? 600,
      maxBackoffSeconds: options.maxBackoffSeconds ?? 60,
    },
    digest: { maxEvents: options.maxEvents ?? 20 },
  });
}

export { FakeClock } from "./fake-clock";

export function eventJob(
  fields: Partial<EventJob> & { userId: number; jobId: string; receivedAt: string },
): EventJob {
  return {
    v: 3,
    kind: "event",
    sourceId: "app",
    eventId: fields.jobId,
    eventName: "order.paid",
    message: `message of ${fields.jobId}`,
    whenLimited: "digest",
    ...fields,
  };
}

export interface StoreDepsOptions {
  config: Config;
  db: DynamoDBClient;
  table: string;
  portal: string;
  client: BitrixClient;
  clock: { now(): Date };
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  rate?: { perSecond: number; burst: number };
}

/** The deliver use case's dependencies over the real DynamoDB stores. */
export function storeDeps(
  options: StoreDepsOptions,
): DeliverDeps & { timings: DeliveryTimings & PortalWindow } {
  const { config, db, table, portal } = options;
  const timings = ledgerTimings(config);
  return {
    bitrix: portalSettings(config),
    portal,
    timings,
    slots: makeDynamoSlotStore(db, table, timings),
    limiter: makeDynamoRateLimiter(db, table, {
      portal,
      ...(options.rate ?? { perSecond: 100, burst: 100 }),
    }),
    client: options.client,
    outcomes: makeDynamoOutcomeStore(db, table),
    composeDigest: makeDigestComposer(config.digest, makeTemplateEngine(config.lookups)),
    clock: options.clock,
    log: silentLog,
    metrics: noMetrics,
    sleep: options.sleep ?? (async () => {}),
    random: options.random ?? (() => 0.5),
  };
}

/**
 * A Bitrix24 client that answers from a script (then `sent`) and keeps every message it got.
 * System notifications (the second channel) answer from `notifyAnswers` (then `sent`) and are
 * kept in `notifications`.
 */
export function scriptedBitrix(
  ...answers: (SendResult | ((text: string) => SendResult | Promise<SendResult>))[]
): BitrixClient & {
  calls: string[];
  notifications: SystemNotification[];
  notifyAnswers: SendResult[];
} {
  const calls: string[] = [];
  const notifications: SystemNotification[] = [];
  const notifyAnswers: SendResult[] = [];
  return {
    calls,
    notifications,
    notifyAnswers,
    async sendNetworkMessage(_code, message) {
      const answer = answers[calls.length] ?? { kind: "sent" };
      calls.push(message.message);
      return typeof answer === "function" ? answer(message.message) : answer;
    },
    async sendSystemNotification(notification) {
      const answer = notifyAnswers[notifications.length] ?? { kind: "sent" };
      notifications.push(notification);
      return answer;
    },
  };
}

export { answers } from "./bitrix-answers";

/** The config's one portal (these fixtures use single-portal configs). */
export function onlyPortal(config: Config): PortalConfig {
  const [portal] = config.portals;
  if (!portal) throw new Error("the fixture config has no portal");
  return portal;
}

/** Every timing the ledger reads, for the config's one portal. */
export const ledgerTimings = (config: Config): DeliveryTimings & PortalWindow => ({
  ...deliveryTimings(config),
  ...portalWindow(onlyPortal(config)),
});

/** The portal settings deliver takes, for the config's one portal. */
export function portalSettings(config: Config): DeliverDeps["bitrix"] {
  const portal = onlyPortal(config);
  return {
    openLineCode: defaultLineCode(portal),
    weeklyLimit: portal.weeklyLimit,
    timeoutMs: portal.timeoutMs,
  };
}

/**
 * Throws from the named store methods for their next `plan[name]` calls: a write that failed.
 * The plan is read as the calls come, so a test may arm a method later (`plan.finish = 3`).
 */
export function failing<T extends object>(store: T, plan: Partial<Record<keyof T, number>>): T {
  const left = plan as Partial<Record<string, number>>;
  return new Proxy(store, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver);
      if (typeof value !== "function" || typeof name !== "string") return value;
      return (...args: unknown[]) => {
        const remaining = left[name] ?? 0;
        if (remaining > 0) {
          left[name] = remaining - 1;
          return Promise.reject(new Error(`${name} failed (injected)`));
        }
        return value.apply(target, args);
      };
    },
  });
}

export interface LedgerWorldOptions {
  config?: Config;
  script?: Parameters<typeof scriptedBitrix>;
  /** The DynamoDB client the stores use (e.g. one that re-sends applied writes). */
  db?: (db: DynamoDBClient) => DynamoDBClient;
  slots?: (slots: SlotStore) => SlotStore;
  outcomes?: (outcomes: OutcomeStore) => OutcomeStore;
  limiter?: (limiter: RateLimiter) => RateLimiter;
  rate?: { perSecond: number; burst: number };
  metrics?: Metrics;
}

/**
 * One portal of its own (fresh slot keys and bucket) on the real DynamoDB stores, a fake clock
 * starting at `startMs`, a scripted Bitrix24, and the real `makeDeliver` over them.
 */
export function makeLedgerWorld(
  db: DynamoDBClient,
  table: string,
  portal: string,
  startMs: number,
  options: LedgerWorldOptions = {},
) {
  const config = options.config ?? ledgerConfig();
  const clock = new FakeClock(startMs);
  const bitrix = scriptedBitrix(...(options.script ?? []));
  const base = storeDeps({
    config,
    db: options.db ? options.db(db) : db,
    table,
    portal,
    client: bitrix,
    clock,
    // Waits pass on the fake clock.
    sleep: async (ms) => clock.advance(ms),
    ...(options.rate && { rate: options.rate }),
  });
  const deps: DeliverDeps = {
    ...base,
    slots: options.slots ? options.slots(base.slots) : base.slots,
    outcomes: options.outcomes ? options.outcomes(base.outcomes) : base.outcomes,
    limiter: options.limiter ? options.limiter(base.limiter) : base.limiter,
    ...(options.metrics && { metrics: options.metrics }),
  };
  const { timings } = base;
  const deliver = makeDeliver(deps);
  const read = makeDynamoOutcomeStore(db, table);
  return {
    portal,
    clock,
    bitrix,
    timings,
    deps,
    slots: base.slots,
    key: (userId = 1) => ({ portal, openLineCode: LINE, userId }),
    job: (name: string, userId = 1, over: Partial<EventJob> = {}): EventJob =>
      eventJob({
        jobId: `${portal}:${name}:0`,
        userId,
        receivedAt: new Date(clock.ms).toISOString(),
        portal,
        openLineCode: LINE,
        message: `${name} for user ${userId}`,
        ...over,
      }),
    flush: (userId = 1): FlushJob => ({
      v: 3,
      kind: "flush",
      userId,
      portal,
      openLineCode: LINE,
    }),
    /** One receive of a queue message; `queuedAt` is when the queue got it (its window). */
    attempt: (message: QueueMessage, receiveCount = 1, queuedAt = clock.ms) =>
      deliver({
        message,
        receiveCount,
        queuedAt,
        deadline: clock.ms + (timings.deliverTimeoutSeconds - 3) * SECOND,
      }),
    deliver,
    outcome: async (job: EventJob): Promise<OutcomeRecord | undefined> => read.get(job.jobId),
  };
}

export type LedgerWorldFixture = ReturnType<typeof makeLedgerWorld>;

/**
 * A world per call, each on a portal of its own (`<prefix>-<n>.example`), on the table `useTable`
 * opened: `table.db` is read when a world is made, after the table's `beforeAll`.
 */
export function ledgerWorlds(table: { db: DynamoDBClient }, tableName: string, prefix = "portal") {
  let unique = 0;
  return (options: LedgerWorldOptions = {}): LedgerWorldFixture =>
    makeLedgerWorld(table.db, tableName, `${prefix}-${++unique}.example`, T0, options);
}

/** The real sweeper over a world's stores and clock; `enqueue` receives the flushes it queues. */
export function sweepOf(
  w: LedgerWorldFixture,
  flushQueuedMs: number,
  enqueue: (jobs: readonly QueueMessage[]) => void,
) {
  return makeSweep({
    outcomes: w.deps.outcomes,
    slots: w.deps.slots,
    queue: { enqueue: async (jobs) => enqueue(jobs) },
    clock: w.clock,
    log: silentLog,
    metrics: noMetrics,
    flushQueuedMs,
  });
}

/**
 * SQS on a world's fake clock: a message received is delivered with `deliver`, and one that asks
 * for a retry is handed back after its delay, its first receive's time (`queuedAt`) kept.
 *
 * @example const queue = makeFakeQueue(w); queue.add(job); await queue.receive();
 */
export function makeFakeQueue(w: LedgerWorldFixture, deliver: Deliver = w.deliver) {
  const waiting: {
    message: QueueMessage;
    visibleAt: number;
    queuedAt: number;
    receives: number;
  }[] = [];
  const byVisibleAt = () => waiting.sort((a, b) => a.visibleAt - b.visibleAt);
  return {
    add: (message: QueueMessage) => {
      waiting.push({ message, visibleAt: w.clock.ms, queuedAt: w.clock.ms, receives: 0 });
    },
    size: () => waiting.length,
    /** When the next message becomes visible; undefined when the queue is empty. */
    nextVisibleAt: () => byVisibleAt()[0]?.visibleAt,
    /**
     * Receives the next message once it is visible (the clock moves on to then) and delivers it;
     * the result, or undefined when the queue is empty.
     */
    receive: async (): Promise<DeliveryResult | undefined> => {
      const next = byVisibleAt()[0];
      if (!next) return undefined;
      w.clock.set(Math.max(w.clock.ms, next.visibleAt));
      next.receives++;
      const result = await deliver({
        message: next.message,
        receiveCount: next.receives,
        queuedAt: next.queuedAt,
        deadline: w.clock.ms + 50_000,
      });
      if (result.status === "retry") next.visibleAt = w.clock.ms + result.delayMs;
      else waiting.shift();
      return result;
    },
  };
}
