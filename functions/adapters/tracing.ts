import type { Context } from "aws-lambda";
import type { Log } from "../core/log";
import { METRICS_SERVICE } from "../core/metrics";
import type { SpanNotes, TraceCarrier, Tracing } from "./tracing-types";

/**
 * hookline's tracing seam: one trace per webhook event (docs/tracing.md). Ingest's span, the
 * trace context carried in the queue message's attributes, deliver's span as its child, and a
 * client span per Bitrix24 call. This file holds only the seam and the tracing that does
 * nothing; the OpenTelemetry SDK is in `otel-tracing.ts`, which is imported only when tracing is
 * on (`HOOKLINE_TRACING=true`), so a function without tracing never loads it.
 */

export type {
  SpanAttributes,
  SpanNotes,
  SpanRequest,
  TraceCarrier,
  Tracing,
} from "./tracing-types";

const NO_NOTES: SpanNotes = { set: () => {}, fail: () => {} };

/** Tracing off: the work runs as it is, nothing is recorded or carried. */
export const noTracing: Tracing = {
  span: (_name, _request, work) => work(NO_NOTES),
  carrier: () => ({}),
  flush: async () => {},
  shutdown: async () => {},
};

/** `true` turns tracing on in a function (the stack sets it with `-c tracing=true`). */
export const TRACING_VARIABLE = "HOOKLINE_TRACING";

export const tracingEnabled = (env: Readonly<Record<string, string | undefined>>): boolean =>
  env[TRACING_VARIABLE] === "true";

/**
 * The function's tracing: {@link noTracing} unless `HOOKLINE_TRACING=true`; then the
 * OpenTelemetry SDK, loaded here (a chunk of its own in the bundle) and exporting as the standard
 * `OTEL_*` variables say. Tracing that cannot start is logged and left off: it never stops
 * a delivery.
 *
 * @example
 * const tracing = onceUntilFailure(() => tracingFromEnvironment(log));
 */
export async function tracingFromEnvironment(
  log: Log,
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<Tracing> {
  if (!tracingEnabled(env)) return noTracing;
  try {
    const { makeOtelTracing, exporterFromEnvironment } = await import("./otel-tracing");
    const exporter = await exporterFromEnvironment(env);
    return exporter
      ? makeOtelTracing({ exporter, batch: true, serviceName: METRICS_SERVICE })
      : noTracing;
  } catch (error) {
    log.error("tracing could not start; running without it", { error: String(error) });
    return noTracing;
  }
}

/** The trace context in an SQS record's message attributes (`{}` when it has none). */
export function carrierOf(
  attributes: Readonly<Record<string, { stringValue?: string | undefined }>> | undefined,
): TraceCarrier {
  const carrier: TraceCarrier = {};
  for (const name of TRACE_CONTEXT_FIELDS) {
    const value = attributes?.[name]?.stringValue;
    if (value !== undefined) carrier[name] = value;
  }
  return carrier;
}

/** The W3C trace context's fields, the only message attributes tracing reads. */
export const TRACE_CONTEXT_FIELDS = ["traceparent", "tracestate"] as const;

type Handler<E, R> = (event: E, context: Context) => Promise<R>;

/**
 * Exports the invocation's spans before it returns, whether it answered or threw: a Lambda is
 * frozen after it returns, and spans still buffered then would leave only with the next event.
 * Without tracing it costs one resolved promise.
 *
 * @example export const handler = withTraceFlush(createIngestHandler(options), tracing);
 */
export function withTraceFlush<E, R>(
  handler: Handler<E, R>,
  tracing: () => Promise<Tracing>,
): Handler<E, R> {
  return async (event, context) => {
    try {
      return await handler(event, context);
    } finally {
      await (await tracing()).flush();
    }
  };
}
