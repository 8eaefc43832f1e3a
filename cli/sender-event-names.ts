import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { emitterEventNames } from "@octokit/webhooks";
import type { KnownEventNames } from "../functions/core/event-names";

/**
 * The senders' own lists, read once: GitHub's from `@octokit/webhooks` (generated from GitHub's
 * webhook schemas, `event` and `event.action`); Stripe's from the `stripe` package's
 * `Stripe.Event.Type`, which that package only ships as a TypeScript declaration.
 */
export function senderEventNames(): KnownEventNames {
  cached ??= { github: emitterEventNames, stripe: stripeEventTypes() };
  return cached;
}
let cached: KnownEventNames | undefined;

/** `Stripe.Event.Type` from the installed `stripe` package's declaration of its events. */
export function stripeEventTypes(): string[] {
  // The package's entry is `<root>/cjs/stripe.cjs.node.js`; its declarations sit beside it.
  const root = dirname(dirname(createRequire(import.meta.url).resolve("stripe")));
  const file = join(root, "esm", "resources", "Events.d.ts");
  const union = /namespace Event\s*\{[\s\S]*?type Type = ([^;]+);/.exec(readFileSync(file, "utf8"));
  const names = [...(union?.[1] ?? "").matchAll(/'([a-z0-9_.]+)'/g)].map((match) => match[1] ?? "");
  if (names.length === 0) throw new Error(`no Stripe.Event.Type in ${file}: has stripe moved it?`);
  return names;
}
