import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Config } from "../../functions/core/config";
import { type LocalDynamo, makeTestClient, startDynalite } from "../support/dynamo-servers";
import { ledgerConfig } from "../support/ledger-fixtures";
import {
  type BitrixScript,
  type DEFAULT_CHANCES,
  LedgerWorld,
  type Scenario,
} from "../support/ledger-world";

/**
 * The weekly ledger's promises (docs/ledger.md), checked over random worlds: 2–3 deliver
 * workers and the sweeper on the real DynamoDB stores (dynalite), a fake clock, a fake Bitrix24
 * with its own clock and scripted answers, duplicate jobs, crashes between any two steps, slow and
 * failing DynamoDB writes. After each world has settled (faults off, clock moved past the weeks):
 *   (a) Bitrix24 accepted at most one of our messages per user per week window;
 *   (b) it never had two requests for one user in flight at once (an unanswered request counts
 *       until Bitrix24's own request limit);
 *   (c) every event has exactly one final outcome, which never changed once final;
 *   (d) `sent` only if it landed (alone or in a digest) or may have after an ambiguity,
 *       `failed` and `suppressed` only if it did not land;
 *   (e) no event is in two accepted messages;
 *   (f) an older event never waits behind a newer one: a request that lands leaves out no event of
 *       its user that was already waiting in the digest when its newer event arrived;
 *   (g) the second channel (`whenLimited: "notify"`, docs/notify.md): `notified` only after a
 *       system notification of the event landed, never undone, and a notified event ends through
 *       its digest (`sent`, `failed` or `unknown`); a `notify-only` event is `sent` only if its
 *       notification landed (or, as any event, an open-line attempt may have);
 *   (h) the TAG makes repeats replace: a user sees at most one notification per tag, however many
 *       events and retries sent one;
 *   (i) no request starts after its attempt's latest safe start (lease end or deadline, less the
 *       request limit and the confirm), the repeat after an OAuth refresh included;
 *   (j) OAuth worlds: never two refreshes spending one refresh token (`invalid_grant` caused by
 *       us), but for the documented limit of a holder that died before storing its answer;
 *   (k) a job on which deliver throws every time ends with an outcome and, if given up, a dead
 *       letter (never deleted by the queue's retention: also checked);
 *   (l) TTL deletes a slot item only once its week is over and its evidence (an unsettled intent,
 *       `maybeSentAt`) has lived the retry window plus the dead-letter retention (checked at each
 *       deletion).
 * The world also generates the outside world's faults (docs/ledger.md): 5xx answers without an
 * envelope whose request landed, OVERLOAD_LIMIT, permanent and configuration rejections, copies
 * after the week, dead-letter redrives, the SDK re-sending an applied conditional write, and events
 * at the exact week boundary (late copies at week + margin). And (DEFAULT_CHANCES):
 *   - two sweepers at once: each sweeper's DynamoDB calls are steps like an attempt's, and
 *     EventBridge's overlapping invocation starts a second one for the same minute (sweepOverlap);
 *   - TTL expiry: items past their `expiresAt` are deleted at random steps, and at every idle wait
 *     once the world settles; an outcome deleted before it is final breaks (c) (ttl). Nothing
 *     expires within a world's first week, so these find little on their own. In 1 world
 *     in 3 (afterTtlCopies), once the world is quiet, the clock moves to the latest TTL among its
 *     slot items that expire within 8 weeks (confirmed and blocked slots: a week after their free
 *     time), TTL deletes them, and every event of their users comes once more, with a redrive of
 *     the dead letters not yet redriven, and each of those users has a new event, which claims
 *     the deleted slot (counts: ttlDeleted by kind, afterTtlCopies, afterTtlEvents). A quick
 *     send's slot item (kept the retry window and SQS's 14-day retention past its week) and
 *     outcome items (30 days) outlive any copy the queue can deliver, so no world reaches them;
 *   - OAuth portals (1 world in 4): the real OAuth client and token provider, access tokens that
 *     Bitrix24 refuses as `expired_token` (401, refresh, repeat: expiredToken), a rotating refresh
 *     token, refresh holders answered 20–35 s late (slowRefresh), the sweeper's keep-alive refresh;
 *   - a poisoned job (1 world in 6): the client throws for every message that carries it, until
 *     deliver gives up after the retry window.
 *
 * Replay: FC_SEED=<seed> FC_PATH=<path> npx vitest run test/property
 * Longer: FC_NUM_RUNS=3000 npx vitest run test/property
 */

const NUM_RUNS = Number(process.env.FC_NUM_RUNS ?? 250);
/**
 * CI's budget: no new world starts after this long (a failure found by then is reported,
 * shrunk as far as time allowed). Unset with FC_NUM_RUNS, so a long local run does all its worlds.
 */
const TIME_LIMIT_MS = process.env.FC_NUM_RUNS ? undefined : 75_000;
/** Fewer worlds than this within the budget is a machine too slow to say much: fail loudly. */
const MIN_RUNS = 40;
/**
 * A long run starts a fresh dynalite every this many worlds. One server for thousands of worlds
 * kept every world's deleted table in memory: a run died of a full heap after 550 worlds.
 */
const WORLDS_PER_SERVER = Number(process.env.LEDGER_WORLDS_PER_SERVER ?? 100);
const SEED = process.env.FC_SEED ? Number(process.env.FC_SEED) : Date.now() % 2_147_483_647;
const PATH = process.env.FC_PATH;
/** Per-mille fault chances over the defaults, e.g. LEDGER_CHANCES='{"slow":250}'. */
const CHANCES: Partial<typeof DEFAULT_CHANCES> = JSON.parse(process.env.LEDGER_CHANCES ?? "{}");

const SCRIPTS: BitrixScript[] = [
  "timeout-landed",
  "timeout-lost",
  "timeout-lands-late",
  "reset-landed",
  "reset-lost",
  "http500",
  "http503",
  "http429",
  "http502-landed",
  "http502-lost",
  "overload",
  "permanent",
  "config",
];

const scriptArb: fc.Arbitrary<BitrixScript> = fc.oneof(
  { weight: 3, arbitrary: fc.constant("ok" as const) },
  { weight: 2, arbitrary: fc.constantFrom(...SCRIPTS) },
);

const scenarioArb: fc.Arbitrary<Scenario> = fc
  .record({
    weeklyLimit: fc.oneof(
      { weight: 5, arbitrary: fc.constant(true) },
      { weight: 1, arbitrary: fc.constant(false) },
    ),
    workers: fc.integer({ min: 2, max: 3 }),
    users: fc.integer({ min: 1, max: 3 }),
    events: fc.array(
      fc.record({
        user: fc.integer({ min: 1, max: 3 }),
        at: fc.integer({ min: 0, max: 90_000 }),
        drop: fc.oneof(
          { weight: 6, arbitrary: fc.constant(false) },
          { weight: 1, arbitrary: fc.constant(true) },
        ),
        copies: fc.oneof(
          { weight: 4, arbitrary: fc.constant(1) },
          { weight: 1, arbitrary: fc.constant(2) },
        ),
        lateCopy: fc.oneof(
          { weight: 6, arbitrary: fc.constant(false) },
          { weight: 1, arbitrary: fc.constant(true) },
        ),
        // The second channel (docs/notify.md) on some events' route; `drop` wins over it.
        notify: fc.oneof(
          { weight: 4, arbitrary: fc.constant(undefined) },
          { weight: 2, arbitrary: fc.constant("notify" as const) },
          { weight: 1, arbitrary: fc.constant("notify-only" as const) },
        ),
      }),
      { minLength: 1, maxLength: 6 },
    ),
    bitrixOffsetMs: fc.integer({ min: -4000, max: 4000 }),
    workerSkewMs: fc.array(fc.integer({ min: -800, max: 800 }), { minLength: 3, maxLength: 3 }),
    marginSeconds: fc.constantFrom(5, 1, 0),
    otherApp: fc.array(
      fc.record({ user: fc.integer({ min: 1, max: 3 }), at: fc.integer({ min: 0, max: 200_000 }) }),
      { maxLength: 2 },
    ),
    script: fc.array(scriptArb, { maxLength: 14, size: "max" }),
    // Long enough for the chaotic phase; 0 (shrinking's target) is the plain choice: first step
    // first, no fault.
    schedule: fc.array(fc.noBias(fc.nat({ max: 9999 })), { minLength: 50, maxLength: 400 }),
    faults: fc.array(fc.noBias(fc.nat({ max: 999 })), { minLength: 200, maxLength: 800 }),
    chaosSteps: fc.integer({ min: 10, max: 250 }),
    // The operator redrives the dead letters, after the retry window and the week (or never).
    redriveAt: fc.option(fc.integer({ min: 700_000, max: 1_500_000 }), { nil: undefined, freq: 2 }),
    oauth: fc.oneof(
      { weight: 3, arbitrary: fc.constant(false) },
      { weight: 1, arbitrary: fc.constant(true) },
    ),
    afterTtlCopies: fc.oneof(
      { weight: 2, arbitrary: fc.constant(false) },
      { weight: 1, arbitrary: fc.constant(true) },
    ),
    poisoned: fc.oneof(
      { weight: 5, arbitrary: fc.constant(undefined) },
      { weight: 1, arbitrary: fc.nat({ max: 5 }) },
    ),
    batch: fc.oneof(
      { weight: 1, arbitrary: fc.constant(undefined) },
      { weight: 1, arbitrary: fc.integer({ min: 2, max: 4 }) },
    ),
    rate: fc.constantFrom(
      { perSecond: 2, burst: 2 },
      { perSecond: 1, burst: 1 },
      { perSecond: 5, burst: 10 },
    ),
  })
  .map(({ users, marginSeconds, ...scenario }) => ({
    marginSeconds,
    ...scenario,
    users,
    // A batching world has one worker and its events in a few bunches, which the queue hands to
    // it together (other worlds have two or three workers).
    ...(scenario.batch !== undefined && { workers: 1 }),
    events: scenario.events.map((event) => ({
      ...event,
      user: ((event.user - 1) % users) + 1,
      ...(scenario.batch !== undefined && { at: event.at < 45_000 ? 0 : 60_000 }),
    })),
    poisoned:
      scenario.poisoned === undefined ? undefined : scenario.poisoned % scenario.events.length,
    otherApp: scenario.otherApp.map((other) => ({
      ...other,
      user: ((other.user - 1) % users) + 1,
    })),
  }));

describe("the weekly ledger (model-based, dynalite)", () => {
  let server: LocalDynamo | undefined;
  let client: DynamoDBClient;
  /**
   * The world running now. fast-check's time limit abandons a running world without waiting for
   * it; it is stopped and awaited before dynalite closes (else: "Database is closed", unhandled).
   */
  let running: { world: LedgerWorld; done: Promise<unknown> } | undefined;
  const configs = new Map<string, Config>();
  const configFor = (scenario: Scenario): Config => {
    const key = `${scenario.weeklyLimit}:${scenario.marginSeconds}`;
    let config = configs.get(key);
    if (!config) {
      config = ledgerConfig({
        weeklyLimit: scenario.weeklyLimit,
        weekMarginSeconds: scenario.marginSeconds,
        maxEvents: 2,
      });
      configs.set(key, config);
    }
    return config;
  };

  const startServer = async () => {
    server = await startDynalite();
    client = makeTestClient(server.endpoint);
  };
  const stopServer = async () => {
    client?.destroy();
    await server?.close();
    server = undefined;
  };
  let worldsOnServer = 0;

  beforeAll(startServer);

  afterAll(async () => {
    running?.world.stop();
    await running?.done.catch(() => {});
    await stopServer();
  });

  it(
    "keeps its promises under interleavings, duplicates, crashes, skew and store faults",
    async () => {
      let run = 0;
      let failures = 0;
      const started = Date.now();
      const stats = { requests: 0, landed: 0, ambiguous: 0, deadLetters: 0, digests: 0 };
      const totals: Record<string, number> = {};
      const add = (name: string, value = 1) => {
        totals[name] = (totals[name] ?? 0) + value;
      };
      console.info(
        `ledger property: seed=${SEED}${PATH ? ` path=${PATH}` : ""} numRuns=${NUM_RUNS}` +
          `${process.env.LEDGER_CHANCES ? ` chances=${process.env.LEDGER_CHANCES}` : ""} (replay with FC_SEED/FC_PATH)`,
      );
      await fc.assert(
        fc.asyncProperty(scenarioArb, async (scenario) => {
          if (worldsOnServer++ === WORLDS_PER_SERVER) {
            await stopServer();
            await startServer();
            worldsOnServer = 1;
          }
          const world = new LedgerWorld(
            scenario,
            { client, config: configFor(scenario), trace: true, chances: CHANCES },
            ++run,
          );
          const done = (async () => {
            await world.setUp();
            try {
              await world.run();
              await world.check();
            } finally {
              await world.tearDown();
            }
          })();
          running = { world, done };
          await done;
          stats.requests += world.requests.length;
          stats.landed += world.requests.filter((r) => r.verdict === "landed").length;
          stats.ambiguous += world.requests.filter((r) => r.ambiguous).length;
          stats.deadLetters += world.deadLetters.length;
          stats.digests += world.requests.filter((r) => r.events.length > 1).length;
          for (const [name, value] of Object.entries(world.counts)) add(name, value);
          for (const outcome of world.finals.values()) add(outcome);
          if (world.violations.length > 0 || world.unexpectedErrors.length > 0) {
            // The first failure is shown at once: shrinking it may take a while.
            if (failures++ === 0) console.error(`first failing world:\n${world.describe()}`);
            throw new Error(world.describe());
          }
          if (run % 50 === 0) {
            const heapMb = Math.round(process.memoryUsage().heapUsed / 2 ** 20);
            console.info(`ledger property: ${run} worlds... (heap ${heapMb} MB)`);
          }
        }),
        {
          seed: SEED,
          ...(PATH && { path: PATH }),
          numRuns: NUM_RUNS,
          endOnFailure: !!PATH,
          ...(TIME_LIMIT_MS && !PATH && { interruptAfterTimeLimit: TIME_LIMIT_MS }),
        },
      );
      console.info(
        `ledger property: ${run} worlds in ${((Date.now() - started) / 1000).toFixed(1)} s; ` +
          `${stats.requests} Bitrix24 requests, ${stats.landed} landed, ${stats.ambiguous} unanswered, ${stats.digests} digests, ${stats.deadLetters} dead letters; ` +
          JSON.stringify(totals),
      );
      // A replay (FC_PATH) runs the one world it names.
      expect(run).toBeGreaterThanOrEqual(PATH ? 1 : Math.min(NUM_RUNS, MIN_RUNS));
    },
    // A world takes 2-5 s on a busy 2-core machine; a failure's shrinking needs room too.
    Math.max(600_000, NUM_RUNS * 8000),
  );
});
