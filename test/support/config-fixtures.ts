/**
 * Source entries the test configs share (before parsing). Secrets are `env:` references; a test
 * that signs with its own secrets passes them by source id and never reads these.
 */

/** One sender of each kind that has its own library: GitHub, Stripe, Standard Webhooks. */
export const SENDER_SOURCES = [
  { id: "github", type: "github", secret: "env:GITHUB_SECRET" },
  { id: "stripe", type: "stripe", secret: "env:STRIPE_SECRET" },
  { id: "app", type: "standard-webhooks", secret: "env:APP_SECRET" },
];

/**
 * The generic HMAC source `shop`: a hex SHA-256 after `sha256=` in `x-shop-signature`; the event's
 * id and name from the body (`id`, `event`) unless `over` says otherwise.
 */
export const shopSource = (over: Record<string, unknown> = {}) => ({
  id: "shop",
  type: "hmac",
  secret: "env:SHOP_SECRET",
  header: "x-shop-signature",
  prefix: "sha256=",
  eventId: { path: "id" },
  eventName: { path: "event" },
  ...over,
});

/** The open line every single-portal test config names. */
export const TEST_OPEN_LINE = "ab515f5d85a8b844d484f6ea75a2e494";

/** The OAuth app's settings of the `eu` test portal: EU_ID, EU_SECRET and EU_REFRESH. */
export const EU_OAUTH = {
  clientId: "env:EU_ID",
  clientSecret: "env:EU_SECRET",
  refreshToken: "env:EU_REFRESH",
};
