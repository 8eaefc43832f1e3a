import type { MiddlewareObj } from "@middy/core";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { sourceMappedStack } from "../adapters/stack-trace";
import { HooklineError } from "../core/errors";
import type { Log } from "../core/log";

/** A JSON answer in the contract's shape. */
export const jsonAnswer = (
  statusCode: number,
  body: Record<string, unknown>,
): APIGatewayProxyStructuredResultV2 => ({
  statusCode,
  headers: { "content-type": "application/json" },
  body: JSON.stringify(body),
});

/** An answer before it is written: its status and JSON body ({@link jsonAnswer} writes it). */
export interface JsonAnswer {
  statusCode: number;
  body: Record<string, unknown>;
}

/**
 * The one place errors become HTTP answers: a HooklineError answers its own status, with its
 * message only when `expose` is set; anything else is a bare 500. Details go to the log, never
 * to the sender (no stack, no payload, no secret).
 */
export function errorAnswer(log: Log, error: Error | null | undefined): JsonAnswer {
  if (error instanceof HooklineError && error.expose) {
    return { statusCode: error.statusCode, body: { error: error.code, message: error.message } };
  }
  const known = error instanceof HooklineError;
  log.error("request failed", {
    errorName: error?.name,
    errorMessage: error?.message,
    cause: known && error.cause instanceof Error ? error.cause.message : undefined,
    stack: sourceMappedStack(error?.stack),
  });
  // A 500 is always `internal_error`: which fault it was (a ConfigError, say) is for the log.
  return known && error.statusCode !== 500
    ? {
        statusCode: error.statusCode,
        body: { error: error.code, message: "temporarily unavailable, please retry" },
      }
    : { statusCode: 500, body: { error: "internal_error", message: "internal error" } };
}

/** {@link errorAnswer} as middy's error handler, registered last. */
export function httpErrorResponder(
  log: Log,
): MiddlewareObj<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2> {
  return {
    onError: async (request) => {
      const answer = errorAnswer(log, request.error);
      request.response = jsonAnswer(answer.statusCode, answer.body);
    },
  };
}
