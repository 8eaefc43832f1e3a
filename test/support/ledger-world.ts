import { AsyncLocalStorage } from "node:async_hooks";
import {
  type AttributeValue,
  DeleteItemCommand,
  DeleteTableCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  ScanCommand,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import { makeBitrixOAuthClient } from "../../functions/adapters/bitrix-oauth";
import { makeDynamoOutcomeStore } from "../../functions/adapters/dynamo/outcomes";
import { makeDynamoRateLimiter } from "../../functions/adapters/dynamo/rate-limiter";
import { BITRIX24_RECORD, makeDynamoSlotStore } from "../../functions/adapters/dynamo/slots";
import { allShards, TABLE_INDEXES } from "../../functions/adapters/dynamo/table";
import { makeDynamoTokenStore } from "../../functions/adapters/dynamo/tokens";
import type { HttpAnswer, HttpRequest } from "../../functions/adapters/http-exchange";
import { classifyBitrixAnswer } from "../../functions/core/bitrix-errors";
import type { Config } from "../../functions/core/config";
import { ATTEMPT_OVERHEAD_MS } from "../../functions/core/config-defaults";
import { type DeliveryResult, makeDeliver } from "../../functions/core/deliver";
import type { DeliveryTimings, PortalWindow } from "../../functions/core/delivery-timings";
import { makeDigestComposer } from "../../functions/core/digest";
import type { EventJob, QueueMessage, RenderedMessage } from "../../functions/core/job";
import { silentLog } from "../../functions/core/log";
import { noMetrics } from "../../functions/core/metrics";
import {
  makeTokenProvider,
  type RefreshAnswer,
  type TokenProvider,
} from "../../functions/core/oauth";
import type { BitrixClient, SendResult, SystemNotification } from "../../functions/core/ports";
import { makeSweep } from "../../functions/core/sweep";
import { makeTemplateEngine } from "../../functions/core/template";
import { ensureTable } from "../../functions/local/ensure-table";
import { LINE, ledgerTimings, onlyPortal, portalSettings } from "./ledger-fixtures";

/**
 * A deterministic world for the ledger's model-based test: 2–3 deliver workers (each its own
 * `makeDeliver`, rate limiter and DynamoDB client) over one real table, an SQS-like queue with
 * visibility timeouts, the real sweeper, and a fake Bitrix24 with its own clock, its weekly limit
 * and its check-then-write race. Every DynamoDB request, Bitrix24 call and sleep of an attempt is
 * a gate, and so is every DynamoDB request of a sweeper invocation; a seeded scheduler (a list
 * of choices from fast-check) picks which gate opens next, crashes attempts between any two
 * steps, makes DynamoDB requests slow or fail, and moves the shared fake clock. Runs are
 * sequential: one gate at a time, so a run replays exactly (an OAuth world's HTTP exchange is the
 * fake Bitrix24).
 */

export type BitrixScript =
  /** Lands and answers at once (or USER_MESSAGE_LIMIT, when the week is used). */
  | "ok"
  /** Lands, but the answer never comes: the client times out. */
  | "timeout-landed"
  /** Does not land; the client times out. */
  | "timeout-lost"
  /** The client times out; the request lands later, before Bitrix24's own request limit. */
  | "timeout-lands-late"
  /** The connection drops after the request went out; it landed, or not. */
  | "reset-landed"
  | "reset-lost"
  | "http500"
  | "http503"
  | "http429"
  /** A gateway's 502 without Bitrix24's error envelope, after the method ran (it landed), or not. */
  | "http502-landed"
  | "http502-lost"
  /** 503 OVERLOAD_LIMIT: a manual block, not processed. */
  | "overload"
  /** Rejected for good (WRONG_REQUEST), or a configuration fault (CODE): not processed. */
  | "permanent"
  | "config";

export interface WorldEvent {
  /** Index of the user (1-based user id). */
  user: number;
  /** When ingest queues it, ms after the start. */
  at: number;
  drop: boolean;
  /** Queue messages for it: 2 models ingest queueing it twice (a rolled-back receipt, an SDK retry). */
  copies: number;
  /** One more copy arrives after the user's week (a late duplicate, a redrive after an outage). */
  lateCopy?: boolean;
  /**
   * The route's second channel (docs/notify.md): `notify` (a system notification when the week is
   * taken, and the digest), `notify-only` (the notification alone). Not with `drop`.
   */
  notify?: "notify" | "notify-only" | undefined;
}

export interface Scenario {
  weeklyLimit: boolean;
  workers: number;
  users: number;
  events: WorldEvent[];
  /** Bitrix24's clock minus ours. */
  bitrixOffsetMs: number;
  /**
   * Each worker's clock minus the true time (a few hundred ms: NTP-synced Lambdas). What one
   * worker records (sentAt, leases) another reads: the reason for `weekMarginSeconds`.
   */
  workerSkewMs: number[];
  /** `weekMarginSeconds` of the world's config (the test builds the config from it). */
  marginSeconds: number;
  /** Another app of the portal messages a user: our next message that week meets the limit. */
  otherApp: { user: number; at: number }[];
  /** Answers of the fake Bitrix24, one per request in order; `ok` after these. */
  script: BitrixScript[];
  /** Which ready step runs next, one choice per step; 0 once used up. */
  schedule: number[];
  /** Fault and latency decisions, one per decision point; 0 (no fault) once used up. */
  faults: number[];
  /** Steps of the chaotic phase before the world is left to settle without faults. */
  chaosSteps: number;
  rate: { perSecond: number; burst: number };
  /** When the operator redrives every dead letter (ms after the start), if at all. */
  redriveAt?: number | undefined;
  /**
   * An OAuth portal (docs/oauth-refresh.md): the real OAuth client and token provider over the
   * world's table, access tokens that Bitrix24 may refuse as `expired_token`, a rotating refresh
   * token, slow refresh holders. Off: the webhook client.
   */
  oauth?: boolean | undefined;
  /**
   * A poisoned event (its index): the Bitrix24 client throws, before any request, for every
   * message that carries it, every time (docs/ledger.md, "Exceptions").
   */
  poisoned?: number | undefined;
  /**
   * Once the world is quiet, DynamoDB's TTL deletes the slot items that expire within reach
   * (confirmed and blocked slots: a week after their free time), and then every event of their
   * users comes once more (a late copy), the dead letters not yet redriven are redriven (both
   * within SQS's limits: weeks of the world's week, against 14 days of retention), and each of
   * those users has a new event, which claims the deleted slot. Not waited for:
   * a quick send's slot item, which keeps its evidence for the retry window and SQS's retention,
   * and outcome items (30 days): no copy the queue delivers can come after those by design.
   */
  afterTtlCopies?: boolean | undefined;
  /**
   * Batch delivery (docs/ledger.md, "Batch delivery"), on a webhook portal: a worker's events
   * under way together go out in one `batch` request of at most this many; each command has its
   * own check and landing, a whole-request failure is every command's.
   */
  batch?: number | undefined;
}

export interface WorldOptions {
  client: DynamoDBClient;
  config: Config;
  /** Per-mille chances of each fault at a decision point. */
  chances?: Partial<typeof DEFAULT_CHANCES>;
  trace?: boolean;
}

export const DEFAULT_CHANCES = {
  /** An attempt stops before a step (its Lambda died). */
  crash: 25,
  /** A DynamoDB request takes 1–9 s (the SDK's timeouts and retries allow that much). */
  slow: 30,
  /** A rate-limiter write takes 6–9 s: the reservation comes back late, just before the send. */
  slowReserve: 40,
  /** An outcome write throws before it is applied. */
  outcomeFault: 60,
  /** An outcome write is applied, then throws (the answer was lost). */
  outcomeFaultAfter: 20,
  /** A slot write throws before it is applied. */
  slotFault: 20,
  /** The queue hands a message out again while it is in flight (at-least-once delivery). */
  duplicate: 30,
  /** A worker's process is replaced (cold start: fresh limiter hint, fresh in-memory state). */
  coldStart: 30,
  /** The SDK re-sends a conditional write that had applied (its first answer was lost). */
  sdkResend: 20,
  /** EventBridge invokes the sweeper twice for one minute: a second sweeper starts at once. */
  sweepOverlap: 150,
  /**
   * DynamoDB's TTL deletes the items whose `expiresAt` has passed (at a step, however late). In
   * the settling phase it runs at every idle wait.
   */
  ttl: 40,
  /** OAuth worlds: Bitrix24 refuses a live access token as `expired_token` (401). */
  expiredToken: 120,
  /** OAuth worlds: the OAuth server answers a refresh 20–35 s late (a slow holder). */
  slowRefresh: 250,
};

export class InjectedFault extends Error {
  constructor(what: string) {
    super(`injected fault: ${what}`);
    this.name = "InjectedFault";
  }
}

export interface Violation {
  invariant: string;
  detail: string;
}

interface QueueEntry {
  id: number;
  body: QueueMessage;
  queuedAt: number;
  visibleAt: number;
  receiveCount: number;
  deleted: boolean;
  inFlight: Set<Attempt>;
  deadLettered?: string;
  /** The operator moved this dead letter back to the queue. */
  redriven?: boolean;
}

interface Attempt {
  id: number;
  /** A deliver attempt, or one sweeper invocation (its entry is a stand-in, never queued). */
  role: "deliver" | "sweep";
  worker: Worker;
  entry: QueueEntry;
  /** The latest lease this attempt took (slot claim or partner marker), on the worker's clock. */
  leaseUntil?: number;
  receivedAt: number;
  killAt: number;
  state: "running" | "crashed" | "ended";
}

interface Op {
  id: number;
  attempt: Attempt;
  kind: "dynamo" | "bitrix" | "timer";
  label: string;
  /** Timers only: ready from this time on. */
  readyAt?: number;
  release(): Promise<void>;
}

interface Worker {
  index: number;
  generation: number;
  deliver: ReturnType<typeof makeDeliver>;
  /** OAuth worlds: this process's token provider (in-memory state, as a Lambda's). */
  tokens?: TokenProvider;
}

/** One `im.notify.system.add` request to the fake portal. */
interface NotifyRequest {
  id: number;
  user: number;
  tag: string;
  jobId: string;
  start: number;
  answer: "ok" | "timeout-landed" | "timeout-lost" | "http503" | "config" | "permanent";
  landed: boolean;
}

/** How the fake portal answers notifications in the chaotic phase (then `ok`). */
const NOTIFY_ANSWERS: NotifyRequest["answer"][] = [
  "ok",
  "ok",
  "ok",
  "timeout-landed",
  "timeout-lost",
  "http503",
  "config",
  "permanent",
];

interface BitrixRequest {
  id: number;
  user: number;
  text: string;
  events: readonly string[];
  start: number;
  /** In flight until then (for an answer we never got: start + Bitrix24's request limit). */
  end: number;
  script: BitrixScript;
  checkAt?: number;
  landAt?: number;
  /** What the server did: landed, refused for the week, or nothing (yet). */
  verdict?: "landed" | "limited";
  ambiguous: boolean;
}

const SWEEP_EVERY_MS = 60_000;
/** The sweeper Lambda's timeout (lib/hookline-stack.ts: SWEEP_TIMEOUT). */
const SWEEP_TIMEOUT_MS = 60_000;
/** OAuth worlds: the sweeper refreshes tokens older than this (keepAliveDays, scaled down). */
const OAUTH_KEEP_ALIVE_MS = 40 * 60_000;
/** OAuth worlds: access tokens live this long (Bitrix24's: an hour). */
const ACCESS_TOKEN_SECONDS = 1800;
const MAX_STEPS = 6000;

export class LedgerWorld {
  readonly als = new AsyncLocalStorage<Attempt>();
  readonly timings: DeliveryTimings & PortalWindow;
  readonly table: string;
  readonly portal: string;
  readonly t0 = Date.parse("2030-01-07T09:00:00.000Z");
  now: number;
  private readonly chances: typeof DEFAULT_CHANCES;
  private schedulePos = 0;
  private faultPos = 0;
  private nextId = 1;
  private ops: Op[] = [];
  private queue: QueueEntry[] = [];
  private arrivals: { at: number; run: () => void | Promise<void> }[] = [];
  /** `afterTtlCopies`: scheduled (or found nothing within reach) once the world was quiet. */
  private afterTtlScheduled = false;
  private attempts: Attempt[] = [];
  private workers: Worker[] = [];
  private nextSweepAt: number;
  private scriptPos = 0;
  private chaos = true;
  private stopped = false;
  private steps = 0;
  readonly violations: Violation[] = [];
  readonly trace: string[] = [];
  readonly unexpectedErrors: string[] = [];
  /** The outcome of each job as read after every write to it. */
  readonly history = new Map<string, { outcome: string; exhausted: boolean; at: number }[]>();
  /** Every digest text composed, with the events it carried (shown or counted in "more"). */
  private readonly composed = new Map<string, string[]>();
  readonly requests: BitrixRequest[] = [];
  /** The second channel's requests, and what each user sees: one notification per tag. */
  readonly notifyRequests: NotifyRequest[] = [];
  /** Per user, the notifications shown now (Bitrix24 replaces by tag). */
  private readonly visibleNotifications = new Map<number, NotifyRequest[]>();
  /** Rows of Bitrix24's weekly limit per user: when a message landed (Bitrix24's clock). */
  private readonly rows = new Map<number, { at: number; ours: boolean; request?: number }[]>();
  readonly deadLetters: { entry: number; reason: string }[] = [];
  readonly jobs: EventJob[] = [];
  /** What happened, for the test's summary. */
  readonly counts = {
    crashes: 0,
    faults: 0,
    slow: 0,
    duplicates: 0,
    sweeps: 0,
    steps: 0,
    /** `sent` without landing: allowed after an ambiguity, counted to keep it visible. */
    sentNotLanded: 0,
    sentOnReclaimEvidence: 0,
    /** An exhausted `failed` replaced by a later copy (the design allows it, as for a redrive). */
    exhaustedReplaced: 0,
    sdkResends: 0,
    /** `batch` requests (worlds with batch delivery), each of one or more commands. */
    batches: 0,
    /** Notifications that landed, and those that replaced an earlier one with the same tag. */
    notificationsLanded: 0,
    notificationsReplaced: 0,
    /** A `sent` digest written over a `notified` it had read as `deferred` (the mark is lost). */
    notifiedMarkLost: 0,
    /** A second sweeper started while the first ran (EventBridge's overlapping invocations). */
    sweepOverlaps: 0,
    /** Items DynamoDB's TTL deleted (outcome, slot or other items past `expiresAt`)... */
    ttlDeleted: 0,
    /** ...of them: slots we confirmed, slots Bitrix24 blocked, slots still pending, free slots. */
    ttlDeletedSent: 0,
    ttlDeletedBlocked: 0,
    ttlDeletedPending: 0,
    ttlDeletedFree: 0,
    ttlDeletedOutcomes: 0,
    ttlDeletedOther: 0,
    /**
     * Late copies of events whose users' slot items TTL had deleted (`afterTtlCopies`), and the
     * users' next events after it.
     */
    afterTtlCopies: 0,
    afterTtlEvents: 0,
    /** OAuth worlds: refreshes the OAuth server answered, and 401 `expired_token` answers. */
    oauthRefreshes: 0,
    expiredTokens: 0,
    /** A rotation whose holder died before storing it (docs/oauth-refresh.md: needs a person). */
    oauthLostRotations: 0,
    /** Sends of the poisoned event that threw. */
    poisonedThrows: 0,
  };
  readonly finals = new Map<string, string>();
  /**
   * Events of an attempt the ledger took back when its lease ran out unconfirmed (crashed, or
   * slow): docs/ledger.md counts that reclaim as ambiguous, so a later USER_MESSAGE_LIMIT reads as
   * sent, landed or not.
   */
  readonly reclaimEvidence = new Set<string>();
  /** The earliest `expiresAt` any item may hold (ms): TTL has nothing to do before. */
  private nextExpiryAt = Number.POSITIVE_INFINITY;
  /** The reason of each event's outcome, as read at the end. */
  private readonly reasons = new Map<string, string>();
  /** Outcome items DynamoDB's TTL deleted, with the outcome they held. */
  readonly expired = new Map<string, string>();
  /** Entries for which deliver answered dead-letter (whether or not the queue heard it). */
  private readonly deadLetterAnswers = new Set<number>();

  constructor(
    readonly scenario: Scenario,
    private readonly options: WorldOptions,
    runId: number,
  ) {
    this.timings = ledgerTimings(options.config);
    this.table = `ledger-${runId}`;
    this.portal = `portal-${runId}.example`;
    this.now = this.t0;
    this.nextSweepAt = this.t0 + SWEEP_EVERY_MS;
    this.chances = { ...DEFAULT_CHANCES, ...options.chances };
  }

  // ---------------------------------------------------------------- choices

  private pick(n: number): number {
    const choice = this.scenario.schedule[this.schedulePos++] ?? 0;
    return n <= 1 ? 0 : choice % n;
  }

  /** A fault decision: true with `perMille` chance, never once the choices are used up. */
  private fault(perMille: number): boolean {
    if (!this.chaos) return false;
    const choice = this.scenario.faults[this.faultPos++];
    if (choice === undefined) return false;
    return choice % 1000 < perMille;
  }

  private faultValue(n: number): number {
    const choice = this.scenario.faults[this.faultPos++] ?? 0;
    return choice % n;
  }

  private log(line: string): void {
    if (this.options.trace) this.trace.push(`${this.now - this.t0}ms ${line}`);
  }

  // ---------------------------------------------------------------- set-up

  async setUp(): Promise<void> {
    await ensureTable(this.options.client, this.table);
    for (let i = 0; i < this.scenario.workers; i++) this.workers.push(this.makeWorker(i, 0));
    this.scenario.events.forEach((event, index) => {
      const job: EventJob = {
        ...this.eventJob(index, event.user, this.t0 + event.at),
        whenLimited: event.drop ? "drop" : (event.notify ?? "digest"),
        ...(!event.drop &&
          event.notify && { notify: { message: `notice #${index};`, tag: "hookline:0" } }),
      };
      this.jobs.push(job);
      for (let copy = 0; copy < event.copies; copy++) {
        this.arrivals.push({
          at: this.t0 + event.at + copy * 150,
          run: () => this.enqueue(job),
        });
      }
      if (event.lateCopy) {
        const { weekMs, weekMarginMs } = this.timings;
        this.arrivals.push({
          at: this.t0 + event.at + weekMs + weekMarginMs + 1000,
          run: () => this.enqueue(job),
        });
      }
    });
    const { redriveAt } = this.scenario;
    if (redriveAt !== undefined) {
      this.arrivals.push({
        at: this.t0 + redriveAt,
        run: () => {
          this.redrive();
        },
      });
    }
    for (const other of this.scenario.otherApp) {
      this.arrivals.push({
        at: this.t0 + other.at,
        run: () => {
          if (!this.chaos) return;
          this.log(`another app messages user ${other.user}`);
          this.rowsOf(other.user).push({ at: this.bitrixNow(), ours: false });
        },
      });
    }
    this.arrivals.sort((a, b) => a.at - b.at);
  }

  async tearDown(): Promise<void> {
    await this.options.client
      .send(new DeleteTableCommand({ TableName: this.table }))
      .catch(() => {});
  }

  private makeWorker(index: number, generation: number): Worker {
    const real = this.options.client;
    const gated = {
      send: (command: unknown) => this.dynamoGate(command, real),
    } as unknown as DynamoDBClient;
    const { config } = this.options;
    const engine = makeTemplateEngine(config.lookups);
    const compose = makeDigestComposer(config.digest, engine);
    let seed = (index + 1) * 7919 + generation * 104_729;
    const clock = { now: () => new Date(this.now + (this.scenario.workerSkewMs[index] ?? 0)) };
    const tokens = this.scenario.oauth ? this.tokenProvider(gated, clock) : undefined;
    const deliver = makeDeliver({
      bitrix: portalSettings(config),
      portal: this.portal,
      timings: this.timings,
      slots: makeDynamoSlotStore(gated, this.table, this.timings),
      limiter: makeDynamoRateLimiter(gated, this.table, {
        portal: this.portal,
        ...this.scenario.rate,
      }),
      client: this.poisonedClient(tokens ? this.oauthClient(tokens) : this.bitrixClient()),
      ...(this.scenario.batch !== undefined &&
        !tokens && {
          batching: {
            maxMessages: this.scenario.batch,
            gatherMs: 1000,
            perSecond: this.scenario.rate.perSecond,
            budget: { operatingSeconds: 480, operatingWindowSeconds: 600 },
          },
        }),
      outcomes: makeDynamoOutcomeStore(gated, this.table),
      composeDigest: (events) => {
        const composed = compose(events);
        this.composed.set(
          composed.message.message,
          events.map((event) => event.jobId),
        );
        return composed;
      },
      clock,
      log: silentLog,
      metrics: noMetrics,
      sleep: (ms) => this.sleep(ms),
      random: () => {
        seed = (seed * 48_271) % 2_147_483_647;
        return seed / 2_147_483_647;
      },
    });
    return { index, generation, deliver, ...(tokens && { tokens }) };
  }

  // ---------------------------------------------------------------- gates

  private gate<T>(
    kind: Op["kind"],
    label: string,
    run: (
      resolve: (value: T) => void,
      reject: (error: unknown) => void,
      attempt: Attempt,
    ) => Promise<void>,
    readyAt?: number,
  ): Promise<T> {
    const attempt = this.als.getStore();
    if (!attempt) throw new Error(`a ${kind} step outside an attempt: ${label}`);
    return new Promise<T>((resolve, reject) => {
      const op: Op = {
        id: this.nextId++,
        attempt,
        kind,
        label,
        ...(readyAt !== undefined && { readyAt }),
        release: () => run(resolve, reject, attempt),
      };
      this.ops.push(op);
    });
  }

  private dynamoGate(command: unknown, real: DynamoDBClient): Promise<unknown> {
    const { name, pk, write } = describeCommand(command);
    const label = `${name} ${pk}`;
    return this.gate<unknown>("dynamo", label, async (resolve, reject, attempt) => {
      const isOutcome = pk.startsWith("OUTCOME#");
      const isSlot = pk.startsWith("SLOT#");
      const reclaimed = isReclaim(command) ? await this.holderEvents(pk) : [];
      if (write && isOutcome && this.fault(this.chances.outcomeFault)) {
        this.log(`  fault before ${label}`);
        this.counts.faults++;
        reject(new InjectedFault(`before ${label}`));
        return;
      }
      if (write && isSlot && this.fault(this.chances.slotFault)) {
        this.log(`  fault before ${label}`);
        this.counts.faults++;
        reject(new InjectedFault(`before ${label}`));
        return;
      }
      let result: unknown;
      let failure: unknown;
      let failed = false;
      try {
        const conditional =
          write &&
          (isOutcome || isSlot) &&
          (command as { input?: { ConditionExpression?: string } }).input?.ConditionExpression;
        if (conditional && this.fault(this.chances.sdkResend)) {
          // The first answer was lost on the way back; the SDK sends the same write again.
          this.log(`  the SDK re-sends ${label} after it applied`);
          this.counts.sdkResends++;
          const appliedFirst = await real.send(command as never).then(
            () => true,
            () => false,
          );
          // A reclaim that applied took the evidence over, whatever the re-sent write answers.
          if (appliedFirst) for (const jobId of reclaimed) this.reclaimEvidence.add(jobId);
        }
        result = await real.send(command as never);
        for (const jobId of reclaimed) this.reclaimEvidence.add(jobId);
        this.noteLease(command, pk, attempt);
        this.noteExpiry(command);
        if (pk.startsWith("TOKEN#")) this.noteTokenWrite(command);
      } catch (error) {
        failed = true;
        failure = error;
      }
      if (pk.startsWith("RATE#") && this.fault(this.chances.slowReserve)) {
        this.advance(6000 + this.faultValue(3000));
        this.log(`  slow ${label}`);
        this.counts.slow++;
      } else if (this.fault(this.chances.slow)) {
        this.advance(1000 + this.faultValue(8000));
        this.log(`  slow ${label}`);
        this.counts.slow++;
      } else {
        this.advance(1 + this.faultValue(30));
      }
      if (write && isOutcome) await this.recordOutcome(pk);
      if (failed) {
        reject(failure);
      } else if (write && isOutcome && this.fault(this.chances.outcomeFaultAfter)) {
        this.log(`  fault after ${label}`);
        this.counts.faults++;
        reject(new InjectedFault(`after ${label}`));
      } else {
        resolve(result);
      }
    });
  }

  private sleep(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return this.gate<void>("timer", `sleep ${ms}`, async (resolve) => resolve(), this.now + ms);
  }

  private bitrixClient(): BitrixClient {
    return {
      sendSystemNotification: (notification: SystemNotification) =>
        this.gate<SendResult>(
          "bitrix",
          `bitrix notify user ${notification.userId}`,
          async (resolve, _, attempt) => {
            const request = this.startNotification(notification);
            this.ops.push({
              id: this.nextId++,
              attempt,
              kind: "timer",
              label: `bitrix notify answer #${request.id}`,
              readyAt: request.answer.startsWith("timeout")
                ? this.now + onlyPortal(this.options.config).timeoutMs
                : this.now + 20 + this.faultValue(300),
              release: async () => resolve(this.notifyAnswerOf(request)),
            });
          },
        ),
      sendNetworkMessage: (
        _code: string,
        message: RenderedMessage,
        _signal?: AbortSignal,
        mayStart?: () => boolean,
      ) =>
        this.gate<SendResult>(
          "bitrix",
          `bitrix user ${message.userId}`,
          async (resolve, _, attempt) => {
            // As the real client (callMethod): asked right before the request goes out.
            if (mayStart && !mayStart()) {
              this.log(`  too late to start: ABORTED`);
              resolve({ kind: "retry", code: "ABORTED", retryAfterMs: 0, overloaded: false });
              return;
            }
            this.checkLatestStart(attempt);
            const [request] = this.startRequests([message]) as [BitrixRequest];
            const answerAt = this.answerTime(request);
            this.ops.push({
              id: this.nextId++,
              attempt,
              kind: "timer",
              label: `bitrix answer #${request.id}`,
              readyAt: answerAt,
              release: async () => resolve(this.answerOf(request)),
            });
          },
        ),
      // One HTTP request for them all: one script (a timeout or a 503 is every command's), each
      // command its own check and landing, so its own answer.
      sendBatch: (
        _code: string,
        messages: readonly RenderedMessage[],
        _signal?: AbortSignal,
        mayStart?: () => boolean,
      ) =>
        this.gate<SendResult[]>(
          "bitrix",
          `bitrix batch users ${messages.map((message) => message.userId)}`,
          async (resolve, _, attempt) => {
            if (mayStart && !mayStart()) {
              this.log(`  too late to start: ABORTED`);
              const aborted: SendResult = {
                kind: "retry",
                code: "ABORTED",
                retryAfterMs: 0,
                overloaded: false,
              };
              resolve(messages.map(() => aborted));
              return;
            }
            this.checkLatestStart(attempt);
            this.counts.batches++;
            const requests = this.startRequests(messages);
            this.ops.push({
              id: this.nextId++,
              attempt,
              kind: "timer",
              label: `bitrix batch answer #${requests.map((request) => request.id)}`,
              readyAt: Math.max(...requests.map((request) => this.answerTime(request))),
              release: async () => resolve(requests.map((request) => this.answerOf(request))),
            });
          },
        ),
    };
  }

  // ---------------------------------------------------------------- OAuth portal

  /**
   * The OAuth server and Bitrix24's view of access tokens (docs/oauth-refresh.md). One refresh
   * token is live at a time; a refresh rotates it, and every earlier one answers `invalid_grant`.
   */
  private readonly oauthServer = {
    live: "rt-0",
    next: 1,
    /** Access tokens Bitrix24 accepts, until when (Bitrix24's clock). */
    access: new Map<string, number>(),
    /** Who spent each rotated refresh token, and whether its result reached the store. */
    rotations: new Map<string, { attempt: Attempt; to: string; stored: boolean }>(),
  };

  /** One process's token provider over the world's table (each Lambda has its own). */
  private tokenProvider(store: DynamoDBClient, clock: { now: () => Date }): TokenProvider {
    return makeTokenProvider({
      portal: this.portal,
      store: makeDynamoTokenStore(store, this.table),
      initialRefreshToken: async () => "rt-0",
      refresh: (refreshToken) => this.oauthRefresh(refreshToken),
      clock,
      sleep: (ms) => this.sleep(ms),
    });
  }

  /** The real OAuth client; its requests reach the fake Bitrix24 through {@link fakeExchange}. */
  private oauthClient(tokens: TokenProvider): BitrixClient {
    const client = makeBitrixOAuthClient({
      portalUrl: `https://${this.portal}`,
      tokens,
      timeoutMs: onlyPortal(this.options.config).timeoutMs,
      now: () => this.bitrixNow(),
      exchange: (url, request) => this.fakeExchange(url, request),
    });
    // The fake exchange speaks imopenlines.network.message.add only: the second channel's
    // notifications go to the fake portal's notification side, as in webhook worlds.
    return { ...client, sendSystemNotification: this.bitrixClient().sendSystemNotification };
  }

  /** The OAuth server's token endpoint: one step, answered at once or 20–35 s late (slow). */
  private oauthRefresh(refreshToken: string): Promise<RefreshAnswer> {
    return this.gate<RefreshAnswer>("bitrix", "oauth refresh", async (resolve, _, attempt) => {
      const server = this.oauthServer;
      let answer: RefreshAnswer;
      if (refreshToken !== server.live) {
        answer = { ok: false, fatal: true, error: "invalid_grant" };
        const spent = server.rotations.get(refreshToken);
        // Invariant (h): never two refreshes spending one refresh token, but for the documented
        // limit: a holder that died after the OAuth server answered, before storing the pair.
        if (spent && !spent.stored && spent.attempt.state === "crashed") {
          this.counts.oauthLostRotations++;
          this.log(
            `  invalid_grant: ${refreshToken} was spent by crashed attempt ${spent.attempt.id}`,
          );
        } else {
          this.violate(
            "j: one refresh per refresh token",
            `attempt ${attempt.id} spends ${refreshToken}, already spent by attempt ${spent?.attempt.id} (${spent?.stored ? "stored" : `not stored, ${spent?.attempt.state}`})`,
          );
        }
      } else {
        const n = server.next++;
        const to = `rt-${n}`;
        server.live = to;
        server.rotations.set(refreshToken, { attempt, to, stored: false });
        server.access.set(`at-${n}`, this.bitrixNow() + ACCESS_TOKEN_SECONDS * 1000);
        this.counts.oauthRefreshes++;
        answer = {
          ok: true,
          accessToken: `at-${n}`,
          refreshToken: to,
          expiresInSeconds: ACCESS_TOKEN_SECONDS,
        };
      }
      const slow = this.fault(this.chances.slowRefresh);
      const delay = slow ? 20_000 + this.faultValue(15_000) : 50 + this.faultValue(400);
      this.log(
        `  oauth ${refreshToken} -> ${answer.ok ? answer.refreshToken : answer.error}${slow ? ` (answers in ${delay} ms)` : ""}`,
      );
      this.ops.push({
        id: this.nextId++,
        attempt,
        kind: "timer",
        label: "oauth answer",
        readyAt: this.now + delay,
        release: async () => resolve(answer),
      });
    });
  }

  /** A commit of rotated tokens reached the store: that rotation's holder kept its result. */
  private noteTokenWrite(command: unknown): void {
    if (!(command instanceof UpdateItemCommand)) return;
    const stored = command.input.ExpressionAttributeValues?.[":refresh"]?.S;
    for (const rotation of this.oauthServer.rotations.values()) {
      if (rotation.to === stored) rotation.stored = true;
    }
  }

  /**
   * The OAuth client's HTTP exchange: the real client's POST reaches the fake Bitrix24 at once
   * (the client asked `mayStart` right before), its answer comes as the scripts say. An access
   * token Bitrix24 does not (or no longer) accept answers 401 `expired_token`, processing nothing.
   */
  private async fakeExchange(_url: URL, sent: HttpRequest): Promise<HttpAnswer> {
    const attempt = this.als.getStore();
    if (!attempt) throw new Error("a request outside an attempt");
    const body = JSON.parse(String(sent.body)) as {
      USER_ID: number;
      MESSAGE: string;
      auth?: string;
    };
    this.checkLatestStart(attempt);
    const server = this.oauthServer;
    const auth = body.auth ?? "";
    if (
      (server.access.get(auth) ?? 0) > this.bitrixNow() &&
      this.fault(this.chances.expiredToken)
    ) {
      server.access.delete(auth); // Bitrix24 ends a token early (its clock, a portal admin)
    }
    if ((server.access.get(auth) ?? 0) <= this.bitrixNow()) {
      this.counts.expiredTokens++;
      this.log(`  bitrix 401 expired_token for ${auth || "no token"}`);
      return this.answerLater(attempt, this.now + 20, "401 expired_token", () =>
        jsonResponse(401, {
          error: "expired_token",
          error_description: "The access token provided has expired.",
        }),
      );
    }
    const [request] = this.startRequests([
      { userId: Number(body.USER_ID), message: body.MESSAGE },
    ]) as [BitrixRequest];
    return this.answerLater(
      attempt,
      this.answerTime(request),
      `bitrix answer #${request.id}`,
      () => {
        const answer = this.httpAnswerOf(request);
        if (answer === "timeout" || answer === "reset") {
          // Thrown by node:http after the request went out: the client reads it as unanswered.
          throw Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
        }
        return answer.body === undefined
          ? { status: answer.status, location: undefined, text: "<html>Bad Gateway</html>" }
          : jsonResponse(answer.status, answer.body);
      },
    );
  }

  private answerLater(
    attempt: Attempt,
    at: number,
    label: string,
    answer: () => HttpAnswer,
  ): Promise<HttpAnswer> {
    return new Promise<HttpAnswer>((resolve, reject) => {
      this.ops.push({
        id: this.nextId++,
        attempt,
        kind: "timer",
        label,
        readyAt: at,
        release: async () => {
          try {
            resolve(answer());
          } catch (error) {
            reject(error);
          }
        },
      });
    });
  }

  // ---------------------------------------------------------------- the poisoned job

  /** Throws (before any request) for every message that carries the poisoned event. */
  private poisonedClient(client: BitrixClient): BitrixClient {
    const index = this.scenario.poisoned;
    if (index === undefined) return client;
    const jobId = `app:ev${index}:0`;
    return {
      ...client,
      sendNetworkMessage: async (code, message, signal, mayStart) => {
        if (this.eventsIn(message.message).includes(jobId)) {
          this.counts.poisonedThrows++;
          throw new InjectedFault(`poisoned ${jobId}`);
        }
        return client.sendNetworkMessage(code, message, signal, mayStart);
      },
    };
  }

  /**
   * The poisoned event ends with a final outcome (checked with the others) and, if deliver gave
   * up on it when its retry window was over, a dead letter: an answer `dead-letter` for its
   * message or for its user's flush. (It may also end otherwise: on a partner portal an attempt
   * interrupted after its in-flight marker makes it `unknown` at once, as for any job.)
   */
  private checkPoisoned(): void {
    const index = this.scenario.poisoned;
    const job = index === undefined ? undefined : this.jobs[index];
    if (!job) return;
    const final = this.finals.get(job.jobId) ?? "none";
    // Only a job that did throw: a `notify-only` event never reaches the poisoned open-line call.
    if (this.counts.poisonedThrows === 0) return;
    if (!/retry window/.test(this.reasons.get(job.jobId) ?? "")) return;
    const deadLettered = this.queue.some(
      (entry) =>
        this.deadLetterAnswers.has(entry.id) &&
        (entry.body.kind === "event"
          ? entry.body.jobId === job.jobId
          : entry.body.userId === job.userId),
    );
    if (!deadLettered) {
      this.violate(
        "k: a job that always throws ends in the dead letters",
        `${job.jobId} ends ${final} with no dead letter`,
      );
    }
  }

  // ---------------------------------------------------------------- fake Bitrix24

  /** A notification request: it lands at once when its answer says so, replacing by tag. */
  private startNotification(notification: SystemNotification): NotifyRequest {
    const index = /notice #(\d+);/.exec(notification.message)?.[1];
    const answer = this.chaos
      ? (NOTIFY_ANSWERS[this.faultValue(NOTIFY_ANSWERS.length)] ?? "ok")
      : "ok";
    const request: NotifyRequest = {
      id: this.notifyRequests.length + 1,
      user: notification.userId,
      tag: notification.tag,
      jobId: `app:ev${index}:0`,
      start: this.now,
      answer,
      landed: answer === "ok" || answer === "timeout-landed",
    };
    this.notifyRequests.push(request);
    if (request.landed) {
      const shown = this.visibleNotifications.get(request.user) ?? [];
      // A new notification with the same tag replaces the user's earlier ones with that tag.
      const kept = shown.filter((earlier) => earlier.tag !== request.tag);
      if (kept.length < shown.length) this.counts.notificationsReplaced++;
      this.visibleNotifications.set(request.user, [...kept, request]);
      this.counts.notificationsLanded++;
    }
    this.log(`bitrix notify #${request.id} ${answer} user ${request.user} [${request.jobId}]`);
    return request;
  }

  private notifyAnswerOf(request: NotifyRequest): SendResult {
    const nowMs = this.bitrixNow();
    switch (request.answer) {
      case "ok":
        return { kind: "sent" };
      case "timeout-landed":
      case "timeout-lost":
        return { kind: "ambiguous", code: "TIMEOUT" };
      case "http503":
        return classifyBitrixAnswer(503, { error: "QUERY_LIMIT_EXCEEDED" }, nowMs);
      case "config":
        return classifyBitrixAnswer(403, { error: "insufficient_scope" }, nowMs);
      case "permanent":
        return classifyBitrixAnswer(400, { error: "ATTACH_ERROR" }, nowMs);
    }
  }

  private bitrixNow(): number {
    return this.now + this.scenario.bitrixOffsetMs;
  }

  private rowsOf(user: number) {
    let rows = this.rows.get(user);
    if (!rows) {
      rows = [];
      this.rows.set(user, rows);
    }
    return rows;
  }

  private eventsIn(text: string): string[] {
    const known = this.composed.get(text);
    if (known) return known;
    return [...text.matchAll(/event #(\d+);/g)].map((match) => `app:ev${match[1]}:0`);
  }

  /** One HTTP request to Bitrix24 for these messages (a batch's commands): one script, one timing. */
  private startRequests(messages: readonly RenderedMessage[]): BitrixRequest[] {
    const script: BitrixScript = this.chaos
      ? (this.scenario.script[this.scriptPos++] ?? "ok")
      : "ok";
    const start = this.now;
    const quick = 20 + this.faultValue(600);
    // Drawn only where it is used, as for a lone request (the fault stream stays as it was).
    const timeoutMs = onlyPortal(this.options.config).timeoutMs;
    const lateBy =
      script === "timeout-lands-late"
        ? this.faultValue(this.timings.requestLandsWithinMs - timeoutMs)
        : 0;
    return messages.map((message) => this.startRequest(message, script, start, quick, lateBy));
  }

  private startRequest(
    message: RenderedMessage,
    script: BitrixScript,
    start: number,
    quick: number,
    lateBy: number,
  ): BitrixRequest {
    const { requestLandsWithinMs } = this.timings;
    const timeoutMs = onlyPortal(this.options.config).timeoutMs;
    const request: BitrixRequest = {
      id: this.requests.length + 1,
      user: message.userId,
      text: message.message,
      events: this.eventsIn(message.message),
      start,
      end: start + quick,
      script,
      ambiguous: false,
    };
    // Bitrix24 checks the week, then writes its row only after the send: a request that lands
    // checks at `checkAt` and writes at `landAt`.
    switch (script) {
      case "ok":
      case "timeout-landed":
      case "reset-landed":
      case "http502-landed":
        request.checkAt = start + Math.floor(quick / 3);
        request.landAt = start + quick;
        break;
      case "timeout-lands-late": {
        const landAt = start + timeoutMs + lateBy;
        request.checkAt = landAt - 5;
        request.landAt = landAt;
        break;
      }
      default:
        break;
    }
    if (script.startsWith("timeout") || script.startsWith("reset")) {
      request.ambiguous = true;
      request.end = start + requestLandsWithinMs;
    }
    // An answer without Bitrix24's envelope says nothing about whether the method ran: from
    // hookline's side it is unanswered (docs/ledger.md), whether it landed (http502-landed) or not
    // (http502-lost, http500).
    if (script.startsWith("http502") || script === "http500") request.ambiguous = true;
    // Invariant (b): no two requests for one user in flight at once (weekly limit on).
    for (const other of this.requests) {
      if (other.user !== request.user || other.end <= start) continue;
      if (this.scenario.weeklyLimit || other.events.some((e) => request.events.includes(e))) {
        this.violate(
          "b: two requests for one user in flight at once",
          `request #${request.id} (${request.events}) at ${start - this.t0} while #${other.id} (${other.events}, ${other.script}) runs ${other.start - this.t0}..${other.end - this.t0}`,
        );
      }
    }
    this.requests.push(request);
    this.log(`bitrix #${request.id} ${script} user ${request.user} [${request.events}]`);
    return request;
  }

  private answerTime(request: BitrixRequest): number {
    const timeoutMs = onlyPortal(this.options.config).timeoutMs;
    if (request.script.startsWith("timeout")) return request.start + timeoutMs;
    if (request.script.startsWith("reset")) return request.start + 10;
    return request.end;
  }

  /** Applies every check and landing up to now, in time order. */
  private settleBitrix(until: number): void {
    // A row counts from its landing on (`row.at <= atB`), so two requests whose checks both come
    // before either lands both pass: the race that makes overlapping requests dangerous.
    const due = this.requests
      .flatMap((request) =>
        request.checkAt !== undefined && request.checkAt <= until && !request.verdict
          ? [{ at: request.checkAt, request }]
          : [],
      )
      .sort((a, b) => a.at - b.at);
    for (const { at, request } of due) {
      const weekMs = this.timings.weekMs;
      const atB = at + this.scenario.bitrixOffsetMs;
      const rows = this.rowsOf(request.user);
      const blocked =
        this.scenario.weeklyLimit && rows.some((row) => row.at <= atB && row.at > atB - weekMs);
      if (blocked) {
        request.verdict = "limited";
        continue;
      }
      request.verdict = "landed";
      const landB = (request.landAt ?? at) + this.scenario.bitrixOffsetMs;
      // Invariant (a): at most one of our messages per user per week window.
      if (this.scenario.weeklyLimit) {
        for (const row of rows) {
          if (row.ours && Math.abs(row.at - landB) < weekMs) {
            this.violate(
              "a: two messages for one user within a week",
              `request #${request.id} landed ${landB - this.t0} and #${row.request} landed ${row.at - this.t0}`,
            );
          }
        }
      }
      rows.push({ at: landB, ours: true, request: request.id });
      this.log(`bitrix #${request.id} landed for user ${request.user} [${request.events}]`);
    }
  }

  private answerOf(request: BitrixRequest): SendResult {
    const answer = this.httpAnswerOf(request);
    if (answer === "timeout") return { kind: "ambiguous", code: "TIMEOUT" };
    if (answer === "reset") return { kind: "ambiguous", code: "CONNECTION_LOST" };
    return classifyBitrixAnswer(answer.status, answer.body, this.bitrixNow());
  }

  /** What Bitrix24 answers on the wire: an HTTP status and body, or no answer at all. */
  private httpAnswerOf(
    request: BitrixRequest,
  ): { status: number; body: unknown } | "timeout" | "reset" {
    this.settleBitrix(this.now);
    switch (request.script) {
      case "ok":
        return request.verdict === "limited"
          ? { status: 400, body: { error: "USER_MESSAGE_LIMIT" } }
          : { status: 200, body: { result: true } };
      case "timeout-landed":
      case "timeout-lost":
      case "timeout-lands-late":
        return "timeout";
      case "reset-landed":
      case "reset-lost":
        return "reset";
      case "http500":
        return { status: 500, body: undefined };
      case "http503":
        return { status: 503, body: { error: "QUERY_LIMIT_EXCEEDED" } };
      case "http429":
        return { status: 429, body: { error: "OPERATION_TIME_LIMIT" } };
      case "http502-landed":
      case "http502-lost":
        return { status: 502, body: undefined };
      case "overload":
        return { status: 503, body: { error: "OVERLOAD_LIMIT" } };
      case "permanent":
        return { status: 400, body: { error: "WRONG_REQUEST" } };
      case "config":
        return { status: 400, body: { error: "CODE" } };
    }
  }

  /**
   * Invariant (g): no request starts after the latest safe start of its attempt's lease (lease
   * end or deadline, less the request's own limit and the confirm), on the worker's clock.
   */
  private checkLatestStart(attempt: Attempt): void {
    if (attempt.leaseUntil === undefined) return;
    const { requestLandsWithinMs } = this.timings;
    const timeoutMs = onlyPortal(this.options.config).timeoutMs;
    const callEnds = Math.max(timeoutMs, requestLandsWithinMs) + ATTEMPT_OVERHEAD_MS.confirm;
    const latest = Math.min(attempt.killAt - 3000, attempt.leaseUntil) - callEnds;
    const at = this.now + (this.scenario.workerSkewMs[attempt.worker.index] ?? 0);
    if (at > latest) {
      this.violate(
        "i: no request after the latest safe start",
        `attempt ${attempt.id} starts a request at ${at - this.t0} (its clock), latest safe start ${latest - this.t0}`,
      );
    }
  }

  /** The lease an attempt took: a slot claim or reclaim, or a partner portal's in-flight marker. */
  private noteLease(command: unknown, pk: string, attempt: Attempt): void {
    if (!(command instanceof UpdateItemCommand)) return;
    const values = command.input.ExpressionAttributeValues ?? {};
    if (values[":token"] === undefined) return;
    const until = pk.startsWith("SLOT#")
      ? values[":leaseUntil"]?.N
      : pk.startsWith("OUTCOME#")
        ? values[":until"]?.N
        : undefined;
    if (until !== undefined) attempt.leaseUntil = Number(until);
  }

  // ---------------------------------------------------------------- outcomes

  private async recordOutcome(pk: string): Promise<void> {
    const { Item } = await this.options.client.send(
      new GetItemCommand({ TableName: this.table, Key: { pk: { S: pk } }, ConsistentRead: true }),
    );
    const outcome = Item?.outcome?.S;
    if (!outcome) return;
    const jobId = pk.slice("OUTCOME#".length);
    const history = this.history.get(jobId) ?? [];
    const exhausted = Item?.exhausted?.BOOL === true;
    const last = history.at(-1);
    if (!last || last.outcome !== outcome || last.exhausted !== exhausted) {
      history.push({ outcome, exhausted, at: this.now });
      this.log(`  outcome ${jobId} = ${outcome}${exhausted ? " (exhausted)" : ""}`);
    }
    this.history.set(jobId, history);
    // Invariant (c): a final outcome never changes; but an exhausted `failed`, which the design
    // lets a later copy or a redrive replace (counted apart).
    const pushed = history.at(-1);
    const before = history.at(-2);
    // Invariant (g): `notified` is never undone; the event stays in its digest until it ends.
    if (pushed !== last && before?.outcome === "notified" && pushed?.outcome === "deferred") {
      this.violate("g: notified is never undone", `${jobId}: notified -> deferred`);
    }
    if (pushed?.outcome === "sent" && history.some((entry) => entry.outcome === "notified")) {
      if (Item?.notifiedAt?.S === undefined) this.counts.notifiedMarkLost++;
    }
    if (
      pushed !== last &&
      before &&
      before.outcome !== "deferred" &&
      before.outcome !== "notified"
    ) {
      if (before.exhausted) {
        this.counts.exhaustedReplaced++;
      } else {
        this.violate(
          "c: a final outcome changed",
          `${jobId}: ${history.map((entry) => entry.outcome).join(" -> ")}`,
        );
      }
    }
  }

  private violate(invariant: string, detail: string): void {
    if (this.violations.some((v) => v.invariant === invariant && v.detail === detail)) return;
    this.violations.push({ invariant, detail });
    this.log(`VIOLATION ${invariant}: ${detail}`);
  }

  // ---------------------------------------------------------------- queue

  /** The operator moves the dead letters back to the queue, each once. */
  private redrive(): void {
    const dead = this.queue.filter((entry) => entry.deadLettered !== undefined && !entry.redriven);
    this.log(`the operator redrives ${dead.length} dead letter(s)`);
    for (const entry of dead) {
      entry.redriven = true;
      this.enqueue(entry.body);
    }
  }

  private enqueue(body: QueueMessage): void {
    const entry: QueueEntry = {
      id: this.nextId++,
      body,
      queuedAt: this.now,
      visibleAt: this.now,
      receiveCount: 0,
      deleted: false,
      inFlight: new Set(),
    };
    this.queue.push(entry);
    this.log(`queued #${entry.id} ${describeMessage(body)}`);
  }

  private receive(entry: QueueEntry, worker: Worker): void {
    entry.receiveCount++;
    entry.visibleAt = this.now + this.timings.visibilityTimeoutSeconds * 1000;
    const attempt: Attempt = {
      id: this.nextId++,
      role: "deliver",
      worker,
      entry,
      receivedAt: this.now,
      killAt: this.now + this.timings.deliverTimeoutSeconds * 1000,
      state: "running",
    };
    entry.inFlight.add(attempt);
    this.attempts.push(attempt);
    this.log(
      `receive #${entry.id} (${describeMessage(entry.body)}) x${entry.receiveCount} on worker ${worker.index}.${worker.generation} as attempt ${attempt.id}`,
    );
    const ctx = {
      message: entry.body,
      receiveCount: entry.receiveCount,
      queuedAt: entry.queuedAt,
      // The handler keeps 3 s of the Lambda's time back.
      deadline: attempt.killAt - 3000,
    };
    this.als
      .run(attempt, () => worker.deliver(ctx))
      .then(
        (result) => this.finishAttempt(attempt, result),
        (error: unknown) => this.failAttempt(attempt, error),
      );
  }

  private finishAttempt(attempt: Attempt, result: DeliveryResult): void {
    if (attempt.state !== "running") return;
    attempt.state = "ended";
    const { entry } = attempt;
    entry.inFlight.delete(attempt);
    this.log(`attempt ${attempt.id} (#${entry.id}) -> ${JSON.stringify(result)}`);
    if (result.status === "dead-letter") this.deadLetterAnswers.add(entry.id);
    if (entry.deleted) return;
    // The process dies after deliver returned, before the queue heard of it (the delete, the new
    // visibility or the dead-letter send is lost): the message comes back after its visibility
    // timeout, and deliver meets its own finished work.
    if (this.fault(this.chances.crash)) {
      this.counts.crashes++;
      this.log(`attempt ${attempt.id} died before the queue heard its result`);
      return;
    }
    switch (result.status) {
      case "done":
        entry.deleted = true;
        break;
      case "dead-letter":
        entry.deleted = true;
        entry.deadLettered = result.reason;
        this.deadLetters.push({ entry: entry.id, reason: result.reason });
        break;
      case "retry":
        entry.visibleAt = this.now + Math.max(0, result.delayMs);
        break;
    }
  }

  private failAttempt(attempt: Attempt, error: unknown): void {
    if (attempt.state !== "running") return;
    attempt.state = "ended";
    attempt.entry.inFlight.delete(attempt);
    if (!(error instanceof InjectedFault)) {
      const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      this.unexpectedErrors.push(text);
    }
    // A failed batch item comes back when its visibility timeout (set at receive) runs out.
    this.log(`attempt ${attempt.id} threw: ${String(error)}`);
  }

  private crash(attempt: Attempt, why: string): void {
    if (attempt.state !== "running") return;
    attempt.state = "crashed";
    this.counts.crashes++;
    attempt.entry.inFlight.delete(attempt);
    this.ops = this.ops.filter((op) => op.attempt !== attempt);
    this.log(`attempt ${attempt.id} crashed (${why})`);
  }

  /** The events the slot's current holder carries: its job, or its digest's events. */
  private async holderEvents(pk: string): Promise<string[]> {
    const { Item } = await this.options.client.send(
      new GetItemCommand({ TableName: this.table, Key: { pk: { S: pk } }, ConsistentRead: true }),
    );
    const job = Item?.holderJob?.S;
    // Only an attempt that recorded its intent (right before its request) may have landed.
    if (Item?.sendingAt?.N === undefined || Item.settled?.BOOL) return [];
    return [
      ...(job && job !== "digest" ? [job] : []),
      ...(Item?.digestJobs?.L ?? []).flatMap((value) => (value.S ? [value.S] : [])),
    ];
  }

  // ---------------------------------------------------------------- time

  private advance(ms: number): void {
    this.setNow(this.now + ms);
  }

  private setNow(ms: number): void {
    if (ms <= this.now) return;
    this.now = ms;
    this.settleBitrix(this.now);
  }

  private async fireArrivals(): Promise<void> {
    while (this.arrivals[0] && this.arrivals[0].at <= this.now) {
      await this.arrivals.shift()?.run();
    }
  }

  private killOverdue(): void {
    for (const attempt of this.attempts) {
      if (attempt.state === "running" && attempt.killAt <= this.now) {
        this.crash(attempt, "Lambda timeout");
      }
    }
  }

  private readyOps(): Op[] {
    return this.ops.filter((op) => op.readyAt === undefined || op.readyAt <= this.now);
  }

  private visibleEntries(): QueueEntry[] {
    return this.queue.filter(
      (entry) => !entry.deleted && entry.visibleAt <= this.now && entry.inFlight.size === 0,
    );
  }

  private retentionMs(): number {
    return this.timings.queueRetentionSeconds * 1000;
  }

  private dropExpired(): void {
    for (const entry of this.queue) {
      if (!entry.deleted && this.now > entry.queuedAt + this.retentionMs()) {
        entry.deleted = true;
        this.violate("queue retention", `message #${entry.id} outlived the queue's retention`);
      }
    }
  }

  /** The next time something happens by itself: a timer, a visible message, an arrival. */
  private nextWake(): number | undefined {
    const times = [
      ...this.ops.flatMap((op) => (op.readyAt !== undefined ? [op.readyAt] : [])),
      ...this.queue.filter((entry) => !entry.deleted).map((entry) => entry.visibleAt),
      ...this.arrivals.map((arrival) => arrival.at),
      ...this.attempts.filter((a) => a.state === "running").map((a) => a.killAt),
    ].filter((time) => time > this.now);
    return times.length > 0 ? Math.min(...times) : undefined;
  }

  private async earliestDue(): Promise<number | undefined> {
    const index = TABLE_INDEXES.due;
    const firsts = await Promise.all(
      allShards(index).map(async (shard) => {
        const { Items } = await this.options.client.send(
          new QueryCommand({
            TableName: this.table,
            IndexName: index.indexName,
            KeyConditionExpression: `${index.partitionKey} = :shard`,
            ExpressionAttributeValues: { ":shard": { S: shard } },
            Limit: 1,
          }),
        );
        const dueAt = Items?.[0]?.dueAt?.N;
        return dueAt === undefined ? [] : [Number(dueAt)];
      }),
    );
    const due = firsts.flat();
    return due.length > 0 ? Math.min(...due) : undefined;
  }

  // ---------------------------------------------------------------- sweepers

  /**
   * The minute's sweep: a sweeper invocation whose DynamoDB calls are steps like an attempt's, so
   * it interleaves with deliver attempts and with another sweeper (EventBridge may invoke twice).
   */
  private startSweep(): void {
    this.nextSweepAt = this.now + SWEEP_EVERY_MS;
    this.launchSweeper("every minute");
    if (this.fault(this.chances.sweepOverlap)) {
      this.counts.sweepOverlaps++;
      this.launchSweeper("the same minute again");
    }
  }

  private launchSweeper(why: string): void {
    const attempt: Attempt = {
      id: this.nextId++,
      role: "sweep",
      worker: this.workers[0] as Worker,
      entry: this.sweeperEntry,
      receivedAt: this.now,
      killAt: this.now + SWEEP_TIMEOUT_MS,
      state: "running",
    };
    this.attempts.push(attempt);
    this.log(`sweeper ${attempt.id} starts (${why})`);
    const real = this.options.client;
    const gated = {
      send: (command: unknown) => this.dynamoGate(command, real),
    } as unknown as DynamoDBClient;
    const clock = { now: () => new Date(this.now) };
    const sweeper = makeSweep({
      outcomes: makeDynamoOutcomeStore(gated, this.table),
      slots: makeDynamoSlotStore(gated, this.table, this.timings),
      queue: {
        enqueue: async (jobs) => {
          for (const job of jobs) this.enqueue(job);
        },
      },
      clock,
      log: silentLog,
      metrics: noMetrics,
      flushQueuedMs: Math.min(this.timings.maxBackoffMs, 5 * 60_000) + this.timings.leaseMs,
      ...(this.scenario.oauth && {
        keepAlive: [
          {
            portal: this.portal,
            maxAgeMs: OAUTH_KEEP_ALIVE_MS,
            tokens: async () => this.tokenProvider(gated, clock),
          },
        ],
      }),
    });
    this.als
      .run(attempt, () => sweeper())
      .then(
        ({ dueEvents, flushes }) => {
          if (attempt.state !== "running") return;
          attempt.state = "ended";
          this.counts.sweeps++;
          if (dueEvents > 0)
            this.log(`sweeper ${attempt.id}: ${dueEvents} due, ${flushes} flushes queued`);
        },
        (error: unknown) => {
          if (attempt.state !== "running") return;
          attempt.state = "ended";
          this.log(`sweeper ${attempt.id} threw: ${String(error)}`);
          if (!(error instanceof InjectedFault)) {
            this.unexpectedErrors.push(error instanceof Error ? error.message : String(error));
          }
        },
      );
  }

  /** Stands in for a queue entry: a sweeper is no queue message. */
  private readonly sweeperEntry: QueueEntry = {
    id: 0,
    body: { v: 3, kind: "flush", userId: 0, portal: "sweeper", openLineCode: LINE },
    queuedAt: 0,
    visibleAt: 0,
    receiveCount: 0,
    deleted: true,
    inFlight: new Set(),
  };

  // ---------------------------------------------------------------- TTL

  /**
   * DynamoDB's TTL: deletes the items whose `expiresAt` (epoch seconds) is at or before `nowMs`,
   * as late as it likes (here: at whichever step it runs). An outcome item may go only once final
   * (invariant c): a deferred event must end long before its TTL (dueAt + 30 d, docs/ledger.md).
   */
  private async expireItems(): Promise<void> {
    // Nothing written so far expires yet: no scan (the world stays fast).
    if (this.now < this.nextExpiryAt) return;
    const nowS = Math.floor(this.now / 1000);
    let start: Record<string, AttributeValue> | undefined;
    do {
      const page = await this.options.client.send(
        new ScanCommand({
          TableName: this.table,
          FilterExpression: "expiresAt <= :now",
          ExpressionAttributeValues: { ":now": { N: String(nowS) } },
          ...(start && { ExclusiveStartKey: start }),
        }),
      );
      for (const item of page.Items ?? []) await this.expireItem(item, nowS);
      start = page.LastEvaluatedKey;
    } while (start);
    const { Items } = await this.options.client.send(
      new ScanCommand({ TableName: this.table, ProjectionExpression: "expiresAt" }),
    );
    this.nextExpiryAt = Math.min(
      ...(Items ?? []).flatMap((item) =>
        item.expiresAt?.N ? [Number(item.expiresAt.N) * 1000] : [],
      ),
      Number.POSITIVE_INFINITY,
    );
  }

  /** A write that may set `expiresAt`: the next TTL scan may find something from then on. */
  private noteExpiry(command: unknown): void {
    const values = (
      command as {
        input?: {
          ExpressionAttributeValues?: Record<string, AttributeValue>;
          Item?: Record<string, AttributeValue>;
        };
      }
    ).input;
    const at = values?.ExpressionAttributeValues?.[":expiresAt"]?.N ?? values?.Item?.expiresAt?.N;
    if (at !== undefined) this.nextExpiryAt = Math.min(this.nextExpiryAt, Number(at) * 1000);
  }

  private async expireItem(found: Record<string, AttributeValue>, nowS: number): Promise<void> {
    const pk = found.pk?.S ?? "";
    let item: Record<string, AttributeValue>;
    try {
      // TTL deletes an item only while it is still expired (an update may have moved expiresAt).
      const { Attributes } = await this.options.client.send(
        new DeleteItemCommand({
          TableName: this.table,
          Key: { pk: { S: pk } },
          ConditionExpression: "expiresAt <= :now",
          ExpressionAttributeValues: { ":now": { N: String(nowS) } },
          ReturnValues: "ALL_OLD",
        }),
      );
      item = Attributes ?? found;
    } catch {
      return;
    }
    this.counts.ttlDeleted++;
    const kind = itemKind(item);
    this.counts[TTL_COUNTS[kind]]++;
    this.log(
      `TTL deletes ${pk}, ${kind} (expiresAt ${Number(item.expiresAt?.N) * 1000 - this.t0})`,
    );
    if (pk.startsWith("SLOT#")) this.checkSlotExpiry(pk, item);
    if (kind !== "outcome") return;
    const jobId = pk.slice("OUTCOME#".length);
    const outcome = item.outcome?.S;
    if (!outcome || outcome === "deferred") {
      this.violate(
        "c: an outcome vanished before it was final",
        `${jobId} (${outcome ?? "in-flight marker"}) deleted by TTL`,
      );
    }
    this.expired.set(jobId, outcome ?? "none");
  }

  /**
   * Invariant (l): TTL deletes a slot item only once it no longer guards anything: its week is
   * over (`freeAt`: "taken until freeAt"), and its evidence, an unsettled intent (landed by the
   * lease end at the latest) or `maybeSentAt`, has lived the retry window plus the dead-letter
   * retention (docs/ledger.md, "What counts as evidence"). Times on the workers' clocks, so
   * their largest skew is allowed.
   */
  private checkSlotExpiry(pk: string, item: Record<string, AttributeValue>): void {
    const skew = Math.max(...this.scenario.workerSkewMs.map(Math.abs), 0);
    const freeAt = Number(item.freeAt?.N ?? 0);
    if (item.state?.S !== undefined && freeAt - skew > this.now) {
      this.violate(
        "l: a slot deleted by TTL before its week was over",
        `${pk} (${item.state.S}, free at ${freeAt - this.t0})`,
      );
    }
    const intent = item.sendingAt?.N !== undefined && !item.settled?.BOOL;
    const evidenceAt = Math.max(
      Number(item.maybeSentAt?.N ?? 0),
      intent ? Number(item.leaseUntil?.N ?? 0) : 0,
    );
    if (evidenceAt > 0 && evidenceAt + this.timings.evidenceMs - skew > this.now) {
      this.violate(
        "l: evidence deleted by TTL before the retry window and the dead-letter retention",
        `${pk} (evidence at ${evidenceAt - this.t0})`,
      );
    }
  }

  /**
   * `afterTtlCopies`, once the world is quiet: waits for the latest TTL among the slot items that
   * expire within reach, lets TTL delete them, then brings a late copy of every event of their
   * users and redrives the dead letters (docs/ledger.md: copies settle from their outcomes; an
   * exhausted `failed` may be sent by a redrive). Read from the items, not from the writes: a
   * pending-digest or queued-flush mark sets `expiresAt` only on an item that has none.
   * `false`: nothing to wait for (done already, or no slot item expires within reach).
   */
  private async scheduleAfterTtl(): Promise<boolean> {
    if (!this.scenario.afterTtlCopies || this.afterTtlScheduled) return false;
    this.afterTtlScheduled = true;
    const within = this.t0 + AFTER_TTL_WITHIN_WEEKS * this.timings.weekMs;
    const { Items } = await this.options.client.send(
      new ScanCommand({ TableName: this.table, ProjectionExpression: "pk, expiresAt" }),
    );
    const expiring = (Items ?? []).flatMap((item) => {
      const pk = item.pk?.S ?? "";
      const at = Number(item.expiresAt?.N ?? Number.POSITIVE_INFINITY) * 1000;
      return pk.startsWith("SLOT#") && at <= within ? [{ pk, at }] : [];
    });
    if (expiring.length === 0) {
      this.log("no slot item expires within reach: no copies after TTL");
      return false;
    }
    const at = Math.max(...expiring.map((item) => item.at)) + 1000;
    const users = new Set(expiring.map((item) => Number(item.pk.split("#").at(-1))));
    this.log(`after TTL (${at - this.t0}): copies for user(s) ${[...users].join(", ")}`);
    this.arrivals.push({
      at,
      run: async () => {
        await this.expireItems();
        for (const job of this.jobs.filter((job) => users.has(job.userId))) {
          this.counts.afterTtlCopies++;
          this.enqueue(job);
        }
        this.redrive();
        // Copies settle from their outcomes and never read the slot; the user's next event
        // claims it, finds it gone, and must still keep the week (a) behind the deleted record.
        for (const user of users) {
          const job = this.nextEvent(user);
          this.jobs.push(job);
          this.counts.afterTtlEvents++;
          this.enqueue(job);
        }
      },
    });
    return true;
  }

  /** A new event of `user`, received now, numbered after the scenario's events. */
  private nextEvent(user: number): EventJob {
    return this.eventJob(this.jobs.length, user, this.now);
  }

  /** Event `index` of `user`: its text `event #<index>;` names it in what Bitrix24 receives. */
  private eventJob(index: number, user: number, receivedAt: number): EventJob {
    return {
      v: 3,
      kind: "event",
      portal: this.portal,
      openLineCode: LINE,
      jobId: `app:ev${index}:0`,
      sourceId: "app",
      eventId: `ev${index}`,
      eventName: "order.paid",
      receivedAt: new Date(receivedAt).toISOString(),
      userId: user,
      message: `event #${index};`,
      whenLimited: "digest",
    };
  }

  // ---------------------------------------------------------------- the run

  /** Ends the run at its next step (the test's time limit abandoned this world). */
  stop(): void {
    this.stopped = true;
  }

  async run(): Promise<void> {
    const horizon = this.t0 + 12 * this.timings.weekMs;
    for (;;) {
      if (this.stopped) return;
      this.counts.steps = this.steps + 1;
      if (++this.steps > MAX_STEPS) {
        this.violate("c: no quiescence", `still busy after ${MAX_STEPS} steps`);
        return;
      }
      if (this.chaos && this.steps > this.scenario.chaosSteps && this.arrivals.length === 0) {
        this.chaos = false;
        this.log("--- no more faults: the world settles");
      }
      await this.fireArrivals();
      this.killOverdue();
      this.dropExpired();
      if (this.fault(this.chances.ttl)) await this.expireItems();

      const ready = this.readyOps();
      const visible = this.visibleEntries();
      const sweepDue = this.now >= this.nextSweepAt;
      const choices = ready.length + visible.length + (sweepDue ? 1 : 0);
      if (choices === 0) {
        const wake = this.nextWake();
        // The sweeper runs every minute; between wakes it matters only once a digest is due.
        const due = await this.earliestDue();
        let sweepAt: number | undefined;
        if (due !== undefined) {
          sweepAt = this.nextSweepAt;
          if (due > sweepAt)
            sweepAt += Math.ceil((due - sweepAt) / SWEEP_EVERY_MS) * SWEEP_EVERY_MS;
        }
        const target = Math.min(
          wake ?? Number.POSITIVE_INFINITY,
          sweepAt ?? Number.POSITIVE_INFINITY,
        );
        if (!Number.isFinite(target)) {
          if (await this.scheduleAfterTtl()) continue;
          return; // quiescent
        }
        if (target > horizon) {
          this.violate("c: no quiescence", `still waiting at ${target - this.t0} ms`);
          return;
        }
        if (sweepAt !== undefined && sweepAt <= target) this.nextSweepAt = sweepAt;
        this.setNow(target);
        // Settling: TTL keeps deleting, at every idle wait.
        if (!this.chaos && this.chances.ttl > 0) await this.expireItems();
        continue;
      }
      const choice = this.chaos ? this.pick(choices) : 0;
      if (choice < ready.length) {
        const op = ready[choice] as Op;
        await this.step(op);
      } else if (choice < ready.length + visible.length) {
        const entry = visible[choice - ready.length] as QueueEntry;
        const worker = this.chooseWorker();
        this.receive(entry, worker);
        // Lambda's event source hands a batch of visible messages to one invocation at once.
        const batch = this.scenario.batch ?? 1;
        for (const more of visible.filter((other) => other !== entry).slice(0, batch - 1)) {
          this.receive(more, worker);
        }
        await settle();
        this.maybeDuplicate(entry);
      } else {
        this.startSweep();
        await settle();
      }
    }
  }

  private chooseWorker(): Worker {
    const index = this.chaos ? this.faultValue(this.workers.length) : 0;
    let worker = this.workers[index] as Worker;
    if (this.fault(this.chances.coldStart)) {
      worker = this.makeWorker(index, worker.generation + 1);
      this.workers[index] = worker;
      this.log(`worker ${index} starts cold (generation ${worker.generation})`);
    }
    return worker;
  }

  private maybeDuplicate(entry: QueueEntry): void {
    if (entry.deleted || !this.fault(this.chances.duplicate)) return;
    this.log(`queue hands #${entry.id} out again while in flight`);
    this.counts.duplicates++;
    // Another receive of the same message: same SentTimestamp, one more receive.
    this.receive(entry, this.chooseWorker());
  }

  private async step(op: Op): Promise<void> {
    this.ops = this.ops.filter((other) => other !== op);
    if (op.attempt.state !== "running") return;
    if (op.kind !== "timer" && this.fault(this.chances.crash)) {
      this.crash(op.attempt, `before ${op.label}`);
      return;
    }
    this.log(`attempt ${op.attempt.id}: ${op.label}`);
    await op.release();
    await settle();
  }

  // ---------------------------------------------------------------- verdict

  /** Invariants over the final state: (c) one final outcome each, (d) labels, (e) no twice. */
  async check(): Promise<void> {
    // A world abandoned half-way (the test's time limit) has no final state to judge.
    if (this.stopped) return;
    this.settleBitrix(Number.POSITIVE_INFINITY);
    this.checkOrder();
    this.checkNotifications();
    const outcomes = makeDynamoOutcomeStore(this.options.client, this.table);
    for (const job of this.jobs) {
      const stored = await outcomes.get(job.jobId);
      // An outcome TTL deleted once final (a deletion before is a violation of its own).
      const gone = stored ? undefined : this.expired.get(job.jobId);
      const record:
        | { outcome: string; reason?: string; digestId?: string; dueAt?: Date; notifiedAt?: Date }
        | undefined =
        stored ??
        (gone && gone !== "none" && gone !== "deferred"
          ? { outcome: gone, reason: "deleted by TTL once final" }
          : undefined);
      const landedIn = this.requests.filter(
        (request) => request.verdict === "landed" && request.events.includes(job.jobId),
      );
      const shownIn = landedIn.filter((request) => request.text.includes(job.message));
      // Unanswered by Bitrix24, or in an attempt the ledger reclaimed as ambiguous.
      const unanswered = this.requests.some(
        (request) => request.ambiguous && request.events.includes(job.jobId),
      );
      const mayHaveLanded = unanswered || this.reclaimEvidence.has(job.jobId);
      if (record?.outcome === "sent" && landedIn.length === 0) {
        this.counts.sentNotLanded++;
        if (!unanswered) this.counts.sentOnReclaimEvidence++;
      }
      this.reasons.set(job.jobId, record?.reason ?? "");
      this.finals.set(
        job.jobId,
        `${record?.outcome ?? "none"}${record?.digestId ? " in digest" : ""}${record?.notifiedAt ? " (notified)" : ""}`,
      );
      const what = `${job.jobId} (user ${job.userId}${job.whenLimited === "digest" ? "" : `, ${job.whenLimited}`})`;
      if (!record || record.outcome === "deferred" || record.outcome === "notified") {
        this.violate(
          "c: every event ends in a final outcome",
          `${what} ends ${record ? `${record.outcome} (due ${(record.dueAt?.getTime() ?? 0) - this.t0})` : "with no outcome"}`,
        );
        continue;
      }
      const notices = this.notifyRequests.filter((request) => request.jobId === job.jobId);
      const noticeLanded = notices.some((request) => request.landed);
      // Invariant (g): `notified` only after a notification of it landed; a notified event ends
      // through its digest (`sent`, `failed` or `unknown`).
      const wasNotified = (this.history.get(job.jobId) ?? []).some((e) => e.outcome === "notified");
      if (wasNotified && !noticeLanded) {
        this.violate("g: notified only if a notification landed", `${what}: ${record.reason}`);
      }
      if (wasNotified && !["sent", "failed", "unknown"].includes(record.outcome)) {
        this.violate(
          "g: a notified event ends through its digest",
          `${what} ends ${record.outcome}`,
        );
      }
      // notify-only: the notification is the delivery, so `sent` needs it to have landed (or an
      // open-line attempt that may have, as for any event).
      if (job.whenLimited === "notify-only" && record.outcome === "sent" && landedIn.length === 0) {
        if (!noticeLanded && !mayHaveLanded) {
          this.violate(
            "d: sent only if it landed",
            `${what} is sent by notification: ${record.reason}`,
          );
        }
        continue;
      }
      if (record.outcome === "sent" && landedIn.length === 0 && !mayHaveLanded) {
        this.violate("d: sent only if it landed", `${what} is sent: ${record.reason}`);
      }
      if ((record.outcome === "failed" || record.outcome === "suppressed") && landedIn.length > 0) {
        this.violate(
          `d: ${record.outcome} only if it did not land`,
          `${what} landed in request #${landedIn.map((r) => r.id)}: ${record.reason}`,
        );
      }
      if (landedIn.length > 1 || shownIn.length > 1) {
        this.violate(
          "e: delivered at most once",
          `${what} is in accepted requests #${landedIn.map((r) => r.id).join(", #")}`,
        );
      }
    }
    this.checkPoisoned();
  }

  /**
   * Invariant (h): the TAG makes repeats replace. The world's notifying route has one tag, so each
   * user sees at most one notification, however many were sent (retries after no answer, one per
   * event of the route): a tag that varied per attempt or per event would leave several.
   */
  checkNotifications(): void {
    const tags = new Set(this.jobs.flatMap((job) => (job.notify ? [job.notify.tag] : [])));
    for (const [user, visible] of this.visibleNotifications) {
      if (visible.length > tags.size) {
        this.violate(
          "h: repeats of one tag leave one visible notification",
          `user ${user} sees ${visible.length}: ${visible.map((r) => `#${r.id} ${r.tag}`).join(", ")}`,
        );
      }
    }
  }

  /**
   * Invariant (f): an older event never waits behind a newer one. When a request for a user lands
   * carrying event j, no event of that user that was already waiting in the digest when j arrived
   * (and still was when the request started) may be left out of it.
   */
  checkOrder(): void {
    if (!this.scenario.weeklyLimit) return;
    const arrival = (jobId: string) =>
      Date.parse(this.jobs.find((job) => job.jobId === jobId)?.receivedAt ?? "") || this.t0;
    const stateAt = (jobId: string, at: number) =>
      (this.history.get(jobId) ?? []).filter((entry) => entry.at <= at).at(-1)?.outcome;
    for (const request of this.requests) {
      if (request.verdict !== "landed") continue;
      for (const newer of request.events) {
        for (const older of this.jobs) {
          if (older.userId !== request.user || request.events.includes(older.jobId)) continue;
          const waiting = (state: string | undefined) =>
            state === "deferred" || state === "notified";
          if (
            waiting(stateAt(older.jobId, arrival(newer))) &&
            waiting(stateAt(older.jobId, request.start))
          ) {
            this.violate(
              "f: an older event never waits behind a newer one",
              `request #${request.id} carried ${newer} while ${older.jobId} waited in the digest`,
            );
          }
        }
      }
    }
  }

  describe(): string {
    return [
      `scenario: ${JSON.stringify({ ...this.scenario, schedule: undefined, faults: undefined })}`,
      ...this.violations.map((v) => `VIOLATION ${v.invariant}: ${v.detail}`),
      ...this.unexpectedErrors.map((e) => `unexpected error: ${e}`),
      ...this.trace.slice(-400),
    ].join("\n");
  }
}

/** The after-TTL copies wait only for the slot items that expire by this week of the world. */
const AFTER_TTL_WITHIN_WEEKS = 8;

type ItemKind = "sent" | "blocked" | "pending" | "free" | "outcome" | "other";

const TTL_COUNTS = {
  sent: "ttlDeletedSent",
  blocked: "ttlDeletedBlocked",
  pending: "ttlDeletedPending",
  free: "ttlDeletedFree",
  outcome: "ttlDeletedOutcomes",
  other: "ttlDeletedOther",
} as const satisfies Record<ItemKind, string>;

/** What an item is, for the TTL counts: a slot by its state (docs/ledger.md), an outcome, other. */
function itemKind(item: Record<string, AttributeValue>): ItemKind {
  const pk = item.pk?.S ?? "";
  if (pk.startsWith("OUTCOME#")) return "outcome";
  if (!pk.startsWith("SLOT#")) return "other";
  const state = item.state?.S;
  if (state === "pending") return "pending";
  if (state === "sent") return item.holderJob?.S === BITRIX24_RECORD ? "blocked" : "sent";
  return "free";
}

/** Lets an attempt run on until it waits at its next gate (or ends). */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

function describeCommand(command: unknown): { name: string; pk: string; write: boolean } {
  const name = (command as { constructor: { name: string } }).constructor.name.replace(
    /Command$/,
    "",
  );
  const input = (command as { input?: Record<string, unknown> }).input ?? {};
  const key = (input.Key ?? input.Item) as { pk?: { S?: string } } | undefined;
  const pk = key?.pk?.S ?? (input.IndexName ? `index ${String(input.IndexName)}` : "");
  const write = command instanceof PutItemCommand || command instanceof UpdateItemCommand;
  return { name, pk, write };
}

/** The slot store's reclaim of its own holder's run-out attempt (conditional on the old token). */
function isReclaim(command: unknown): boolean {
  return (
    command instanceof UpdateItemCommand &&
    command.input.ExpressionAttributeValues?.[":oldToken"] !== undefined
  );
}

function jsonResponse(status: number, body: unknown): HttpAnswer {
  return { status, location: undefined, text: JSON.stringify(body) };
}

function describeMessage(message: QueueMessage): string {
  return message.kind === "flush" ? `flush user ${message.userId}` : message.jobId;
}
