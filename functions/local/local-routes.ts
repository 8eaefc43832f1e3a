import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { HEALTH_ROUTE, WEBHOOK_ROUTE } from "../ingest/app";
import type { HttpHandler } from "./http-server";

/** A page of the local run (the inbox): an answer for its paths, undefined for the rest. */
export type LocalPage = (
  event: APIGatewayProxyEventV2,
) => Promise<APIGatewayProxyStructuredResultV2 | undefined>;

export interface LocalRoutesOptions {
  /** Told about every request the ingest handler answered (health checks aside). */
  record?: (
    event: APIGatewayProxyEventV2,
    answer: APIGatewayProxyStructuredResultV2,
    rawBody?: Buffer,
  ) => Promise<unknown>;
  pages?: readonly LocalPage[];
}

/**
 * The local server's handler: local-only pages first (never part of the Lambdas), then the
 * ingest handler, whose every answer is also handed to `record` for the terminal and the inbox.
 */
export function withLocalRoutes(handler: HttpHandler, options: LocalRoutesOptions): HttpHandler {
  return async (event, context, rawBody) => {
    // No page serves a webhook's route: a webhook goes straight to ingest.
    const pages = event.routeKey === WEBHOOK_ROUTE ? [] : (options.pages ?? []);
    for (const page of pages) {
      const answer = await page(event);
      if (answer) return answer;
    }
    const answer = await handler(event, context);
    if (options.record && event.routeKey !== HEALTH_ROUTE) {
      await options.record(event, answer, rawBody).catch(() => {});
    }
    return answer;
  };
}
