import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { gunzipSync } from "node:zlib";

/**
 * An OpenTelemetry collector's OTLP/HTTP traces endpoint (`POST /v1/traces`, JSON) on 127.0.0.1
 * that keeps every span it receives, for tests of what hookline exports.
 */

/** A span as OTLP/JSON carries it, reduced to what the tests read. */
export interface OtlpSpan {
  name: string;
  kind: number;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  attributes: { key: string; value: Record<string, unknown> }[];
}

/** OTLP's span kinds (`Span.SpanKind`). */
export const SERVER = 2;
export const CLIENT = 3;
export const CONSUMER = 5;

export interface OtlpCollector {
  /** For OTEL_EXPORTER_OTLP_ENDPOINT: the exporter posts to `${endpoint}/v1/traces`. */
  endpoint: string;
  /** Every span received, in order. */
  spans: OtlpSpan[];
  close(): Promise<void>;
}

export async function startOtlpCollector(): Promise<OtlpCollector> {
  const spans: OtlpSpan[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const raw = Buffer.concat(chunks);
      const body = request.headers["content-encoding"] === "gzip" ? gunzipSync(raw) : raw;
      if (request.method === "POST" && request.url === "/v1/traces") {
        const payload = JSON.parse(body.toString("utf8")) as {
          resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[];
        };
        for (const resource of payload.resourceSpans) {
          for (const scope of resource.scopeSpans) spans.push(...scope.spans);
        }
      }
      response.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((ready) => server.listen(0, "127.0.0.1", ready));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    spans,
    close: () =>
      new Promise<void>((done) => {
        server.close(() => done());
        server.closeAllConnections();
      }),
  };
}

/** A span attribute's value, whatever its OTLP type (`stringValue`, `intValue`, …). */
export const attribute = (span: OtlpSpan | undefined, key: string): unknown => {
  const value = span?.attributes.find((entry) => entry.key === key)?.value;
  return value && Object.values(value)[0];
};

/**
 * The first span of each kind one delivery exports: ingest's (`server`), deliver's (`consumer`)
 * and the Bitrix24 call's (`client`).
 */
export const deliverySpans = (spans: readonly OtlpSpan[]) => ({
  server: spans.find((span) => span.kind === SERVER),
  consumer: spans.find((span) => span.kind === CONSUMER),
  client: spans.find((span) => span.kind === CLIENT),
});
