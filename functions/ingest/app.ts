import middy, { type MiddlewareObj } from "@middy/core";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { noTracing, type Tracing } from "../adapters/tracing";
import { NotFoundError } from "../core/errors";
import type { IngestDeps } from "../core/ingest";
import { makeIngest } from "../core/ingest";
import type { Log } from "../core/log";
import { onceUntilFailure } from "../core/once";
import { httpErrorResponder, jsonAnswer } from "./http-errors";

export const WEBHOOK_ROUTE = "POST /webhooks/{sourceId}";
export const HEALTH_ROUTE = "GET /health";

/** The same shape for all three handlers: a log, the Lambda's log context, and `deps`. */
export interface IngestHandlerOptions {
  log: Log;
  /** Built once per cold start, on the first webhook (config, clients); again after a failure. */
  deps: () => Promise<IngestDeps>;
  /** Outermost middleware: the Lambda context on every log line (`lambdaLogContext` on AWS). */
  logContext?: MiddlewareObj;
  /** A span per webhook, whose context the queued messages carry (docs/tracing.md). */
  tracing?: () => Promise<Tracing>;
}

/**
 * The ingest Lambda for API Gateway HTTP API (payload v2): the same handler serves the local run.
 * It only composes: route, decode the raw body, run the use case, answer. It counts nothing per
 * webhook: the HTTP API's own Count, 4xx and 5xx metrics cost nothing, where a metric line per
 * webhook cost $2.50 a month at 10 M webhooks (docs/cost.md); the use case counts the faults
 * (SignatureFailures by source, failed renders).
 */
export function createIngestHandler({
  log,
  deps,
  logContext,
  tracing = async () => noTracing,
}: IngestHandlerOptions) {
  const ready = onceUntilFailure(async () => makeIngest(await deps()));

  return middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>()
    .use(logContext ? [logContext] : [])
    .use(httpErrorResponder(log))
    .handler(async (event) => {
      if (event.routeKey === HEALTH_ROUTE) return jsonAnswer(200, { status: "ok" });
      if (event.routeKey !== WEBHOOK_ROUTE) throw new NotFoundError("no such route");
      const sourceId = event.pathParameters?.sourceId ?? "";
      const attributes = { "http.route": WEBHOOK_ROUTE, "hookline.source": sourceId };
      return (await tracing()).span("ingest", { kind: "server", attributes }, async (span) => {
        const ingest = await ready();
        const answer = await ingest({
          sourceId,
          headers: event.headers,
          body:
            event.body === undefined
              ? Buffer.alloc(0)
              : Buffer.from(event.body, event.isBase64Encoded ? "base64" : "utf8"),
        });
        span.set({
          "http.response.status_code": answer.statusCode,
          "hookline.ingest": answer.body.status,
          "hookline.event_id": answer.body.eventId,
        });
        return jsonAnswer(answer.statusCode, answer.body);
      });
    });
}
