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

/** A devkit signer over a payload instead of a body: the payload goes out as its JSON. */
const overJson =
  <Rest extends unknown[]>(sign: (secret: string, body: string, ...rest: Rest) => SignedRequest) =>
  (secret: string, payload: unknown, ...rest: Rest): SignedRequest =>
    sign(secret, JSON.stringify(payload), ...rest);

/** Signed with the `stripe` package's test header helper; `timestamp` in seconds (default now). */
export const stripeRequest = overJson(signStripe);

/** Signed with the `standardwebhooks` package; `id` and `at` default to a fresh id and now. */
export const standardWebhookRequest = overJson(signStandardWebhook);

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
