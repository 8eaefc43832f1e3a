import { ScanCommand } from "@aws-sdk/client-dynamodb";
import { makeDynamoOutcomeStore } from "../../functions/adapters/dynamo/outcomes";
import { makeDynamoReceiptStore } from "../../functions/adapters/dynamo/receipts";
import { systemClock } from "../../functions/core/clock";
import { type Config, parseConfig } from "../../functions/core/config";
import type { IngestDeps } from "../../functions/core/ingest";
import type { QueueMessage } from "../../functions/core/job";
import { silentLog } from "../../functions/core/log";
import { noMetrics } from "../../functions/core/metrics";
import { compileRoutes } from "../../functions/core/routes";
import { createIngestHandler, makeWebhookIntake } from "../../functions/ingest/app";
import { ensureTable } from "../../functions/local/ensure-table";
import { type HttpServerOptions, startHttpServer } from "../../functions/local/http-server";
import { SENDER_SOURCES, shopSource, TEST_OPEN_LINE } from "./config-fixtures";
import { makeTestClient, startDynalite } from "./dynamo-servers";

/** Secrets of the ingest test config, as `env:` references resolve them. */
export const INGEST_SECRETS = {
  GITHUB_SECRET: "github-ingest-secret",
  STRIPE_SECRET: "whsec_ingest_stripe_secret",
  APP_SECRET: `whsec_${Buffer.from("standard-webhooks-ingest").toString("base64")}`,
  SHOP_SECRET: "shop-ingest-secret",
};

/**
 * One source of each type, two generic HMAC ones (id from a header; signed timestamp), and a
 * route per source that sends `payload.text` to `payload.userId`.
 */
export function ingestTestConfig(overrides: Record<string, unknown> = {}): Config {
  const route = (source: string) => ({
    source,
    events: ["*"],
    userId: "{{ payload.userId | default: payload.data.object.metadata.userId }}",
    message: "{{ payload.text | default: payload.type }}",
  });
  return parseConfig({
    bitrix: { openLineCode: TEST_OPEN_LINE },
    sources: [
      ...SENDER_SOURCES,
      shopSource({ eventId: { header: "x-shop-event-id" }, eventName: { header: "x-shop-event" } }),
      // The shop's secret and header, with a signed timestamp instead of the prefix.
      shopSource({
        id: "timed",
        prefix: undefined,
        timestampHeader: "x-shop-timestamp",
        eventId: { header: "x-shop-event-id" },
      }),
    ],
    routes: ["github", "stripe", "app", "shop", "timed"].map(route),
    ...overrides,
  });
}

export type IngestServer = Awaited<ReturnType<typeof startIngestServer>>;

/**
 * The ingest half of the local run, black-box: the local HTTP server in front of the real ingest
 * handler, receipts and outcomes on embedded dynalite, and a queue that only remembers what it
 * was given (what deliver would receive). `webhooks`: `event` hands webhooks to the Lambda
 * handler as API Gateway events; `direct` hands them to its intake as read, as the local run does.
 */
export async function startIngestServer(
  config: Config = ingestTestConfig(),
  serverOptions: HttpServerOptions = {},
  webhooks: "event" | "direct" = "event",
) {
  const dynamo = await startDynalite();
  const client = makeTestClient(dynamo.endpoint);
  const tableName = "hookline-ingest-http";
  await ensureTable(client, tableName);
  const queued: QueueMessage[] = [];
  const options = {
    log: silentLog,
    deps: async (): Promise<IngestDeps> => ({
      config,
      secretsFor: async (source) =>
        source.secret.map((ref) => INGEST_SECRETS[ref.slice(4) as keyof typeof INGEST_SECRETS]),
      router: compileRoutes(config),
      receipts: makeDynamoReceiptStore(client, tableName),
      queue: { enqueue: async (jobs) => void queued.push(...jobs) },
      outcomes: makeDynamoOutcomeStore(client, tableName),
      clock: systemClock,
      log: silentLog,
      metrics: noMetrics,
    }),
  };
  const intake = makeWebhookIntake(options);
  const handler = createIngestHandler({ ...options, intake });
  const server = await startHttpServer(handler, 0, "127.0.0.1", {
    maxBodyBytes: config.limits.maxBodyBytes,
    sourceIds: new Set(config.sources.map((source) => source.id)),
    ...(webhooks === "direct" && { webhook: intake }),
    ...serverOptions,
  });
  return {
    url: server.url,
    queued,
    /** Every item in the table: receipts, outcomes, anything ingest wrote. */
    itemCount: async () =>
      (await client.send(new ScanCommand({ TableName: tableName, Select: "COUNT" }))).Count ?? 0,
    close: async () => {
      await server.close();
      client.destroy();
      await dynamo.close();
    },
  };
}

/** POSTs raw bytes to a path and returns status and parsed JSON body. */
export async function post(
  server: { url: string },
  path: string,
  headers: Record<string, string>,
  body: string | Buffer,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${server.url}${path}`, { method: "POST", headers, body });
  const text = await response.text();
  return {
    status: response.status,
    body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
  };
}
