import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import type { Clock } from "../core/clock";
import type { Config, SourceConfig } from "../core/config";
import type { OutcomeStore } from "../core/ports";
import { verifyEvent } from "../core/sources/index";
import type { LoggedRequest, OutcomeLike, RawRequest, RequestLog } from "./request-log";

export interface RequestRecorderOptions {
  config: Config;
  requestLog: RequestLog;
  /** The source's resolved secrets, as ingest resolves them. */
  secretsFor: (source: SourceConfig) => Promise<readonly string[]>;
  clock: Clock;
}

/**
 * Turns a request and the handler's answer into a request-log entry. The answer tells the
 * status and the reason; for a verified event (2xx) the name comes from checking the same raw
 * request again with the same code as ingest, so what the log shows is what routing saw.
 */
export function makeRequestRecorder(options: RequestRecorderOptions) {
  const { config, requestLog, clock } = options;
  const sources = new Map(config.sources.map((source) => [source.id, source]));

  return async function record(
    event: APIGatewayProxyEventV2,
    answer: APIGatewayProxyStructuredResultV2,
  ): Promise<LoggedRequest> {
    const status = answer.statusCode ?? 200;
    const body = parseAnswer(answer.body);
    const sourceId = event.pathParameters?.sourceId;
    const source = sourceId === undefined ? undefined : sources.get(sourceId);
    const raw: RawRequest = {
      headers: event.headers as Record<string, string>,
      body: Buffer.from(event.body ?? "", event.isBase64Encoded ? "base64" : "utf8"),
    };
    const verified = status < 300 && source ? await nameOf(source, raw) : undefined;
    const eventId = typeof body.eventId === "string" ? body.eventId : verified?.id;
    return requestLog.addRequest(
      {
        at: clock.now().toISOString(),
        method: event.requestContext.http.method,
        path: event.rawPath,
        ...(sourceId === undefined ? {} : { sourceId }),
        status,
        answer: pick(body, ["status", "error", "message"]),
        ...(verified ? { eventName: verified.name } : {}),
        ...(eventId === undefined ? {} : { eventId }),
        ...(typeof body.messages === "number" ? { messages: body.messages } : {}),
        ...(typeof body.failed === "number" ? { failed: body.failed } : {}),
        ...(body.status === "ignored" && sourceId !== undefined
          ? { expected: expectedEvents(config, sourceId) }
          : {}),
      },
      raw,
    );
  };

  async function nameOf(source: SourceConfig, raw: RawRequest) {
    try {
      const secrets = await options.secretsFor(source);
      return await verifyEvent(source, secrets, raw, clock.now());
    } catch {
      return undefined;
    }
  }
}

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
