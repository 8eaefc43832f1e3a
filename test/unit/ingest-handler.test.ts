import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../functions/core/errors";
import type { Log } from "../../functions/core/log";
import { createIngestHandler, HEALTH_ROUTE, WEBHOOK_ROUTE } from "../../functions/ingest/app";
import { fakeContext } from "../../functions/local/http-server";

const event = (routeKey: string, sourceId?: string): APIGatewayProxyEventV2 =>
  ({
    routeKey,
    rawPath: "/",
    headers: {},
    ...(sourceId ? { pathParameters: { sourceId } } : {}),
    body: "{}",
    isBase64Encoded: false,
  }) as unknown as APIGatewayProxyEventV2;

function recorder() {
  const logged: { message: string; attributes?: Record<string, unknown> }[] = [];
  const record = (message: string, attributes?: Record<string, unknown>) => {
    logged.push({ message, ...(attributes ? { attributes } : {}) });
  };
  const log: Log = { debug: record, info: record, warn: record, error: record };
  return { log, logged };
}

/** A webhook to a handler whose dependencies fail to build with `error`: its answer and log. */
async function webhookWhenDepsThrow(error: Error) {
  const { log, logged } = recorder();
  const handler = createIngestHandler({
    log,
    deps: async () => {
      throw error;
    },
  });
  const answer = await handler(event(WEBHOOK_ROUTE, "github"), fakeContext());
  return { answer, logged };
}

describe("the ingest handler", () => {
  it("answers an unexpected failure with a bare 500 and keeps the detail in the log", async () => {
    const { answer, logged } = await webhookWhenDepsThrow(
      new TypeError("secret value sk_live_abc leaked into an error"),
    );
    expect(answer.statusCode).toBe(500);
    expect(JSON.parse(answer.body ?? "")).toEqual({
      error: "internal_error",
      message: "internal error",
    });
    expect(logged[0]?.attributes?.errorName).toBe("TypeError");
  });

  it("answers a configuration fault found at request time as internal_error, not config_error", async () => {
    const { answer } = await webhookWhenDepsThrow(
      new ConfigError("environment: HOOKLINE_QUEUE_URL is not set"),
    );
    expect(answer.statusCode).toBe(500);
    expect(JSON.parse(answer.body ?? "")).toEqual({
      error: "internal_error",
      message: "internal error",
    });
  });

  it("answers health checks without building any dependency", async () => {
    const { log } = recorder();
    const handler = createIngestHandler({
      log,
      deps: () => Promise.reject(new Error("not needed")),
    });
    const answer = await handler(event(HEALTH_ROUTE), fakeContext());
    expect(answer.statusCode).toBe(200);
  });

  it("answers an unknown route 404", async () => {
    const { log } = recorder();
    const handler = createIngestHandler({
      log,
      deps: () => Promise.reject(new Error("not needed")),
    });
    const answer = await handler(event("GET /nope"), fakeContext());
    expect(answer.statusCode).toBe(404);
    expect(JSON.parse(answer.body ?? "").error).toBe("not_found");
  });
});
