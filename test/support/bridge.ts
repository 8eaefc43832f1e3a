import { ScanCommand } from "@aws-sdk/client-dynamodb";
import { makeDynamoOutcomeStore } from "../../functions/adapters/dynamo/outcomes";
import { type Config, parseConfig } from "../../functions/core/config";
import { silentLog } from "../../functions/core/log";
import {
  type LocalBridge,
  type LocalBridgeOptions,
  startLocalBridge,
} from "../../functions/local/bridge";
import type { SignedRequest } from "./signers";

export const OPEN_LINE_CODE = "ab515f5d85a8b844d484f6ea75a2e494";

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
    sources: [
      { id: "github", type: "github", secret: "env:GITHUB_SECRET" },
      { id: "stripe", type: "stripe", secret: "env:STRIPE_SECRET" },
      { id: "app", type: "standard-webhooks", secret: "env:APP_SECRET" },
      {
        id: "shop",
        type: "hmac",
        secret: "env:SHOP_SECRET",
        header: "x-shop-signature",
        prefix: "sha256=",
        eventId: { path: "id" },
        eventName: { path: "event" },
      },
    ],
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

export async function startTestBridge(
  config: Config,
  options: Partial<LocalBridgeOptions> = {},
): Promise<
  LocalBridge & {
    outcome: (jobId: string) => Promise<string | undefined>;
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
  return {
    ...bridge,
    outcome: async (jobId) => (await outcomes.get(jobId))?.outcome,
    itemCount: async () =>
      (await bridge.dynamo.send(new ScanCommand({ TableName: tableName, Select: "COUNT" })))
        .Count ?? 0,
  };
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
