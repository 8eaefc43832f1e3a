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
 * A generic HMAC source: its signature in `header` (hex SHA-256 unless `over` says otherwise), its
 * secret in `<ID>_SECRET`, the event's id and name from the body (`id`, `event`).
 *
 * @example hmacSource("timed", "x-signature", { timestampHeader: "x-timestamp" })
 */
export const hmacSource = (id: string, header: string, over: Record<string, unknown> = {}) => ({
  id,
  type: "hmac",
  secret: `env:${id.toUpperCase()}_SECRET`,
  header,
  eventId: { path: "id" },
  eventName: { path: "event" },
  ...over,
});

/** The generic HMAC source `shop`: `sha256=` and a hex SHA-256 in `x-shop-signature`. */
export const shopSource = (over: Record<string, unknown> = {}) =>
  hmacSource("shop", "x-shop-signature", { prefix: "sha256=", ...over });

/** The open line every single-portal test config names. */
export const TEST_OPEN_LINE = "ab515f5d85a8b844d484f6ea75a2e494";

/** The OAuth app's settings of the `eu` test portal: EU_ID, EU_SECRET and EU_REFRESH. */
export const EU_OAUTH = {
  clientId: "env:EU_ID",
  clientSecret: "env:EU_SECRET",
  refreshToken: "env:EU_REFRESH",
};
