import type { Config, SourceConfig } from "../../functions/core/config";
import type { Output } from "../output";
import type { PayloadOrigin } from "../samples";
import { type SampleEvent, signEvent } from "../signing";

export interface SendReport {
  url: string;
  source: string;
  event: { name: string; id: string };
  payload: PayloadOrigin;
  /** The HTTP status of the answer, and its JSON body (or text, when it is not JSON). */
  status: number;
  answer: unknown;
}

export interface SendOptions {
  config: Config;
  source: SourceConfig;
  /** The source's signing secret, resolved as the server resolves it (see `signingSecret`). */
  secret: string;
  event: SampleEvent & { origin: PayloadOrigin };
  /** The bridge's base URL, e.g. http://127.0.0.1:3000 or a deployed API's URL. */
  baseUrl: string;
  fetch: typeof fetch;
  now: Date;
}

/**
 * `hookline send` (and the inbox's "send sample" button): signs the event as the source's sender
 * would and posts it to `<baseUrl>/webhooks/<source id>`; the answer is returned as it came.
 *
 * @example
 * await sendEvent({ config, source, secret, event: buildSample(config, source), baseUrl, fetch, now: new Date() })
 */
export async function sendEvent(options: SendOptions): Promise<SendReport> {
  const { source, event } = options;
  const request = await signEvent(source, options.secret, event, options.now);
  const url = `${options.baseUrl.replace(/\/+$/, "")}/webhooks/${encodeURIComponent(source.id)}`;
  const response = await options.fetch(url, {
    method: "POST",
    headers: request.headers,
    body: request.body,
    signal: AbortSignal.timeout(15_000),
  });
  const text = await response.text();
  let answer: unknown = text;
  try {
    answer = JSON.parse(text);
  } catch {
    // Not JSON (a proxy's error page): shown as text.
  }
  return {
    url,
    source: source.id,
    event: { name: event.name, id: event.id },
    payload: event.origin,
    status: response.status,
    answer,
  };
}

export function printSend(report: SendReport, output: Output): void {
  const { style } = output;
  const ok = report.status >= 200 && report.status < 300;
  const colour = ok ? style.green : style.red;
  output.line(
    `${style.bold(report.source)} ${report.event.name} ${style.dim(`id ${report.event.id}`)} (${report.payload} payload) -> POST ${report.url}`,
  );
  output.line(
    `${colour(String(report.status))} ${typeof report.answer === "string" ? report.answer : JSON.stringify(report.answer)}`,
  );
}
