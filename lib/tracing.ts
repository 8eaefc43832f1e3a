import { TRACING_VARIABLE } from "../functions/adapters/tracing";
import { ConfigError } from "../functions/core/errors";
import { METRICS_SERVICE } from "../functions/core/metrics";

/**
 * OpenTelemetry tracing of a deployed stack (context `tracing=true`, docs/tracing.md): the
 * functions load the SDK and export OTLP/HTTP as the standard `OTEL_*` variables say.
 */
export interface TracingSettings {
  /**
   * The OTLP/HTTP endpoint (context `otlpEndpoint`), e.g. a collector's
   * `https://otel.example.com:4318`. @default DEFAULT_OTLP_ENDPOINT
   */
  readonly otlpEndpoint?: string | undefined;
}

/**
 * OTLP/HTTP's own default: a collector running as a Lambda extension (a layer the operator adds,
 * e.g. the OpenTelemetry collector layer) listens here.
 */
export const DEFAULT_OTLP_ENDPOINT = "http://localhost:4318";

/**
 * How long one export may take. Each invocation exports its spans before it returns, so a
 * collector that hangs costs an invocation at most this long (the SDK's default is 10 s).
 */
export const OTLP_TIMEOUT_MS = 2000;

/**
 * The environment a function gets with tracing on; without it, nothing (and the SDK is never
 * loaded). `HOOKLINE_TRACING` turns it on; the rest are the SDK's standard variables.
 *
 * @example new HooklineFunction(this, "Ingest", { ..., environment: tracingEnvironment({}) });
 */
export function tracingEnvironment(settings: TracingSettings): Record<string, string> {
  return {
    [TRACING_VARIABLE]: "true",
    OTEL_SERVICE_NAME: METRICS_SERVICE,
    OTEL_TRACES_EXPORTER: "otlp",
    OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
    OTEL_EXPORTER_OTLP_ENDPOINT: settings.otlpEndpoint ?? DEFAULT_OTLP_ENDPOINT,
    OTEL_EXPORTER_OTLP_TIMEOUT: String(OTLP_TIMEOUT_MS),
  };
}

/**
 * An `otlpEndpoint` context value, checked: an http(s) URL without credentials, query or
 * fragment (it is written into the template in clear; a collector's API key belongs in the
 * collector's own configuration).
 */
export function checkOtlpEndpoint(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    // Not quoted: a value that is no URL may still hold a key.
    throw new ConfigError("-c otlpEndpoint: is not a URL (an http(s) URL of the collector)");
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new ConfigError("-c otlpEndpoint: must be an http(s) URL");
  }
  if (url.username || url.password || url.search || url.hash) {
    throw new ConfigError(
      "-c otlpEndpoint: no credentials, query or fragment: the value is stored in the template in clear",
    );
  }
  return value;
}
