import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import type { Clock } from "../core/clock";
import type { Config, SourceConfig } from "../core/config";
import type { OutcomeStore } from "../core/ports";
import type { Router } from "../core/routes";
import { verifyEvent } from "../core/sources/index";
import type { JsonAnswer } from "../ingest/http-errors";
import type { LoggedRequest, OutcomeLike, RawRequest, RequestLog } from "./request-log";

export interface RequestRecorderOptions {
  config: Config;
  requestLog: RequestLog;
  /** The source's resolved secrets, as ingest resolves them. */
  secretsFor: (source: SourceConfig) => Promise<readonly string[]>;
  clock: Clock;
  /**
   * The name routing saw for this source's event id, when ingest routed it moments ago (see
   * {@link RoutedNames}): spares checking the request a second time. Absent: checked again.
   */
  routedName?: (sourceId: string, eventId: string) => string | undefined;
}

/** A request the local server answered, as it read it (header names lower-cased). */
export interface SeenRequest {
  method: string;
  path: string;
  /** The webhook path's source id. */
  sourceId?: string;
  headers: Readonly<Record<string, string>>;
  body: Buffer;
}

/**
 * Turns a request and its answer into a request-log entry. The answer tells the status and the
 * reason; for a verified event (2xx) the name is the one routing saw: noted as ingest routed it
 * ({@link RoutedNames}), else found by checking the same raw request again with the same code as
 * ingest.
 */
export function makeRequestRecorder(options: RequestRecorderOptions) {
  const { config, requestLog, clock } = options;
  const sources = new Map(config.sources.map((source) => [source.id, source]));

  /**
   * Synchronous when the name is known without checking the request again (a routed event, or
   * an answer that names none): a webhook in a burst costs no promise here.
   */
  return function record(
    request: SeenRequest,
    answer: JsonAnswer,
  ): LoggedRequest | Promise<LoggedRequest> {
    const status = answer.statusCode;
    const { sourceId } = request;
    const answered = typeof answer.body.eventId === "string" ? answer.body.eventId : undefined;
    const routed =
      status < 300 && sourceId !== undefined && answered !== undefined
        ? options.routedName?.(sourceId, answered)
        : undefined;
    const source = sourceId === undefined ? undefined : sources.get(sourceId);
    if (routed !== undefined || status >= 300 || !source)
      return log(request, answer, answered, routed);
    return nameOf(source, request).then((verified) =>
      log(request, answer, answered ?? verified?.id, verified?.name),
    );
  };

  function log(
    request: SeenRequest,
    answer: JsonAnswer,
    eventId: string | undefined,
    eventName: string | undefined,
  ): LoggedRequest {
    const { body } = answer;
    const { sourceId } = request;
    // Built field by field, not with conditional spreads: this runs for every webhook.
    const entry: Omit<LoggedRequest, "seq" | "outcomes"> = {
      at: clock.now().toISOString(),
      method: request.method,
      path: request.path,
      status: answer.statusCode,
      answer: pick(body, ["status", "error", "message"]),
    };
    if (sourceId !== undefined) entry.sourceId = sourceId;
    if (eventName !== undefined) entry.eventName = eventName;
    if (eventId !== undefined) entry.eventId = eventId;
    if (typeof body.messages === "number") entry.messages = body.messages;
    if (typeof body.failed === "number") entry.failed = body.failed;
    if (body.status === "ignored" && sourceId !== undefined)
      entry.expected = expectedEvents(config, sourceId);
    return requestLog.addRequest(entry, { headers: request.headers, body: request.body });
  }

  async function nameOf(source: SourceConfig, raw: RawRequest) {
    try {
      const secrets = await options.secretsFor(source);
      return await verifyEvent(source, secrets, raw, clock.now());
    } catch {
      return undefined;
    }
  }
}

export type RequestRecorder = ReturnType<typeof makeRequestRecorder>;

/**
 * A recorder for requests that reached the ingest handler as API Gateway events (all but the
 * webhooks the local server hands to ingest directly): the answer's JSON is read back.
 * `rawBody` is the body as read, when the caller has it: the event's base64 copy is not decoded.
 */
export const makeEventRecorder =
  (record: RequestRecorder) =>
  async (
    event: APIGatewayProxyEventV2,
    answer: APIGatewayProxyStructuredResultV2,
    rawBody?: Buffer,
  ): Promise<LoggedRequest> =>
    record(
      {
        method: event.requestContext.http.method,
        path: event.rawPath,
        ...(event.pathParameters?.sourceId === undefined
          ? {}
          : { sourceId: event.pathParameters.sourceId }),
        headers: event.headers as Record<string, string>,
        body: rawBody ?? Buffer.from(event.body ?? "", event.isBase64Encoded ? "base64" : "utf8"),
      },
      { statusCode: answer.statusCode ?? 200, body: parseAnswer(answer.body) },
    );

/** The event names (or patterns) the routes of a source listen to, in config order. */
export function expectedEvents(config: Config, sourceId: string): string[] {
  const names = config.routes
    .filter((route) => route.source === sourceId)
    .flatMap((route) => route.events);
  return [...new Set(names)];
}

/**
 * An outcome store that also tells `listener` about every outcome it records, so the local
 * run can show outcomes next to the request that caused them.
 */
export function observeOutcomes<T extends Pick<OutcomeStore, "finish" | "defer">>(
  store: T,
  listener: (outcome: OutcomeLike) => void,
): T {
  const show = (standing: Awaited<ReturnType<OutcomeStore["finish"]>>) => {
    try {
      listener(standing as unknown as OutcomeLike);
    } catch {
      // Showing an outcome must never fail recording it.
    }
    return standing;
  };
  const finish: T["finish"] = async (outcome) => show(await store.finish(outcome));
  const defer: T["defer"] = async (...args) => show(await store.defer(...args));
  const observed = Object.assign(Object.create(store) as T, { finish, defer });
  // Deliver's store also records the second channel's `notified`: shown like any other state.
  if ("notified" in store && typeof store.notified === "function") {
    const notified: OutcomeStore["notified"] = async (...args) => {
      const standing = await (store as unknown as OutcomeStore).notified(...args);
      return standing && show(standing);
    };
    Object.assign(observed, { notified });
  }
  return observed;
}

function parseAnswer(body: string | undefined): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(body ?? "");
    return typeof value === "object" && value !== null ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

function pick(body: Record<string, unknown>, keys: readonly ("status" | "error" | "message")[]) {
  const picked: LoggedRequest["answer"] = {};
  for (const key of keys) {
    const value = body[key];
    if (typeof value === "string") picked[key] = value;
  }
  return picked;
}

/**
 * The event names ingest's router saw lately, by source and event id, so the request log shows
 * what routing saw without verifying the request a second time. Bounded: the oldest go first.
 * Two requests with the same event id at the same moment (one of them a duplicate or a retry)
 * may both show the later one's name.
 */
export class RoutedNames {
  /** By event id alone (no key built per webhook); the source is checked when taken. */
  private readonly names = new Map<string, { sourceId: string; name: string }>();

  constructor(private readonly max = 1_000) {}

  /** Wraps a router so each event it routes is noted. */
  noting(router: Router): Router {
    const route: Router["route"] = (event) => {
      this.note(event.sourceId, event.eventId, event.eventName);
      return router.route(event);
    };
    return Object.assign(Object.create(router) as Router, { route });
  }

  note(sourceId: string, eventId: string, name: string): void {
    this.names.delete(eventId);
    this.names.set(eventId, { sourceId, name });
    if (this.names.size > this.max) {
      const oldest = this.names.keys().next();
      if (!oldest.done) this.names.delete(oldest.value);
    }
  }

  /**
   * The noted name, once: a later request with the same id is noted afresh by its routing. Another
   * source's event with the same id, noted since, answers undefined (the request is checked again).
   */
  take(sourceId: string, eventId: string): string | undefined {
    const noted = this.names.get(eventId);
    if (noted?.sourceId !== sourceId) return undefined;
    this.names.delete(eventId);
    return noted.name;
  }
}
