// Sends one signed Stripe invoice.payment_failed event to the local run, as Stripe would (README,
// "Stripe in 5 minutes"). It signs with the `stripe` package's own test helper.
//
//   node scripts/stripe-event.mjs                 a new event (a fresh id each run)
//   node scripts/stripe-event.mjs evt_demo_1      this id: run it twice and the second is a duplicate
//   node scripts/stripe-event.mjs evt_demo_2 customer.created   another type: ignored
//
// PORT (default 3000) is npm start's port; STRIPE_WEBHOOK_SECRET (default: the example config's
// development value) the secret. The customer, cus_walkthrough, is Bitrix24 user 3 in the
// example config: a user of its own, so the Quickstart's messages to user 1 do not defer it.
import Stripe from "stripe";

const [id = `evt_${Date.now()}`, type = "invoice.payment_failed"] = process.argv.slice(2);
const port = process.env.PORT ?? "3000";
const payload = JSON.stringify({
  id,
  object: "event",
  type,
  created: Math.floor(Date.now() / 1000),
  data: {
    object: {
      object: "invoice",
      customer: "cus_walkthrough",
      amount_due: 12000,
      currency: "eur",
      number: "INV-0042",
      hosted_invoice_url: "https://invoice.stripe.com/i/acct_demo/test",
    },
  },
});
const signature = Stripe.webhooks.generateTestHeaderString({
  payload,
  secret: process.env.STRIPE_WEBHOOK_SECRET ?? "whsec_dev_stripe",
});
const response = await fetch(`http://127.0.0.1:${port}/webhooks/stripe`, {
  method: "POST",
  headers: { "content-type": "application/json", "stripe-signature": signature },
  body: payload,
});
console.log(response.status, await response.json());
