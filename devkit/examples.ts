import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type { WebhookDefinition } from "@octokit/webhooks-examples";
import type { SourceConfig } from "../functions/core/config";

/**
 * Sample payloads for `hookline render --example`, `hookline send` and the inbox:
 * - GitHub: the real payloads GitHub documents, from `@octokit/webhooks-examples`;
 * - Stripe: `examples/stripe-events.json`, events of the common types shaped as Stripe's API
 *   reference shows them (trimmed; customer `cus_local_demo`, which the example config maps to
 *   Bitrix24 user 1).
 * Standard Webhooks and generic HMAC senders have no common payloads: see `samples.ts`.
 */

type Payload = Record<string, unknown>;

const requireFrom = createRequire(import.meta.url);
let githubDefinitions: WebhookDefinition[] | undefined;
let stripeEvents: Record<string, Payload> | undefined;

function github(): WebhookDefinition[] {
  githubDefinitions ??= JSON.parse(
    readFileSync(requireFrom.resolve("@octokit/webhooks-examples"), "utf8"),
  ) as WebhookDefinition[];
  return githubDefinitions;
}

function stripe(): Record<string, Payload> {
  stripeEvents ??= JSON.parse(
    readFileSync(new URL("./examples/stripe-events.json", import.meta.url), "utf8"),
  ) as Record<string, Payload>;
  return stripeEvents;
}

/** Real GitHub payloads of one event, e.g. `githubExamples("issues", "opened")`. */
export function githubExamples(event: string, action?: string): Payload[] {
  const examples = (github().find((definition) => definition.name === event)?.examples ??
    []) as Payload[];
  return action ? examples.filter((example) => example.action === action) : examples;
}

/**
 * The example payload for an event name as routes see it (`issues.opened`, `push`,
 * `invoice.payment_failed`), a fresh copy; undefined when there is none.
 */
export function examplePayload(type: SourceConfig["type"], eventName: string): Payload | undefined {
  if (type === "github") {
    const [event = "", action] = splitGithubName(eventName);
    const [first] = githubExamples(event, action).filter(
      // `push` and other action-less events: examples without an action.
      (example) => action !== undefined || example.action === undefined,
    );
    return first && structuredClone(first);
  }
  if (type === "stripe") {
    const event = stripe()[eventName];
    return event && structuredClone(event);
  }
  return undefined;
}

/** Every event name with an example, for help texts and "did you mean". */
export function exampleNames(type: SourceConfig["type"]): string[] {
  if (type === "stripe") return Object.keys(stripe());
  if (type !== "github") return [];
  const names = new Set<string>();
  for (const definition of github()) {
    for (const example of definition.examples as Payload[]) {
      names.add(
        typeof example.action === "string"
          ? `${definition.name}.${example.action}`
          : definition.name,
      );
    }
  }
  return [...names].sort();
}

/** `issues.opened` -> [`issues`, `opened`]; `push` -> [`push`, undefined]. */
export function splitGithubName(name: string): [string, string | undefined] {
  const dot = name.indexOf(".");
  return dot < 0 ? [name, undefined] : [name.slice(0, dot), name.slice(dot + 1)];
}
