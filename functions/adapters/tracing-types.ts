/**
 * The tracing seam's types (docs/tracing.md), apart from `tracing.ts` so the OpenTelemetry
 * implementation it loads on demand can name them without importing it back.
 */

/** A W3C trace context (`traceparent`, maybe `tracestate`), as a queue message carries it. */
export type TraceCarrier = Record<string, string>;

export type SpanAttributes = Record<string, string | number | boolean>;

/** What the work inside a span may say about itself. */
export interface SpanNotes {
  set(attributes: SpanAttributes): void;
  /** The span's operation failed (a status, not a thrown error: those are recorded anyway). */
  fail(reason: string): void;
}

export interface SpanRequest {
  kind: "server" | "consumer" | "client" | "internal";
  attributes?: SpanAttributes;
  /** The context to continue (a queue message's); without it, the active span's, if any. */
  parent?: TraceCarrier;
}

export interface Tracing {
  /**
   * Runs `work` in a span, the active one while it runs (so spans started inside are its
   * children). A thrown error is recorded on the span and thrown again.
   *
   * @example
   * await tracing.span("deliver", { kind: "consumer", parent }, async (span) => { ... });
   */
  span<T>(name: string, request: SpanRequest, work: (span: SpanNotes) => Promise<T>): Promise<T>;
  /** The active span's context, for a message that continues it elsewhere; `{}` without one. */
  carrier(): TraceCarrier;
  /** Exports the spans ended so far: a Lambda calls it before its invocation returns. */
  flush(): Promise<void>;
  /** Flushes and stops (a local run that ends). */
  shutdown(): Promise<void>;
}
