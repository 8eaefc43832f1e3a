import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  Context,
} from "aws-lambda";
import { HEALTH_ROUTE, WEBHOOK_ROUTE } from "../ingest/app";

export type HttpHandler = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyStructuredResultV2>;

/** API Gateway HTTP APIs refuse bodies over 10 MB; the local server does the same. */
const API_GATEWAY_MAX_BODY_BYTES = 10 * 1024 * 1024;
/** Ingest's Lambda timeout, as far as the fake context is concerned. */
const LOCAL_TIMEOUT_MS = 10_000;

/**
 * Serves the ingest handler locally: each HTTP request becomes an API Gateway v2 event with the
 * raw body base64-encoded, exactly as the HTTP API hands it to the Lambda.
 */
export async function startHttpServer(handler: HttpHandler, port: number, host = "127.0.0.1") {
  const server: Server = createServer(async (request, response) => {
    try {
      const body = await readBody(request);
      if (body === undefined) {
        response.writeHead(413, { "content-type": "application/json" });
        response.end(
          JSON.stringify({ error: "payload_too_large", message: "request entity too large" }),
        );
        return;
      }
      const answer = await handler(toEvent(request, body), fakeContext());
      response.writeHead(
        answer.statusCode ?? 200,
        answer.headers as Record<string, string> | undefined,
      );
      response.end(answer.body ?? "");
    } catch {
      response.writeHead(500, { "content-type": "application/json" });
      response.end(JSON.stringify({ error: "internal_error", message: "internal error" }));
    }
  });
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  const address = server.address() as AddressInfo;
  return {
    url: `http://${host}:${address.port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function readBody(request: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > API_GATEWAY_MAX_BODY_BYTES) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function toEvent(request: IncomingMessage, body: Buffer): APIGatewayProxyEventV2 {
  const url = new URL(request.url ?? "/", "http://local");
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(",") : value;
  }
  return apiGatewayEvent({
    method: request.method ?? "GET",
    path: url.pathname,
    query: url.search.slice(1),
    headers,
    body,
    sourceIp: request.socket.remoteAddress ?? "",
  });
}

export interface HttpRequestParts {
  method: string;
  path: string;
  query?: string;
  /** Header names in any case; API Gateway hands them over lower-cased. */
  headers: Record<string, string>;
  body?: Buffer;
  sourceIp?: string;
}

/**
 * The API Gateway HTTP API (payload v2) event for a request, with the route key the stack
 * defines and the body base64-encoded, as the HTTP API hands it to the ingest Lambda.
 */
export function apiGatewayEvent(request: HttpRequestParts): APIGatewayProxyEventV2 {
  const { method, path } = request;
  const webhook = /^\/webhooks\/([^/]+)\/?$/.exec(path);
  const routeKey =
    method === "POST" && webhook
      ? WEBHOOK_ROUTE
      : method === "GET" && path === "/health"
        ? HEALTH_ROUTE
        : "$default";
  const headers = Object.fromEntries(
    Object.entries(request.headers).map(([name, value]) => [name.toLowerCase(), value]),
  );
  const now = new Date();
  return {
    version: "2.0",
    routeKey,
    rawPath: path,
    rawQueryString: request.query ?? "",
    headers,
    ...(webhook?.[1] ? { pathParameters: { sourceId: decodeURIComponent(webhook[1]) } } : {}),
    requestContext: {
      accountId: "local",
      apiId: "local",
      domainName: "localhost",
      domainPrefix: "localhost",
      http: {
        method,
        path,
        protocol: "HTTP/1.1",
        sourceIp: request.sourceIp ?? "127.0.0.1",
        userAgent: headers["user-agent"] ?? "",
      },
      requestId: randomUUID(),
      routeKey,
      stage: "$default",
      time: now.toISOString(),
      timeEpoch: now.getTime(),
    },
    ...(request.body === undefined
      ? { isBase64Encoded: false }
      : { body: request.body.toString("base64"), isBase64Encoded: true }),
  };
}

/** A Lambda context for local invocations (only the remaining-time clock matters). */
export function fakeContext(timeoutMs = LOCAL_TIMEOUT_MS): Context {
  const start = Date.now();
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: "hookline-local",
    functionVersion: "$LATEST",
    invokedFunctionArn: "arn:aws:lambda:local:000000000000:function:hookline-local",
    memoryLimitInMB: "512",
    awsRequestId: randomUUID(),
    logGroupName: "local",
    logStreamName: "local",
    getRemainingTimeInMillis: () => Math.max(0, timeoutMs - (Date.now() - start)),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}
