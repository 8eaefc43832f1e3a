import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type { WebhookDefinition } from "@octokit/webhooks-examples";
import { sign } from "@octokit/webhooks-methods";
import { Webhook } from "standardwebhooks";
import Stripe from "stripe";

/** A webhook request as a sender would make it: headers and the exact body bytes. */
export interface SignedRequest {
  headers: Record<string, string>;
  body: string;
}

const examplesPath = createRequire(import.meta.url).resolve("@octokit/webhooks-examples");
const definitions = JSON.parse(readFileSync(examplesPath, "utf8")) as WebhookDefinition[];

/** Real GitHub payloads of one event, e.g. `githubExamples("issues", "opened")`. */
export function githubExamples(event: string, action?: string): Record<string, unknown>[] {
  const examples = (definitions.find((definition) => definition.name === event)?.examples ??
    []) as Record<string, unknown>[];
  return action ? examples.filter((example) => example.action === action) : examples;
}

/** Signed with GitHub's own helper, `@octokit/webhooks-methods`. */
export async function githubRequest(
  secret: string,
  event: string,
  payload: unknown,
  delivery: string = randomUUID(),
): Promise<SignedRequest> {
  const body = JSON.stringify(payload);
  return {
    headers: {
      "content-type": "application/json",
      "x-github-event": event,
      "x-github-delivery": delivery,
      "x-hub-signature-256": await sign(secret, body),
    },
    body,
  };
}

/** Signed with the `stripe` package's test header helper. */
export function stripeRequest(
  secret: string,
  payload: unknown,
  timestamp = Math.floor(Date.now() / 1000),
): SignedRequest {
  const body = JSON.stringify(payload);
  const signature = Stripe.webhooks.generateTestHeaderString({ payload: body, secret, timestamp });
  return { headers: { "content-type": "application/json", "stripe-signature": signature }, body };
}

/** Signed with the `standardwebhooks` package. */
export function standardWebhookRequest(
  secret: string,
  payload: unknown,
  id: string = `msg_${randomUUID()}`,
  at: Date = new Date(),
): SignedRequest {
  const body = JSON.stringify(payload);
  const signature = new Webhook(secret).sign(id, at, body);
  return {
    headers: {
      "content-type": "application/json",
      "webhook-id": id,
      "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
      "webhook-signature": signature,
    },
    body,
  };
}

/** A Stripe invoice.payment_failed event, trimmed to what routes read. */
export function stripeInvoiceFailed(customer: string, amountDue: number, currency = "usd") {
  return {
    id: `evt_${randomUUID().replaceAll("-", "")}`,
    object: "event",
    type: "invoice.payment_failed",
    created: 1_764_000_000,
    data: {
      object: {
        id: "in_1",
        object: "invoice",
        customer,
        amount_due: amountDue,
        currency,
        number: "INV-0001",
        hosted_invoice_url: "https://invoice.stripe.com/i/acct_1/test",
      },
    },
  };
}
