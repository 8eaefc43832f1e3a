import type { Config, SourceConfig } from "../functions/core/config";
import type { PayloadOrigin } from "./samples";
import { type SampleEvent, signEvent } from "./signing";

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
  const answer = await answerOf(response);
  return {
    url,
    source: source.id,
    event: { name: event.name, id: event.id },
    payload: event.origin,
    status: response.status,
    answer,
  };
}

/** An answer's JSON body, or its text when it is not JSON (a proxy's error page). */
export async function answerOf(response: Response): Promise<unknown> {
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
