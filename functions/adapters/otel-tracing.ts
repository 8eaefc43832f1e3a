import {
  context,
  defaultTextMapGetter,
  defaultTextMapSetter,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
} from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import {
  defaultResource,
  detectResources,
  envDetector,
  resourceFromAttributes,
} from "@opentelemetry/resources";
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  ConsoleSpanExporter,
  SimpleSpanProcessor,
  type SpanExporter,
} from "@opentelemetry/sdk-trace-base";
import type { SpanRequest, TraceCarrier, Tracing } from "./tracing-types";

/**
 * hookline's {@link Tracing} on the OpenTelemetry SDK: spans of its own tracer provider, the
 * active span kept per async call chain (AsyncLocalStorage), the W3C trace context in and out of
 * queue messages. Only `tracingFromEnvironment` (the Lambdas), the local run's `--trace` and
 * tests import this module: it is a chunk of its own, loaded only with tracing on. It imports
 * nothing of hookline's own, so no module the functions load at start is split out to share it.
 */

export interface OtelTracingOptions {
  exporter: SpanExporter;
  /**
   * Batch spans and export on `flush()` (a Lambda flushes per invocation, an OTLP exporter wants
   * fewer requests); otherwise each span is exported as it ends (the console, tests).
   */
  batch?: boolean;
  /** `service.name` unless OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES say otherwise. */
  serviceName: string;
}

const KINDS: Record<SpanRequest["kind"], SpanKind> = {
  server: SpanKind.SERVER,
  consumer: SpanKind.CONSUMER,
  client: SpanKind.CLIENT,
  internal: SpanKind.INTERNAL,
};

/** The AsyncLocalStorage context manager, registered once per process (the API's is global). */
let contextManager: AsyncLocalStorageContextManager | undefined;

/**
 * A tracer provider of its own (never registered globally, so two in one process, like two
 * tests' bridges, keep their spans apart) exporting to `exporter`.
 *
 * @example
 * const tracing = makeOtelTracing({ exporter: new InMemorySpanExporter(), serviceName: "hookline" });
 */
export function makeOtelTracing(options: OtelTracingOptions): Tracing {
  if (!contextManager) {
    contextManager = new AsyncLocalStorageContextManager().enable();
    context.setGlobalContextManager(contextManager);
  }
  const propagator = new W3CTraceContextPropagator();
  const processor = options.batch
    ? new BatchSpanProcessor(options.exporter)
    : new SimpleSpanProcessor(options.exporter);
  const provider = new BasicTracerProvider({
    resource: defaultResource()
      .merge(
        resourceFromAttributes({
          "service.name": options.serviceName,
          ...(process.env.AWS_LAMBDA_FUNCTION_NAME && {
            "faas.name": process.env.AWS_LAMBDA_FUNCTION_NAME,
          }),
        }),
      )
      .merge(detectResources({ detectors: [envDetector] })),
    spanProcessors: [processor],
  });
  const tracer = provider.getTracer("hookline");

  return {
    span(name, request, work) {
      const parent = request.parent
        ? propagator.extract(ROOT_CONTEXT, request.parent, defaultTextMapGetter)
        : context.active();
      const spanOptions = {
        kind: KINDS[request.kind],
        ...(request.attributes && { attributes: request.attributes }),
      };
      return tracer.startActiveSpan(name, spanOptions, parent, async (span) => {
        try {
          return await work({
            set: (attributes) => span.setAttributes(attributes),
            fail: (reason) => span.setStatus({ code: SpanStatusCode.ERROR, message: reason }),
          });
        } catch (error) {
          // Name and message only: a stack says nothing a trace viewer needs.
          const { name, message } = error instanceof Error ? error : new Error(String(error));
          span.recordException({ name, message });
          span.setStatus({ code: SpanStatusCode.ERROR, message: name });
          throw error;
        } finally {
          span.end();
        }
      });
    },
    carrier() {
      const carrier: TraceCarrier = {};
      propagator.inject(context.active(), carrier, defaultTextMapSetter);
      return carrier;
    },
    // An export that fails is the exporter's to report (OTel's diag); it never fails the event.
    flush: () => provider.forceFlush().catch(() => {}),
    shutdown: () => provider.shutdown().catch(() => {}),
  };
}

/**
 * The exporter the standard variables ask for: OTEL_TRACES_EXPORTER `otlp` (OTLP over HTTP with
 * JSON, to OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, read by the
 * exporter itself with OTEL_EXPORTER_OTLP_HEADERS and OTEL_EXPORTER_OTLP_TIMEOUT), `console`, or
 * `none` (undefined). Unset: `fallback`.
 */
export async function exporterFromEnvironment(
  env: Readonly<Record<string, string | undefined>>,
  fallback: "otlp" | "console" = "otlp",
): Promise<SpanExporter | undefined> {
  const name = env.OTEL_TRACES_EXPORTER?.trim() || fallback;
  if (name === "none") return undefined;
  if (name === "console") return new ConsoleSpanExporter();
  if (name === "otlp") {
    const { OTLPTraceExporter } = await import("@opentelemetry/exporter-trace-otlp-http");
    return new OTLPTraceExporter();
  }
  throw new Error(`OTEL_TRACES_EXPORTER: "${name}" is not one of otlp, console, none`);
}
