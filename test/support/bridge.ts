import { randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ScanCommand } from "@aws-sdk/client-dynamodb";
import { type LocalRunState, runStatePath } from "../../devkit/run-state";
import { makeDynamoOutcomeStore } from "../../functions/adapters/dynamo/outcomes";
import { sleep } from "../../functions/core/clock";
import { type Config, parseConfig } from "../../functions/core/config";
import { jobIdFor } from "../../functions/core/job";
import { silentLog } from "../../functions/core/log";
import type { OutcomeRecord } from "../../functions/core/outcome";
import type { ReceivedMessage } from "../../functions/local/bitrix-simulator";
import {
  type LocalBridge,
  type LocalBridgeOptions,
  startLocalBridge,
} from "../../functions/local/bridge";
import { SENDER_SOURCES, shopSource, TEST_OPEN_LINE } from "./config-fixtures";
import { type SignedRequest, standardWebhookRequest } from "./signers";
import { useStarted } from "./use-started";

export const OPEN_LINE_CODE = TEST_OPEN_LINE;

/** Development-style secrets for the test config (env values, as the local run reads them). */
export const TEST_SECRETS = {
  GITHUB_SECRET: "github-e2e-secret",
  STRIPE_SECRET: "whsec_e2e_stripe_secret",
  APP_SECRET: `whsec_${Buffer.from("standard-webhooks-e2e").toString("base64")}`,
  SHOP_SECRET: "shop-e2e-secret",
};

/** The test portal's settings: fast, small bucket, short request limit. */
export const TEST_PORTAL = {
  rateLimit: { perSecond: 10, burst: 10 },
  // Generous for a loaded CI machine; the fault tests hang longer than this.
  timeoutMs: 1000,
  requestLimitSeconds: 2,
};

/**
 * A config exercising every source type; `overrides` replace top-level sections, except
 * `bitrix`, whose keys are merged into the test portal's (and `portals`, which replaces it).
 */
export function testConfig(overrides: Record<string, unknown> = {}): Config {
  const { bitrix, portals, ...rest } = overrides;
  return parseConfig({
    ...(portals
      ? { portals }
      : {
          bitrix: {
            openLineCode: OPEN_LINE_CODE,
            ...TEST_PORTAL,
            ...(bitrix as Record<string, unknown> | undefined),
          },
        }),
    sources: [...SENDER_SOURCES, shopSource()],
    routes: [
      {
        source: "github",
        events: ["issues.opened"],
        userId: "{{ payload.sender.id | lookup: 'githubUsers' }}",
        message: "Issue [b]{{ payload.issue.title }}[/b] opened by {{ payload.sender.login }}",
        keyboard: [{ TEXT: "Open", LINK: "{{ payload.issue.html_url }}" }],
      },
      {
        source: "stripe",
        events: ["invoice.*"],
        userId: "{{ payload.data.object.customer | lookup: 'stripeCustomers' }}",
        message:
          "Payment of {{ payload.data.object.amount_due | money: payload.data.object.currency }} failed",
      },
      {
        source: "app",
        events: ["order.*"],
        userId: "{{ payload.data.bitrixUserId }}",
        message: "Order {{ payload.data.orderId }}: {{ payload.data.note }}",
      },
      {
        source: "shop",
        events: ["*"],
        userId: "{{ payload.userId }}",
        message: "{{ payload.text }}",
      },
    ],
    lookups: { githubUsers: { "21031067": 7 }, stripeCustomers: { cus_e2e: 8 } },
    limits: { maxBodyBytes: 64 * 1024 },
    delivery: { leaseSeconds: 10, retryFor: 60, maxBackoffSeconds: 2 },
    ...rest,
  });
}

/** Bitrix24 user ids for one test file, from `first` up: a test of its own never meets another's week. */
export function userIds(first: number): () => number {
  let next = first;
  return () => next++;
}

/** Route indexes in testConfig(): job ids carry the index of the route that rendered them. */
export const GITHUB_ROUTE = 0;
export const STRIPE_ROUTE = 1;
export const APP_ROUTE = 2;

/** A signed `order.paid` of the `app` source for `userId` (its route: `APP_ROUTE`). */
export const appOrder = (userId: number, note: string, more: Record<string, unknown> = {}) =>
  standardWebhookRequest(TEST_SECRETS.APP_SECRET, {
    type: "order.paid",
    data: { orderId: randomUUID().slice(0, 8), bitrixUserId: userId, note, ...more },
  });

/** The job id of an `app` request's message on the app route. */
export const appJobOf = (request: { headers: Record<string, string> }): string =>
  jobIdFor("app", request.headers["webhook-id"] as string, APP_ROUTE);

/** Polls until `done` (the queue and the sweeper run on their own timers), at most `ms`. */
export async function until<T>(
  read: () => Promise<T> | T,
  done: (value: T) => boolean,
  ms: number,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await sleep(200);
  }
}

export type TestBridge = Awaited<ReturnType<typeof startTestBridge>>;

export async function startTestBridge(
  config: Config,
  options: Partial<LocalBridgeOptions> = {},
): Promise<
  LocalBridge & {
    outcome: (jobId: string) => Promise<string | undefined>;
    /** The job's outcome record as the store keeps it. */
    record: (jobId: string) => Promise<OutcomeRecord | undefined>;
    /** The messages the simulated portal has received for this user, oldest first. */
    sentTo: (userId: number) => ReceivedMessage[];
    /** Polls (at most `ms`) until the portal holds `count` messages for the user; returns them. */
    waitForMessages: (userId: number, count: number, ms: number) => Promise<ReceivedMessage[]>;
    /**
     * Polls (at most `ms`) until every job has a record, with `outcome` when it is given; returns
     * the records in the order of `jobIds`.
     */
    waitForRecords: (
      jobIds: string[],
      outcome: string | undefined,
      ms: number,
    ) => Promise<(OutcomeRecord | undefined)[]>;
    /** `waitForRecords` for one job. */
    waitForRecord: (
      jobId: string,
      outcome: string | undefined,
      ms: number,
    ) => Promise<OutcomeRecord | undefined>;
    itemCount: () => Promise<number>;
  }
> {
  const tableName = "hookline-e2e";
  const bridge = await startLocalBridge({
    config,
    port: 0,
    env: { ...TEST_SECRETS },
    tableName,
    log: silentLog,
    deliverTimeoutMs: 15_000,
    ...options,
  });
  const outcomes = makeDynamoOutcomeStore(bridge.dynamo, tableName);
  const sentTo = (userId: number) =>
    bridge.simulator?.messages.filter((message) => message.userId === userId) ?? [];
  const waitForRecords = (jobIds: string[], outcome: string | undefined, ms: number) =>
    until(
      () => Promise.all(jobIds.map((jobId) => outcomes.get(jobId))),
      (records) =>
        records.every(
          (record) => record !== undefined && (outcome === undefined || record.outcome === outcome),
        ),
      ms,
    );
  return {
    ...bridge,
    outcome: async (jobId) => (await outcomes.get(jobId))?.outcome,
    record: (jobId) => outcomes.get(jobId),
    sentTo,
    waitForMessages: (userId, count, ms) =>
      until(
        () => sentTo(userId),
        (messages) => messages.length === count,
        ms,
      ),
    waitForRecords,
    waitForRecord: async (jobId, outcome, ms) => {
      const [record] = await waitForRecords([jobId], outcome, ms);
      return record;
    },
    itemCount: async () =>
      (await bridge.dynamo.send(new ScanCommand({ TableName: tableName, Select: "COUNT" })))
        .Count ?? 0,
  };
}

/**
 * A test bridge for the enclosing `describe` (or file): started before its tests, closed after
 * them. What it returns stands for the running bridge, so tests read `bridge.url` as usual; read
 * before the start, it throws.
 *
 * @example const bridge = useTestBridge(testConfig(), { sweepEveryMs: 250 });
 */
export function useTestBridge(
  config: Config,
  options: Partial<LocalBridgeOptions> = {},
): TestBridge {
  return useStarted("the test bridge", () => startTestBridge(config, options));
}

/**
 * A fresh working directory as `npm start` leaves it for the CLI: `config` as its
 * hookline.config.json, and the run file naming `bridge` (more of the file in `state`).
 */
export function runDirFor(
  bridge: { url: string; token: string; dynamoEndpoint: string },
  config: Record<string, unknown>,
  state: Partial<LocalRunState> = {},
): string {
  const cwd = mkdtempSync(join(tmpdir(), "hookline-cli-"));
  writeFileSync(join(cwd, "hookline.config.json"), JSON.stringify(config));
  mkdirSync(join(cwd, ".hookline"));
  writeFileSync(
    runStatePath(cwd),
    JSON.stringify({
      pid: process.pid,
      url: bridge.url,
      token: bridge.token,
      dynamoEndpoint: bridge.dynamoEndpoint,
      ...state,
    }),
  );
  return cwd;
}

/** POSTs a signed request to a webhook source and returns status and JSON body. */
export async function postWebhook(
  bridge: { url: string },
  sourceId: string,
  request: SignedRequest,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${bridge.url}/webhooks/${sourceId}`, {
    method: "POST",
    headers: request.headers,
    body: request.body,
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/**
 * POSTs a signed request to the `app` source, then waits until the in-process queue is idle: the
 * event has been delivered, deferred or recorded otherwise.
 */
export async function postAndSettle(
  bridge: TestBridge,
  request: SignedRequest,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const answer = await postWebhook(bridge, "app", request);
  await bridge.queue.idle();
  return answer;
}
