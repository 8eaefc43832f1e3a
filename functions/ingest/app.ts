import middy, { type MiddlewareObj } from "@middy/core";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { noTracing, type Tracing } from "../adapters/tracing";
import { NotFoundError } from "../core/errors";
import { type IngestDeps, makeIngest, type WebhookRequest } from "../core/ingest";
import type { Log } from "../core/log";
import { onceUntilFailure } from "../core/once";
import { errorAnswer, httpErrorResponder, type JsonAnswer, jsonAnswer } from "./http-errors";

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

/** One webhook as the HTTP layer hands it over, answered; it never throws (see {@link errorAnswer}). */
export type WebhookIntake = (request: WebhookRequest) => Promise<JsonAnswer>;

/**
 * What ingest does with one webhook, whatever carried it: a span, the use case, and errors turned
 * into answers by {@link errorAnswer}. The Lambda handler below hands it each webhook event; the
 * local run calls it straight from its HTTP server (functions/local/bridge.ts), so both answer
 * with the same code and the same bytes.
 *
 * @example const intake = makeWebhookIntake({ log, deps }); const answer = await intake({ sourceId, headers, body });
 */
export function makeWebhookIntake({
  log,
  deps,
  tracing = async () => noTracing,
}: Omit<IngestHandlerOptions, "logContext">): WebhookIntake {
  const ready = onceUntilFailure(async () => makeIngest(await deps()));
  // Once built, the use case and the tracing are kept: a webhook awaits neither again.
  let ingest: ReturnType<typeof makeIngest> | undefined;
  let tracer: Tracing | undefined;
  return async (request) => {
    try {
      tracer ??= await tracing();
      // Tracing off, its span would only run the work: no span, no closure per webhook.
      if (tracer === noTracing && ingest) return await ingest(request);
      const attributes = { "http.route": WEBHOOK_ROUTE, "hookline.source": request.sourceId };
      return await tracer.span("ingest", { kind: "server", attributes }, async (span) => {
        ingest ??= await ready();
        const answer = await ingest(request);
        span.set({
          "http.response.status_code": answer.statusCode,
          "hookline.ingest": answer.body.status,
          "hookline.event_id": answer.body.eventId,
        });
        return answer;
      });
    } catch (error) {
      return errorAnswer(log, error instanceof Error ? error : new Error(String(error)));
    }
  };
}

/**
 * The ingest Lambda for API Gateway HTTP API (payload v2): the same handler serves the local run.
 * It only composes: route, decode the raw body, run the use case, answer. It counts nothing per
 * webhook: the HTTP API's own Count, 4xx and 5xx metrics cost nothing, where a metric line per
 * webhook cost $2.50 a month at 10 M webhooks (docs/cost.md); the use case counts the faults
 * (SignatureFailures by source, failed renders). `intake` shares one already made.
 */
export function createIngestHandler(options: IngestHandlerOptions & { intake?: WebhookIntake }) {
  const { log, logContext } = options;
  const intake = options.intake ?? makeWebhookIntake(options);
  return middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>()
    .use(logContext ? [logContext] : [])
    .use(httpErrorResponder(log))
    .handler(async (event) => {
      if (event.routeKey === HEALTH_ROUTE) return jsonAnswer(200, { status: "ok" });
      if (event.routeKey !== WEBHOOK_ROUTE) throw new NotFoundError("no such route");
      const answer = await intake({
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
