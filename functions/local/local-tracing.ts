import { exporterFromEnvironment, makeOtelTracing } from "../adapters/otel-tracing";
import type { Tracing } from "../adapters/tracing-types";

/**
 * The local run's tracing (`npm start -- --trace`): the same spans as the Lambdas', exported
 * over OTLP in batches when an OTLP endpoint is set, else printed as each span ends;
 * OTEL_TRACES_EXPORTER, when set, decides (`none`: undefined). `where` says which, for the start
 * banner.
 */
export async function localTracing(
  env: Readonly<Record<string, string | undefined>>,
  serviceName: string,
): Promise<{ tracing: Tracing; where: string } | undefined> {
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT;
  const name = env.OTEL_TRACES_EXPORTER?.trim() || (endpoint ? "otlp" : "console");
  const exporter = await exporterFromEnvironment({ ...env, OTEL_TRACES_EXPORTER: name });
  if (!exporter) return undefined;
  const otlp = name === "otlp";
  return {
    tracing: makeOtelTracing({ exporter, batch: otlp, serviceName }),
    where: otlp
      ? `OTLP to ${endpointShown(endpoint ?? "http://localhost:4318")}`
      : "spans printed here as they end",
  };
}

/**
 * The endpoint for the terminal: its origin and path. Node's http sends a URL's user info as
 * basic auth, and a query may carry a key too: neither is printed.
 */
function endpointShown(endpoint: string): string {
  try {
    const url = new URL(endpoint);
    return `${url.origin}${url.pathname}`;
  } catch {
    return "an endpoint that is not a URL";
  }
}
