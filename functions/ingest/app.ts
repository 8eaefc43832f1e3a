import middy, { type MiddlewareObj } from "@middy/core";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { NotFoundError } from "../core/errors";
import type { IngestDeps } from "../core/ingest";
import { makeIngest } from "../core/ingest";
import type { Log } from "../core/log";
import { Metric, type Metrics } from "../core/metrics";
import { onceUntilFailure } from "../core/once";
import { httpErrorResponder, jsonAnswer } from "./http-errors";

export const WEBHOOK_ROUTE = "POST /webhooks/{sourceId}";
export const HEALTH_ROUTE = "GET /health";

export interface IngestHandlerOptions {
  log: Log;
  metrics: Metrics;
  /** Built once per cold start, on the first webhook (config, secrets, clients). */
  deps: () => Promise<IngestDeps>;
  /** Outermost middleware: the Lambda context on every log line (`lambdaLogContext` on AWS). */
  logContext?: MiddlewareObj;
}

/**
 * The ingest Lambda for API Gateway HTTP API (payload v2): the same handler serves the local run.
 * It only composes: route, decode the raw body, run the use case, answer, count.
 */
export function createIngestHandler({ log, metrics, deps, logContext }: IngestHandlerOptions) {
  let knownSources: ReadonlySet<string> = new Set();
  const ready = onceUntilFailure(async () => {
    const built = await deps();
    knownSources = new Set(built.config.sources.map((source) => source.id));
    return makeIngest(built);
  });

  // Registered before the error responder, so on the way out it runs after errors became answers.
  const countWebhook = async (request: {
    event: APIGatewayProxyEventV2;
    response: APIGatewayProxyStructuredResultV2 | null;
  }) => {
    if (request.event.routeKey !== WEBHOOK_ROUTE) return;
    const sourceId = request.event.pathParameters?.sourceId ?? "";
    // Unknown ids are sender-controlled: one bucket, or metric dimensions could explode. No
    // status dimension: it would multiply the series (each $0.30 a month) by every status seen;
    // the HTTP API's own metrics count 4xx and 5xx, SignatureFailures the 401s by source.
    const source = knownSources.has(sourceId) ? sourceId : "unknown";
    metrics.count(Metric.WebhooksReceived, { Source: source });
  };

  return middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>()
    .use(logContext ? [logContext] : [])
    .use({ after: countWebhook, onError: countWebhook })
    .use(httpErrorResponder(log))
    .handler(async (event) => {
      if (event.routeKey === HEALTH_ROUTE) return jsonAnswer(200, { status: "ok" });
      if (event.routeKey !== WEBHOOK_ROUTE) throw new NotFoundError("no such route");
      const ingest = await ready();
      const answer = await ingest({
        sourceId: event.pathParameters?.sourceId ?? "",
        headers: event.headers,
        body:
          event.body === undefined
            ? Buffer.alloc(0)
            : Buffer.from(event.body, event.isBase64Encoded ? "base64" : "utf8"),
      });
      return jsonAnswer(answer.statusCode, answer.body);
    });
}
