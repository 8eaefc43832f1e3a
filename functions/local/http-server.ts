import { randomUUID } from "node:crypto";
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  Context,
} from "aws-lambda";
import { HEALTH_ROUTE, WEBHOOK_ROUTE } from "../ingest/app";
import { type JsonAnswer, jsonAnswer } from "../ingest/http-errors";

/**
 * The ingest handler's shape; the local server also hands over the body as read (`rawBody`), so
 * local-only code (the request log) keeps those bytes instead of decoding the event's copy.
 */
export type HttpHandler = (
  event: APIGatewayProxyEventV2,
  context: Context,
  rawBody?: Buffer,
) => Promise<APIGatewayProxyStructuredResultV2>;

/** API Gateway HTTP APIs refuse bodies over 10 MB; the local server does the same. */
const API_GATEWAY_MAX_BODY_BYTES = 10 * 1024 * 1024;
/** Ingest's Lambda timeout, as far as the fake context is concerned. */
const LOCAL_TIMEOUT_MS = 10_000;

export interface HttpServerOptions {
  /** Bodies over this many bytes answer 413: by `content-length` before reading, else mid-way. */
  maxBodyBytes?: number;
  /** Webhook source ids; for any other id the body is not read (the handler answers 404). */
  sourceIds?: ReadonlySet<string>;
  /** Time for the request line and headers (and the limit for a silent connection). */
  headersTimeoutMs?: number;
  /** Time for a whole request, body included. */
  requestTimeoutMs?: number;
  /** How long an idle keep-alive connection stays open. */
  keepAliveTimeoutMs?: number;
  /**
   * Where webhooks (a POST to `/webhooks/<id>`) go, as read, with no API Gateway event in between
   * (the local run hands them to ingest's `makeWebhookIntake`). Without it they reach `handler` as
   * events, as on AWS; everything else always does.
   */
  webhook?: (request: LocalWebhook) => Promise<JsonAnswer>;
}

/** A webhook as the local server read it: header names lower-cased, the body as sent. */
export interface LocalWebhook {
  method: string;
  path: string;
  sourceId: string;
  headers: Record<string, string>;
  body: Buffer;
}

/** Sane limits for a server that anyone on the network may reach. */
const DEFAULTS = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
} as const;

/** The server could not listen, e.g. because the port is taken (`code` is `EADDRINUSE`). */
export class ListenError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
    options: { cause: unknown },
  ) {
    super(message, options);
    this.name = "ListenError";
  }
}

const json = (statusCode: number, body: Record<string, unknown>) => ({
  statusCode,
  headers: { "content-type": "application/json" },
  body: JSON.stringify(body),
});
const TOO_LARGE = json(413, { error: "payload_too_large", message: "request entity too large" });
const BAD_PATH = json(400, { error: "bad_request", message: "malformed path" });
const INTERNAL_ERROR = json(500, { error: "internal_error", message: "internal error" });
const OTHER_HOST = json(403, {
  error: "forbidden",
  message: "the local run answers only requests to 127.0.0.1, localhost or [::1] on its own port",
});

const OTHER_SITE = json(403, {
  error: "forbidden",
  message:
    "the local run answers no web page but its own (Origin or Sec-Fetch-Site names another site)",
});

/**
 * Whether a request comes from another site's web page: an `Origin` other than this server's
 * (browsers send one with every POST; a sandboxed page sends `null`), or a `Sec-Fetch-Site` other
 * than `same-origin` or `none` (current browsers send one with every request, image, script and
 * frame loads included; Safari only since 16.4) unless it opens a page at the top, which the
 * developer sees: a frame is a navigation too, but not one the developer chose. Senders and the
 * CLI send neither (docs/security.md).
 */
export function isFromOtherSite(headers: IncomingHttpHeaders, port: number): boolean {
  const { origin } = headers;
  const ownOrigin =
    origin === undefined || (origin.startsWith("http://") && isLoopbackHost(origin.slice(7), port));
  if (!ownOrigin) return true;
  const site = headers["sec-fetch-site"];
  return (
    site !== undefined &&
    site !== "same-origin" &&
    site !== "none" &&
    !(headers["sec-fetch-mode"] === "navigate" && headers["sec-fetch-dest"] === "document")
  );
}

/**
 * Whether a `Host` header names this machine's loopback on `port`. A page that rebinds its own
 * name to 127.0.0.1 still sends its own name here, so it is refused (docs/security.md).
 */
export function isLoopbackHost(host: string | undefined, port: number): boolean {
  return host !== undefined && loopbackHosts(port).has(host.toLowerCase());
}

/** The `Host` values {@link isLoopbackHost} accepts, made once per port (it runs per request). */
const loopbackHostsByPort = new Map<number, ReadonlySet<string>>();
function loopbackHosts(port: number): ReadonlySet<string> {
  let hosts = loopbackHostsByPort.get(port);
  if (!hosts) {
    hosts = new Set([`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]);
    loopbackHostsByPort.set(port, hosts);
  }
  return hosts;
}

/**
 * Serves the ingest handler locally: each HTTP request becomes an API Gateway v2 event with the
 * raw body base64-encoded, exactly as the HTTP API hands it to the Lambda. Slow or silent
 * clients are cut off, and an oversized body or one for an unknown source is never buffered.
 */
export async function startHttpServer(
  handler: HttpHandler,
  port: number,
  host = "127.0.0.1",
  options: HttpServerOptions = {},
) {
  const limits = { ...DEFAULTS, ...options };
  const maxBodyBytes = Math.min(options.maxBodyBytes ?? Infinity, API_GATEWAY_MAX_BODY_BYTES);
  const send = makeSend();
  const server: Server = createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      // How often the timeouts above are enforced (Node's default is every 30 s).
      connectionsCheckingInterval: Math.min(1_000, limits.headersTimeoutMs),
    },
    async (request, response) => {
      try {
        if (!isLoopbackHost(request.headers.host, listeningPort))
          return send(request, response, OTHER_HOST, true);
        if (isFromOtherSite(request.headers, listeningPort))
          return send(request, response, OTHER_SITE, true);
        const target = parseTarget(request);
        if (!target) return send(request, response, BAD_PATH, !request.complete);
        const unknownSource =
          target.sourceId !== undefined && options.sourceIds?.has(target.sourceId) === false;
        const declared = Number(request.headers["content-length"] ?? 0);
        if (!unknownSource && declared > maxBodyBytes)
          return send(request, response, TOO_LARGE, true);

        const body = unknownSource ? Buffer.alloc(0) : await readBody(request, maxBodyBytes);
        if (body === undefined) return send(request, response, TOO_LARGE, true);
        if (target.sourceId !== undefined && options.webhook) {
          const { sourceId, path } = target;
          const headers = headersOf(request);
          const answer = await options.webhook({ method: "POST", path, sourceId, headers, body });
          send(request, response, jsonAnswer(answer.statusCode, answer.body), !request.complete);
          return;
        }
        const answer = await handler(toEvent(request, target, body), fakeContext(), body);
        send(request, response, answer, !request.complete);
      } catch {
        send(request, response, INTERNAL_ERROR, true);
      }
    },
  );
  server.timeout = limits.requestTimeoutMs;
  let listeningPort = -1;
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) =>
      reject(
        new ListenError(
          error.code === "EADDRINUSE"
            ? `port ${port} on ${host} is already in use (stop the other process, or choose another with --port or PORT)`
            : `cannot listen on ${host}:${port}: ${error.message}`,
          error.code,
          { cause: error },
        ),
      ),
    );
    server.listen(port, host, resolve);
  });
  const address = server.address() as AddressInfo;
  listeningPort = address.port;
  return {
    url: `http://${host}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** An answer ready to be written, with the request it answers. */
interface ReadyAnswer {
  request: IncomingMessage;
  response: ServerResponse;
  answer: APIGatewayProxyStructuredResultV2;
  close: boolean;
}

/**
 * A server's `send`: writes an answer at the end of this turn of the event loop, together with
 * the others it made in it; with `close`, the connection goes with it. A write wakes a waiting
 * client: when the server is the slower side, answering one request at a time woke it once per
 * answer, a third of the write's kernel time (9 of 26 µs per webhook, against 1.3 of 13 for a
 * faster bare server whose client is busy; `perf` in the local-run bench, bench/README.md). The
 * answers of one turn wake it once (the write fell to 9 µs).
 */
function makeSend() {
  /** This server's answers made during this turn of the event loop, written at its end. */
  const ready: ReadyAnswer[] = [];
  const writeReady = () => {
    for (const one of ready.splice(0)) writeOrFail(one);
  };
  return (
    request: IncomingMessage,
    response: ServerResponse,
    answer: APIGatewayProxyStructuredResultV2,
    close: boolean,
  ): void => {
    if (ready.push({ request, response, answer, close }) === 1) setImmediate(writeReady);
  };
}

/** An answer that cannot be written (Node refuses a header) becomes a bare 500, as any fault. */
function writeOrFail(ready: ReadyAnswer): void {
  try {
    write(ready);
  } catch {
    if (ready.answer !== INTERNAL_ERROR && !ready.response.headersSent) {
      writeOrFail({ ...ready, answer: INTERNAL_ERROR, close: true });
      return;
    }
    // The others of this turn are still written.
    ready.request.socket?.destroy();
  }
}

function write({ request, response, answer, close }: ReadyAnswer): void {
  const headers = answer.headers as Record<string, string> | undefined;
  response.writeHead(
    answer.statusCode ?? 200,
    close ? { ...headers, connection: "close" } : headers,
  );
  response.end(answer.body ?? "");
  // Whatever the client still sends is not read: the connection goes with the answer.
  // The socket is gone already when the client hung up.
  const socket: Socket | null = request.socket;
  if (close) response.once("finish", () => socket?.destroy());
}

interface Target {
  path: string;
  query: string;
  sourceId?: string;
}

/**
 * The path and query, and for a webhook its source id; undefined (a 400) when the request target
 * is no URL at all (`http://[`, `//[`) or its path's %-encoding is broken.
 */
function parseTarget(request: IncomingMessage): Target | undefined {
  // A webhook's plain path (no query, no %-escape, no dot segment) is its own canonical form:
  // the URL parse below, which would change nothing, is skipped on the hot path.
  const plain = request.method === "POST" ? PLAIN_WEBHOOK_PATH.exec(request.url ?? "") : null;
  if (plain?.[1]) return { path: plain[0], query: "", sourceId: plain[1] };
  let url: URL;
  try {
    url = new URL(request.url ?? "/", "http://local");
    decodeURIComponent(url.pathname);
  } catch {
    return undefined;
  }
  const path = url.pathname;
  const query = url.search.slice(1);
  const webhook = WEBHOOK_PATH.exec(path);
  return webhook?.[1] && request.method === "POST"
    ? { path, query, sourceId: decodeURIComponent(webhook[1]) }
    : { path, query };
}

/** Reads at most `limit` bytes; undefined (and reading stops) as soon as the body is longer. */
function readBody(request: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  // Events rather than `for await`: no async iterator per request (measured in the local-run bench).
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    // Listeners written in place: `npm start` runs under tsx, which names every function held
    // in a variable with a property write as it is made, once per request here.
    request.on("data", (chunk: Buffer) => {
      if (size > limit) return;
      size += chunk.length;
      if (size <= limit) {
        chunks.push(chunk);
        return;
      }
      request.pause();
      resolve(undefined);
    });
    // `on`, not `once`: each fires at most once for a request, and `once` wraps every listener.
    request.on("end", () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
    request.on("error", reject);
    request.on("close", () => {
      if (!request.complete) reject(new Error("the request was cut off"));
    });
  });
}

/** The headers as API Gateway hands them over: repeated ones joined with commas. */
function headersOf(request: IncomingMessage): Record<string, string> {
  // node:http lower-cases header names already: one copy, no second pass to lower-case them.
  const headers: Record<string, string> = {};
  const given = request.headers;
  for (const name in given) {
    const value = given[name];
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(",") : value;
  }
  return headers;
}

function toEvent(request: IncomingMessage, target: Target, body: Buffer): APIGatewayProxyEventV2 {
  return eventOf(
    {
      method: request.method ?? "GET",
      path: target.path,
      query: target.query,
      headers: headersOf(request),
      body,
      sourceIp: request.socket.remoteAddress ?? "",
    },
    target.sourceId ?? webhookIdOf(target.path),
  );
}

const WEBHOOK_PATH = /^\/webhooks\/([^/]+)\/?$/;
/** A webhook path that needs no decoding or normalising: letters, digits, `_` and `-` only. */
const PLAIN_WEBHOOK_PATH = /^\/webhooks\/([A-Za-z0-9_-]+)\/?$/;

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
  const headers = Object.fromEntries(
    Object.entries(request.headers).map(([name, value]) => [name.toLowerCase(), value]),
  );
  return eventOf({ ...request, headers }, webhookIdOf(request.path));
}

const webhookIdOf = (path: string): string | undefined => {
  const id = WEBHOOK_PATH.exec(path)?.[1];
  return id && decodeURIComponent(id);
};

/**
 * {@link apiGatewayEvent} for header names already lower-cased; `sourceId` is the webhook path's
 * source id, whatever the method (the route is the webhook route for a POST only).
 */
function eventOf(request: HttpRequestParts, sourceId: string | undefined): APIGatewayProxyEventV2 {
  const { method, path, headers } = request;
  const routeKey =
    method === "POST" && sourceId !== undefined
      ? WEBHOOK_ROUTE
      : method === "GET" && path === "/health"
        ? HEALTH_ROUTE
        : "$default";
  const now = new Date();
  return {
    version: "2.0",
    routeKey,
    rawPath: path,
    rawQueryString: request.query ?? "",
    headers,
    ...(sourceId !== undefined && { pathParameters: { sourceId } }),
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
  return new LocalContext(timeoutMs);
}

/** One per request: a class, so a request costs one object and no closures. */
class LocalContext implements Context {
  callbackWaitsForEmptyEventLoop = false;
  functionName = "hookline-local";
  functionVersion = "$LATEST";
  invokedFunctionArn = "arn:aws:lambda:local:000000000000:function:hookline-local";
  memoryLimitInMB = "512";
  awsRequestId = randomUUID();
  logGroupName = "local";
  logStreamName = "local";
  private readonly start = Date.now();

  constructor(private readonly timeoutMs: number) {}

  getRemainingTimeInMillis(): number {
    return Math.max(0, this.timeoutMs - (Date.now() - this.start));
  }

  done(): void {}
  fail(): void {}
  succeed(): void {}
}
