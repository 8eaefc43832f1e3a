import { createHmac, randomUUID } from "node:crypto";
import { sign as githubSign } from "@octokit/webhooks-methods";
import { Webhook } from "standardwebhooks";
import Stripe from "stripe";
import type { SourceConfig } from "../functions/core/config";

/**
 * How each sender signs, in one place for the `hookline` CLI, the inbox's "send sample" button
 * and the tests: with the senders' own tooling where there is one (GitHub's
 * `@octokit/webhooks-methods`, the `stripe` package, `standardwebhooks`), and as the source's
 * config describes for generic HMAC senders. Never imported by the Lambdas.
 */

/** A webhook request as a sender would make it: headers and the exact body bytes. */
export interface SignedRequest {
  headers: Record<string, string>;
  body: string;
}

/** Signed with GitHub's own helper; `event` is the `X-GitHub-Event` header (`issues`). */
export async function signGithub(
  secret: string,
  event: string,
  body: string,
  delivery: string = randomUUID(),
): Promise<SignedRequest> {
  return {
    headers: {
      "content-type": "application/json",
      "x-github-event": event,
      "x-github-delivery": delivery,
      "x-hub-signature-256": await githubSign(secret, body),
    },
    body,
  };
}

/** Signed with the `stripe` package's test header helper. */
export function signStripe(
  secret: string,
  body: string,
  timestamp = Math.floor(Date.now() / 1000),
): SignedRequest {
  const signature = Stripe.webhooks.generateTestHeaderString({ payload: body, secret, timestamp });
  return { headers: { "content-type": "application/json", "stripe-signature": signature }, body };
}

/** Signed with the `standardwebhooks` package. */
export function signStandardWebhook(
  secret: string,
  body: string,
  id: string = `msg_${randomUUID()}`,
  at: Date = new Date(),
): SignedRequest {
  return {
    headers: {
      "content-type": "application/json",
      "webhook-id": id,
      "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
      "webhook-signature": new Webhook(secret).sign(id, at, body),
    },
    body,
  };
}

export type HmacSource = Extract<SourceConfig, { type: "hmac" }>;

/**
 * Signed as a generic HMAC sender configured like `source` does: HMAC of the body (after
 * `<timestamp>.` when the source has a timestamp header), encoded and prefixed as configured.
 * `headers` are sent too (an event id or name the source reads from a header).
 */
export function signHmac(
  source: Pick<HmacSource, "header" | "algorithm" | "encoding" | "prefix" | "timestampHeader">,
  secret: string,
  body: string,
  options: { at?: Date; headers?: Record<string, string> } = {},
): SignedRequest {
  const mac = createHmac(source.algorithm, secret);
  const headers: Record<string, string> = {
    "content-type": "application/json",
    ...options.headers,
  };
  if (source.timestampHeader !== undefined) {
    const timestamp = String(Math.floor((options.at ?? new Date()).getTime() / 1000));
    headers[source.timestampHeader] = timestamp;
    mac.update(`${timestamp}.`);
  }
  headers[source.header] = `${source.prefix}${mac.update(body).digest(source.encoding)}`;
  return { headers, body };
}

/** An event to sign: its payload, name and id, placed where the source type carries them. */
export interface SampleEvent {
  payload: Record<string, unknown>;
  name: string;
  id: string;
}

/**
 * Signs `event` as `source`'s sender would, with `secret` (the source's first resolved secret).
 * The id and name go where this source type reads them: GitHub's headers, Stripe's `id` and
 * `type`, the `webhook-id` header and `type`, or a generic source's configured header or path.
 *
 * @example
 * const request = await signEvent(source, "whsec_...", { payload, name: "invoice.paid", id: "evt_1" });
 * await fetch(`${url}/webhooks/${source.id}`, { method: "POST", ...request });
 */
export async function signEvent(
  source: SourceConfig,
  secret: string,
  event: SampleEvent,
  at: Date = new Date(),
): Promise<SignedRequest> {
  switch (source.type) {
    case "github": {
      const [header = event.name] = event.name.split(".", 1);
      return signGithub(secret, header, JSON.stringify(event.payload), event.id);
    }
    case "stripe": {
      const payload = { ...event.payload, id: event.id, type: event.name };
      return signStripe(secret, JSON.stringify(payload), Math.floor(at.getTime() / 1000));
    }
    case "standard-webhooks": {
      const payload = { ...event.payload, type: event.name };
      return signStandardWebhook(secret, JSON.stringify(payload), event.id, at);
    }
    case "hmac": {
      const headers: Record<string, string> = {};
      let payload = event.payload;
      for (const [locator, value] of [
        [source.eventId, event.id],
        [source.eventName, event.name],
      ] as const) {
        if ("header" in locator) headers[locator.header] = value;
        else payload = withValueAtPath(payload, locator.path, value);
      }
      return signHmac(source, secret, JSON.stringify(payload), { at, headers });
    }
  }
}

/** A copy of `object` with `value` at a dotted path, objects created on the way. */
export function withValueAtPath(
  object: Record<string, unknown>,
  path: string,
  value: unknown,
): Record<string, unknown> {
  const [head = "", ...rest] = path.split(".");
  const current = object[head];
  if (rest.length === 0) return { ...object, [head]: value };
  const child =
    typeof current === "object" && current !== null && !Array.isArray(current)
      ? (current as Record<string, unknown>)
      : {};
  return { ...object, [head]: withValueAtPath(child, rest.join("."), value) };
}
