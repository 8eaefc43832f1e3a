/**
 * Development values for the example config's secret references, used by `npm start` only when
 * the variable is unset, so the quickstart needs no setup. Never used on AWS.
 */
export const DEVELOPMENT_SECRETS: Readonly<Record<string, string>> = {
  GITHUB_WEBHOOK_SECRET: "dev-github-secret",
  STRIPE_WEBHOOK_SECRET: "whsec_dev_stripe",
  // Standard Webhooks secrets are base64 after the prefix: this is "dev-secret-1".
  APP_WEBHOOK_SECRET: "whsec_ZGV2LXNlY3JldC0x",
  SHOP_WEBHOOK_SECRET: "dev-shop-secret",
};

/** The `env:NAME` references a config uses, in order of appearance. */
export function envReferences(value: unknown): string[] {
  const names = new Set<string>();
  const visit = (node: unknown): void => {
    if (typeof node === "string" && node.startsWith("env:")) names.add(node.slice(4));
    else if (Array.isArray(node)) node.forEach(visit);
    else if (node && typeof node === "object") Object.values(node).forEach(visit);
  };
  visit(value);
  return [...names];
}
