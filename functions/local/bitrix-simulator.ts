import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import * as z from "zod";
import { hasRunToken } from "../../devkit/run-state";
import { isRecord, parseJsonOrUndefined } from "../core/values";
import { isLoopbackHost } from "./http-server";
import { positiveInt } from "./simulator-answers";
import { BATCH_METHOD, batchMethods, runBatch } from "./simulator-batch";
import { notifyMethod, type ReceivedNotification } from "./simulator-notify";
import {
  makeSimulatorOAuth,
  type SimulatorOAuth,
  type SimulatorOAuthOptions,
} from "./simulator-oauth";
import { DEFAULT_OPERATING, makeOperatingMeter, type OperatingLimit } from "./simulator-operating";
import {
  isSessionAuth,
  type PortalTraits,
  type PortalTraitsChange,
  portalTraitsSchema,
  ranThenGatewayFault,
  sendFailsFault,
  sendGatewayPage,
  wrongCodeError,
} from "./simulator-portal";
import { type NetworkLine, portalMethods } from "./simulator-portal-methods";

export type { ReceivedNotification } from "./simulator-notify";

/**
 * A Bitrix24 portal on 127.0.0.1 that knows `imopenlines.network.message.add`, and enforces what
 * docs/bitrix24.md documents: the checks in the server's own order, the weekly limit, the leaky
 * bucket, the 30 KB limits and the answer envelope. It also knows the second channel,
 * `im.notify.system.add` (simulator-notify.ts), and the methods `hookline doctor` calls. Faults
 * can be queued to test timeouts and dropped connections. For the local run and the tests.
 */

export interface SimulatorOptions {
  /** 0 (default): an ephemeral port. */
  port?: number;
  /** Open lines connected to this portal (32-character codes, as the real server requires). */
  openLineCodes: string[];
  /** The portal's leaky bucket; default burst 50, draining 2 per second. */
  rateLimit?: { burst: number; perSecond: number };
  /**
   * Bitrix24's operating limit per method: default 480 s per 600 s, each call (each command of a
   * `batch`) costing 50 ms. Shorter windows are for benches and tests.
   */
  operating?: Partial<OperatingLimit>;
  /** One message per (CODE, USER_ID) per rolling 7 days; default true. False: an NFR portal. */
  weeklyLimit?: boolean;
  /** The weekly limit's window; default 7 days (shorter only for demos and tests). */
  weekMs?: number;
  /**
   * Also an OAuth app's portal: `POST /rest/<method>` with `auth=<access token>`, and its OAuth
   * server at `GET /oauth/token/`.
   */
  oauth?: SimulatorOAuthOptions;
  /** The imbot module is installed (default true); without it: `IMBOT_ERROR`. */
  imbot?: boolean;
  /** A portal from before 2026-03: a wrong code answers `CODE_ERROR` (default false: `CODE`). */
  olderErrorCodes?: boolean;
  /**
   * Open lines that exist on the network but are not joined to this portal yet: a message to one
   * answers `NOT_FOUND` until `imopenlines.network.join` connects it.
   */
  networkLines?: NetworkLine[];
  /** Accepted messages kept in `messages` (the newest); default 10,000. */
  keptMessages?: number;
  /** What the `scope` method answers; default `["imopenlines", "im"]`. */
  scopes?: string[];
  /** Millisecond clock, for tests. */
  now?: () => number;
  /** Called for every accepted message (the local run prints them). */
  onMessage?: (m: ReceivedMessage) => void;
  /** Called for every system notification (`im.notify.system.add`) the portal accepted. */
  onNotification?: (n: ReceivedNotification) => void;
  /**
   * The local run's token: when set, the `POST /_simulator/` controls require it (the
   * `x-hookline-token` header), so no web page can trigger an outage or faults.
   */
  controlToken?: string;
}

export interface ReceivedMessage {
  code: string;
  userId: number;
  message: string;
  attach?: unknown;
  keyboard?: unknown;
  urlPreview: string;
  at: number;
}

export interface BitrixSimulator {
  /** Incoming-webhook URL, e.g. http://127.0.0.1:PORT/rest/1/<random code>/. */
  webhookUrl: string;
  /** `http://127.0.0.1:PORT`, for the `/_simulator/` endpoints; the portal URL for OAuth. */
  origin: string;
  /** The portal's OAuth server, when it has one. */
  oauth: SimulatorOAuth | undefined;
  /** The accepted messages, in order (the newest 10,000). */
  messages: ReceivedMessage[];
  /**
   * The system notifications users see now, oldest first: one with a TAG replaced the user's
   * earlier one with that tag (the newest 10,000).
   */
  notifications: ReceivedNotification[];
  stats: {
    requests: number;
    rejectedRateLimit: number;
    accepted: number;
    /** System notifications accepted, replaced ones included. */
    notified: number;
    /** Requests that arrived while another request for the same user was still being served. */
    overlapping: number;
    /** 429 OPERATION_TIME_LIMIT answers, whole requests and commands of a batch. */
    rejectedOperating: number;
    /** `batch` requests served, and the commands they carried. */
    batches: number;
    batchCommands: number;
  };
  /** Another app of the portal messages the user: our next message this week meets the limit. */
  messageFromAnotherApp(code: string, userId: number): void;
  /** Forgets the user's week, as if it had passed (`hookline slot --reset` on the local run). */
  forgetUser(code: string, userId: number): void;
  /** Every REST request answers 500 until `ms` from now: an outage of the whole portal. */
  outage(ms: number): void;
  /** Queues faults for the next REST requests, consumed one per request in order. */
  inject(...faults: Fault[]): void;
  /** Changes what the portal is like: imbot installed, older error codes, blocked by support. */
  portal(change: PortalTraitsChange): PortalTraits;
  close(): Promise<void>;
}

const faultSchema = z.union([
  /** Answer this HTTP status without recording: `error` (default by status) or a raw `body`. */
  z.strictObject({
    status: z.number().int().min(200).max(599),
    error: z.string().min(1).optional(),
    body: z.string().optional(),
  }),
  /** Record the message if `land` (the usual checks apply), answer only after `hangMs`. */
  z.strictObject({ hangMs: z.number().int().nonnegative().max(600_000), land: z.boolean() }),
  /** Destroy the socket once the request is read (record first if `land`). */
  z.strictObject({ dropConnection: z.literal(true), land: z.boolean() }),
  ranThenGatewayFault,
  sendFailsFault,
]);
export type Fault = z.infer<typeof faultSchema>;

const METHOD = "imopenlines.network.message.add";
const NOTIFY_METHOD = "im.notify.system.add";
/** Accepted messages kept for `messages` and `/_simulator/messages`. */
const MAX_KEPT_MESSAGES = 10_000;
const MAX_BODY_BYTES = 1024 * 1024;
const WEEK_MS = 7 * 24 * 60 * 60 * 1000;
const MAX_MESSAGE_CHARS = 20_000;
/** "30 KB" of serialized JSON, as the method's page says. */
const MAX_ATTACH_BYTES = 30 * 1024;
const DEFAULT_ERROR_BY_STATUS: Record<number, string> = {
  400: "WRONG_REQUEST",
  401: "NO_AUTH_FOUND",
  403: "ACCESS_DENIED",
  429: "OPERATION_TIME_LIMIT",
  503: "QUERY_LIMIT_EXCEEDED",
};

interface Answer {
  status: number;
  body: unknown;
}

type Caller = { kind: "webhook" } | { kind: "app"; client: string };

/**
 * Starts the simulator on 127.0.0.1.
 *
 * @example
 * const portal = await startBitrixSimulator({ openLineCodes: [code] });
 * makeBitrixWebhookClient({ webhookUrl: portal.webhookUrl, timeoutMs: 1000 });
 */
export async function startBitrixSimulator(options: SimulatorOptions): Promise<BitrixSimulator> {
  const now = options.now ?? Date.now;
  const lines = new Set(options.openLineCodes);
  const weeklyLimit = options.weeklyLimit ?? true;
  const keptMessages = options.keptMessages ?? MAX_KEPT_MESSAGES;
  const weekMs = options.weekMs ?? WEEK_MS;
  const inFlight = new Map<string, number>();
  const oauth = options.oauth ? makeSimulatorOAuth(options.oauth, now) : undefined;
  let outageUntil = 0;
  const bucket = leakyBucket(options.rateLimit ?? { burst: 50, perSecond: 2 });
  const webhookCode = randomBytes(8).toString("hex");
  const lastSent = new Map<string, number>();
  const faults: Fault[] = [];
  const hangs = new Set<() => void>();
  const messages: ReceivedMessage[] = [];
  const stats = {
    requests: 0,
    rejectedRateLimit: 0,
    accepted: 0,
    notified: 0,
    overlapping: 0,
    rejectedOperating: 0,
    batches: 0,
    batchCommands: 0,
  };
  const meter = makeOperatingMeter({ ...DEFAULT_OPERATING, ...options.operating });
  const { costMs } = { ...DEFAULT_OPERATING, ...options.operating };
  /**
   * An answer's `time` block for `method`: its timings (a call runs for its operating cost) and
   * its operating window now.
   */
  const time = (method: string, start: number, finish: number) => ({
    ...timeBlock(start, Math.max(finish, start + costMs)),
    ...meter.report(method, finish),
  });
  const traits: PortalTraits = {
    imbot: options.imbot ?? true,
    olderErrorCodes: options.olderErrorCodes ?? false,
    overloaded: false,
  };
  const scopes = options.scopes ?? ["imopenlines", "im"];
  const otherMethods = portalMethods({
    joined: lines,
    networkLines: options.networkLines ?? [],
    scopes,
  });
  const notify = notifyMethod({
    scopes,
    kept: keptMessages,
    onNotification: (notification) => {
      stats.notified++;
      options.onNotification?.(notification);
    },
  });

  /** The method itself, checks in the order of the server module's `networkMessageAdd`. */
  function messageAdd(params: Record<string, unknown>, at: number, sendFails = false): Answer {
    const code = params.CODE;
    if (typeof code !== "string" || [...code].length !== 32) {
      return error(400, wrongCodeError(traits), "You entered an invalid code");
    }
    if (!traits.imbot) return error(400, "IMBOT_ERROR", "Module imbot is not installed");
    if (!lines.has(code)) return error(400, "NOT_FOUND", "Line not found");
    const userId = positiveInt(params.USER_ID);
    if (userId === undefined) return error(400, "USER_ID_EMPTY", "User ID can't be empty");
    const slot = `${code}\u0000${userId}`;
    const previous = lastSent.get(slot);
    if (weeklyLimit && previous !== undefined && previous > at - weekMs) {
      return error(
        400,
        "USER_MESSAGE_LIMIT",
        "You cant send more than one message per week to each user.",
      );
    }
    const text = phpString(params.MESSAGE).trim();
    if (text === "") return error(400, "MESSAGE_EMPTY", "Message can't be empty");

    const attach = jsonParam(params.ATTACH);
    if (attach !== undefined) {
      if (!isObjectLike(attach)) return error(400, "ATTACH_ERROR", "Incorrect attach params");
      if (jsonBytes(attach) > MAX_ATTACH_BYTES) {
        return error(
          400,
          "ATTACH_OVERSIZE",
          "You have exceeded the maximum allowable size of attach",
        );
      }
    }
    const keyboard = jsonParam(params.KEYBOARD);
    if (keyboard !== undefined) {
      // No size check: KEYBOARD_OVERSIZE belongs to the imbot methods, not this one.
      if (!hasLinkButton(keyboard))
        return error(400, "KEYBOARD_ERROR", "Incorrect keyboard params");
    }
    if (sendFails) return error(400, "WRONG_REQUEST", "Message was not added");

    const received: ReceivedMessage = {
      code,
      userId,
      message: truncate(text),
      ...(attach !== undefined && { attach }),
      ...(keyboard !== undefined && { keyboard }),
      urlPreview: params.URL_PREVIEW === "N" ? "N" : "Y",
      at,
    };
    // The limit row is written only after a successful send, so failures use no quota.
    lastSent.set(slot, at);
    messages.push(received);
    // A long local run keeps the newest ones only (the inbox shows a page of them).
    if (messages.length > keptMessages) messages.splice(0, messages.length - keptMessages);
    stats.accepted++;
    try {
      options.onMessage?.(received);
    } catch {
      // A printing hook must not turn an accepted message into a server error.
    }
    return { status: 200, body: { result: true } };
  }

  /** One method call once auth, bucket and operating time let it run; no `time` block yet. */
  function run(
    method: string,
    params: Record<string, unknown>,
    at: number,
    caller: Caller,
    sendFails = false,
  ): Answer {
    if (method === NOTIFY_METHOD) return notify.call(params, at, caller);
    const other = Object.hasOwn(otherMethods, method) ? otherMethods[method] : undefined;
    if (other) return other(params, at);
    if (method === METHOD) return messageAdd(params, at, sendFails);
    return error(404, "ERROR_METHOD_NOT_FOUND", "Method not found!");
  }

  /** Auth, method, bucket, then the method: what one REST request gets as an answer. */
  function rest(path: string, params: Record<string, unknown>, sendFails = false): Answer {
    const webhook = /^\/rest\/([^/]+)\/([^/]+)\/([^/]*)$/.exec(path);
    const app = /^\/rest\/([^/]+)$/.exec(path);
    let methodName: string | undefined;
    let caller: Caller = { kind: "webhook" };
    if (webhook?.[1] === "1" && webhook[2] === webhookCode) {
      methodName = webhook[3];
    } else if (app && isSessionAuth(params)) {
      return error(403, "WRONG_AUTH_TYPE", "Current authorization type is denied for this method");
    } else if (app && oauth) {
      const check = oauth.check(params.AUTH);
      if (check !== "valid") {
        return error(
          401,
          check,
          check === "expired_token" ? "The access token provided has expired." : "Invalid token",
        );
      }
      methodName = app[1];
      caller = { kind: "app", client: options.oauth?.clientId ?? "app" };
    } else {
      return error(401, "NO_AUTH_FOUND", "Wrong authorization data");
    }
    const method = decodeURIComponent(methodName ?? "")
      .toLowerCase()
      .replace(/\.json$/, "");
    const other = Object.hasOwn(otherMethods, method) ? otherMethods[method] : undefined;
    if (method !== METHOD && method !== NOTIFY_METHOD && method !== BATCH_METHOD && !other) {
      return error(404, "ERROR_METHOD_NOT_FOUND", "Method not found!");
    }
    const at = now();
    // One token per request, a batch of 50 commands included.
    if (!bucket.tryFill(at)) {
      stats.rejectedRateLimit++;
      return error(503, "QUERY_LIMIT_EXCEEDED", "Too many requests");
    }
    const batch = method === BATCH_METHOD;
    // The check runs before the call; error answers carry no timings.
    if ((batch ? batchMethods(params) : [method]).some((m) => meter.exhausted(m, at))) {
      stats.rejectedOperating++;
      return error(429, "OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit.");
    }
    if (batch) return serveBatch(params, at, caller, sendFails);
    meter.spend(method, at);
    const answer = run(method, params, at, caller, sendFails);
    return answer.status === 200
      ? { status: 200, body: { ...(answer.body as object), time: time(method, at, now()) } }
      : answer;
  }

  function serveBatch(
    params: Record<string, unknown>,
    at: number,
    caller: Caller,
    sendFails: boolean,
  ): Answer {
    const answer = runBatch(params, at, {
      meter,
      run: (method, inner, start) => run(method, inner, start, caller, sendFails),
      parse: (query) => parseParams(undefined, "", new URLSearchParams(query)) ?? {},
      time,
      now,
    });
    stats.batches++;
    const body = answer.body as { result?: { result?: object; result_error?: object } };
    const errors = Object.values(body.result?.result_error ?? {});
    stats.batchCommands += Object.keys(body.result?.result ?? {}).length + errors.length;
    stats.rejectedOperating += errors.filter(
      (e) => (e as { error?: unknown }).error === "OPERATION_TIME_LIMIT",
    ).length;
    return answer;
  }

  async function handleRest(req: IncomingMessage, res: ServerResponse, url: URL, raw: string) {
    stats.requests++;
    trackOverlap(req, res, url, raw);
    if (now() < outageUntil) return send(res, error(500, "INTERNAL_SERVER_ERROR", "Portal down"));
    if (traits.overloaded) {
      return send(res, error(503, "OVERLOAD_LIMIT", "REST API is blocked due to overload."));
    }
    const fault = faults.shift();
    if (fault && ("ran" in fault || "sendFails" in fault)) {
      const params = parseParams(req.headers["content-type"], raw, url.searchParams);
      const answer = params
        ? rest(url.pathname, params, "sendFails" in fault)
        : error(400, "INVALID_REQUEST", "Bad body");
      if ("ran" in fault) return sendGatewayPage(res, fault.status, fault.body);
      return send(res, answer);
    }
    if (fault && "status" in fault) {
      const code = fault.error ?? DEFAULT_ERROR_BY_STATUS[fault.status] ?? "INTERNAL_SERVER_ERROR";
      if (fault.body !== undefined) return sendRaw(res, fault.status, fault.body);
      return send(res, error(fault.status, code, "Injected fault"));
    }
    const lands = !fault || fault.land;
    let answer: Answer | undefined;
    if (lands) {
      const params = parseParams(req.headers["content-type"], raw, url.searchParams);
      answer = params ? rest(url.pathname, params) : error(400, "INVALID_REQUEST", "Bad body");
    }
    if (fault && "dropConnection" in fault) {
      req.socket.destroy();
      return;
    }
    if (fault && "hangMs" in fault) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          hangs.delete(done);
          resolve();
        };
        const timer = setTimeout(done, fault.hangMs);
        hangs.add(done);
      });
      // What a gateway says when the backend never answered: the message did not land.
      if (!answer) return sendRaw(res, 504, "Gateway Timeout");
    }
    if (answer) send(res, answer);
  }

  /**
   * Counts a request for a user whose previous request is still being served (each command of a
   * batch counts for its own user).
   */
  function trackOverlap(req: IncomingMessage, res: ServerResponse, url: URL, raw: string) {
    const params = parseParams(req.headers["content-type"], raw, url.searchParams);
    const commands =
      typeof params?.CMD === "object" && params.CMD !== null
        ? Object.values(params.CMD).map((command) =>
            parseParams(undefined, "", new URLSearchParams(String(command).split("?")[1] ?? "")),
          )
        : [params];
    const keys: string[] = [];
    for (const command of commands) {
      const userId = positiveInt(command?.USER_ID);
      if (userId === undefined) continue;
      const key = `${String(command?.CODE)}\u0000${userId}`;
      const current = inFlight.get(key) ?? 0;
      if (current > 0) stats.overlapping++;
      inFlight.set(key, current + 1);
      keys.push(key);
    }
    res.once("close", () => {
      for (const key of keys) {
        const left = (inFlight.get(key) ?? 1) - 1;
        if (left > 0) inFlight.set(key, left);
        else inFlight.delete(key);
      }
    });
  }

  function handleControl(req: IncomingMessage, res: ServerResponse, path: string, raw: string) {
    if (
      req.method !== "GET" &&
      options.controlToken &&
      !hasRunToken(req.headers, options.controlToken)
    ) {
      return send(res, error(403, "FORBIDDEN", "Simulator controls need the run's token"));
    }
    if (req.method === "POST" && path === "/_simulator/portal") return portalControl(res, raw);
    if (req.method === "GET" && path === "/_simulator/messages") {
      return send(res, { status: 200, body: messages });
    }
    if (req.method === "GET" && path === "/_simulator/notifications") {
      return send(res, { status: 200, body: notify.visible });
    }
    if (req.method === "POST" && path === "/_simulator/outage") {
      const parsed = z
        .strictObject({ ms: z.number().int().min(0).max(3_600_000) })
        .safeParse(parseJsonOrUndefined(raw));
      if (!parsed.success)
        return send(res, error(400, "BAD_OUTAGE", z.prettifyError(parsed.error)));
      outageUntil = now() + parsed.data.ms;
      return send(res, { status: 200, body: { until: new Date(outageUntil).toISOString() } });
    }
    if (req.method === "POST" && path === "/_simulator/another-app") {
      const parsed = z
        .strictObject({ code: z.string().length(32), userId: z.number().int().positive() })
        .safeParse(parseJsonOrUndefined(raw));
      if (!parsed.success)
        return send(res, error(400, "BAD_MESSAGE", z.prettifyError(parsed.error)));
      lastSent.set(`${parsed.data.code}\u0000${parsed.data.userId}`, now());
      return send(res, { status: 200, body: { recorded: true } });
    }
    if (req.method === "POST" && path === "/_simulator/faults") {
      const parsed = z.array(faultSchema).safeParse(parseJsonOrUndefined(raw));
      if (!parsed.success)
        return send(res, error(400, "BAD_FAULTS", z.prettifyError(parsed.error)));
      faults.push(...parsed.data);
      return send(res, { status: 200, body: { queued: faults.length } });
    }
    return send(res, error(404, "NOT_FOUND", "No such simulator endpoint"));
  }

  /** `POST /_simulator/portal` `{imbot?, olderErrorCodes?, overloaded?}`: see {@link PortalTraits}. */
  function portalControl(res: ServerResponse, raw: string) {
    const parsed = portalTraitsSchema.safeParse(parseJsonOrUndefined(raw));
    if (!parsed.success) return send(res, error(400, "BAD_PORTAL", z.prettifyError(parsed.error)));
    return send(res, { status: 200, body: changePortal(parsed.data) });
  }

  function changePortal(change: PortalTraitsChange): PortalTraits {
    for (const [name, value] of Object.entries(change)) {
      if (value !== undefined) traits[name as keyof PortalTraits] = value;
    }
    return { ...traits };
  }

  let listeningPort = -1;
  const server = createServer((req, res) => {
    // As the local server: a page that rebinds its name to 127.0.0.1 is refused (docs/security.md).
    if (!isLoopbackHost(req.headers.host, listeningPort)) {
      res.setHeader("connection", "close");
      return send(res, error(403, "FORBIDDEN", "Only 127.0.0.1, localhost or [::1] on this port"));
    }
    // A target that is no URL (`http://[`) is a 400: a throw here would end the local run.
    let url: URL;
    try {
      url = new URL(req.url ?? "/", "http://127.0.0.1");
    } catch {
      res.setHeader("connection", "close");
      return send(res, error(400, "WRONG_REQUEST", "Malformed request target"));
    }
    readBody(req)
      .then((raw) => {
        if (raw === undefined) {
          res.setHeader("connection", "close");
          return send(res, error(413, "REQUEST_TOO_LARGE", "Body over 1 MiB"));
        }
        if (oauth && url.pathname === "/oauth/token/") {
          return send(res, oauth.token(url.searchParams));
        }
        if (url.pathname.startsWith("/_simulator/")) {
          return handleControl(req, res, url.pathname, raw);
        }
        return handleRest(req, res, url, raw);
      })
      .catch(() => {
        if (!res.headersSent && !res.destroyed) {
          send(res, error(500, "INTERNAL_SERVER_ERROR", "Simulator failure"));
        }
      });
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  listeningPort = port;
  const origin = `http://127.0.0.1:${port}`;

  return {
    webhookUrl: `${origin}/rest/1/${webhookCode}/`,
    origin,
    oauth,
    messages,
    notifications: notify.visible,
    stats,
    outage: (ms) => {
      outageUntil = now() + ms;
    },
    messageFromAnotherApp: (code, userId) => {
      lastSent.set(`${code}\u0000${userId}`, now());
    },
    forgetUser: (code, userId) => {
      lastSent.delete(`${code}\u0000${userId}`);
    },
    inject: (...more) => {
      faults.push(...z.array(faultSchema).parse(more));
    },
    portal: changePortal,
    close: () =>
      new Promise<void>((resolve, reject) => {
        for (const release of [...hangs]) release();
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

/**
 * The portal's leaky bucket as a meter: it drains `perSecond` continuously (fractions count),
 * every admitted request adds one unit, and a request arriving when it holds `burst` is refused
 * without adding anything.
 */
function leakyBucket(limit: { burst: number; perSecond: number }) {
  let level = 0;
  let last: number | undefined;
  return {
    tryFill(at: number): boolean {
      if (last !== undefined)
        level = Math.max(0, level - (Math.max(0, at - last) / 1000) * limit.perSecond);
      last = at;
      if (level >= limit.burst) return false;
      level += 1;
      return true;
    },
  };
}

const error = (status: number, code: string, description: string): Answer => ({
  status,
  body: { error: code, error_description: description },
});

function send(res: ServerResponse, answer: Answer) {
  if (res.destroyed) return;
  res.writeHead(answer.status, { "content-type": "application/json; charset=utf-8" });
  res.end(JSON.stringify(answer.body));
}

function sendRaw(res: ServerResponse, status: number, body: string) {
  if (res.destroyed) return;
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8" });
  res.end(body);
}

/** The body as text, or `undefined` when it exceeds the cap (reading stops there). */
function readBody(req: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        req.pause();
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

/**
 * Request params as the REST server sees them: query and body merged, top-level names
 * upper-cased (the server calls array_change_key_case). `undefined` when the body is unreadable.
 */
function parseParams(
  contentType: string | undefined,
  raw: string,
  query: URLSearchParams,
): Record<string, unknown> | undefined {
  const merged: Record<string, unknown> = parseForm(query.toString());
  let body: unknown = {};
  if (contentType?.includes("application/json")) {
    body = raw.trim() === "" ? {} : parseJsonOrUndefined(raw);
    if (!isRecord(body)) return undefined;
  } else if (contentType?.includes("application/x-www-form-urlencoded")) {
    body = parseForm(raw);
  }
  Object.assign(merged, body);
  const params: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(merged)) params[key.toUpperCase()] = value;
  return params;
}

/**
 * PHP-style form decoding, minimal: `ATTACH[0][MESSAGE]=x` becomes nested objects, and a level
 * whose keys are 0..n-1 a list, as PHP reads it (a batch command's KEYBOARD and ATTACH travel so).
 */
function parseForm(raw: string): Record<string, unknown> {
  return listsOf(parseFormObjects(raw)) as Record<string, unknown>;
}

function listsOf(value: unknown): unknown {
  if (!isRecord(value)) return value;
  const keys = Object.keys(value);
  for (const key of keys) value[key] = listsOf(value[key]);
  const isList = keys.length > 0 && keys.every((key, index) => key === String(index));
  return isList ? keys.map((key) => value[key]) : value;
}

function parseFormObjects(raw: string): Record<string, unknown> {
  const out: Record<string, unknown> = Object.create(null);
  for (const [key, value] of new URLSearchParams(raw)) {
    const head = /^[^[]+/.exec(key)?.[0] ?? key;
    const path = [
      head,
      ...[...key.slice(head.length).matchAll(/\[([^\]]*)\]/g)].map((m) => m[1] ?? ""),
    ];
    if (path.some((segment) => segment === "__proto__" || segment === "constructor")) continue;
    let node = out;
    path.forEach((segment, index) => {
      const name = segment === "" ? String(Object.keys(node).length) : segment;
      if (index === path.length - 1) {
        node[name] = value;
        return;
      }
      const child = node[name];
      if (isRecord(child)) {
        node = child;
        return;
      }
      const created: Record<string, unknown> = Object.create(null);
      node[name] = created;
      node = created;
    });
  }
  return out;
}

/** ATTACH/KEYBOARD: structures or JSON text; PHP's `empty()` values count as absent. */
function jsonParam(value: unknown): unknown {
  if (value === undefined || value === null || value === "" || value === "0" || value === false) {
    return undefined;
  }
  const parsed = typeof value === "string" ? (parseJsonOrUndefined(value) ?? value) : value;
  if (isObjectLike(parsed) && Object.keys(parsed).length === 0) return undefined;
  return parsed;
}

/** Only link buttons survive for this method; a keyboard with none is KEYBOARD_ERROR. */
function hasLinkButton(keyboard: unknown): boolean {
  const root = isRecord(keyboard) && "BUTTONS" in keyboard ? keyboard.BUTTONS : keyboard;
  if (!isObjectLike(root)) return false;
  return Object.values(root).some(
    (button) => isRecord(button) && typeof button.LINK === "string" && button.LINK.trim() !== "",
  );
}

const phpString = (value: unknown): string =>
  typeof value === "string" ? value : typeof value === "number" ? String(value) : "";

function truncate(text: string): string {
  const chars = [...text];
  return chars.length > MAX_MESSAGE_CHARS
    ? `${chars.slice(0, MAX_MESSAGE_CHARS).join("")} (...)`
    : text;
}

const jsonBytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value));

const isObjectLike = (value: unknown): value is object =>
  typeof value === "object" && value !== null;

/** The `time` block of a real answer, before the operating figures are added. */
function timeBlock(startMs: number, finishMs: number) {
  const date = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "+00:00");
  const duration = Math.max(0, finishMs - startMs) / 1000;
  return {
    start: startMs / 1000,
    finish: finishMs / 1000,
    duration,
    processing: duration,
    date_start: date(startMs),
    date_finish: date(finishMs),
  };
}
