import { createHmac, randomUUID } from "node:crypto";
import {
  type SignedRequest,
  signGithub,
  signStandardWebhook,
  signStripe,
} from "../../devkit/signing";

export { githubExamples } from "../../devkit/examples";
/**
 * Test fixtures signed with the senders' own tooling, through the one signing module the
 * `hookline` CLI uses too (devkit/signing.ts).
 */
export type { SignedRequest } from "../../devkit/signing";

/** Signed with GitHub's own helper, `@octokit/webhooks-methods`. */
export function githubRequest(
  secret: string,
  event: string,
  payload: unknown,
  delivery: string = randomUUID(),
): Promise<SignedRequest> {
  return signGithub(secret, event, JSON.stringify(payload), delivery);
}

/** Signed with the `stripe` package's test header helper. */
export function stripeRequest(
  secret: string,
  payload: unknown,
  timestamp = Math.floor(Date.now() / 1000),
): SignedRequest {
  return signStripe(secret, JSON.stringify(payload), timestamp);
}

/** Signed with the `standardwebhooks` package. */
export function standardWebhookRequest(
  secret: string,
  payload: unknown,
  id: string = `msg_${randomUUID()}`,
  at: Date = new Date(),
): SignedRequest {
  return signStandardWebhook(secret, JSON.stringify(payload), id, at);
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

/** The test config's `shop` source (generic HMAC): SHA-256 of the body, hex, `sha256=` prefix. */
export function shopRequest(secret: string, payload: unknown): SignedRequest {
  const body = JSON.stringify(payload);
  const signature = createHmac("sha256", secret).update(body).digest("hex");
  return {
    headers: { "content-type": "application/json", "x-shop-signature": `sha256=${signature}` },
    body,
  };
}
