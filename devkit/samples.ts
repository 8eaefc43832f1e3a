import { randomBytes, randomUUID } from "node:crypto";
import type { Config, SourceConfig } from "../functions/core/config";
import { patternToRegExp } from "../functions/core/routes";
import { exampleNames, examplePayload, splitGithubName } from "./examples";
import { type SampleEvent, withValueAtPath } from "./signing";
import { routeTemplates, type VariablePath, variablesOf } from "./template-variables";

/**
 * The event `hookline send` and the inbox's "send sample" button send when told little: the
 * name defaults to the first event a route of the source listens to; the payload to the
 * sender's example for that name (GitHub, Stripe), else a placeholder payload holding what the
 * matching routes read. Every sample gets a fresh id, so sending twice is two events.
 */
export interface SampleOptions {
  eventName?: string;
  payload?: Record<string, unknown>;
  id?: string;
}

export type PayloadOrigin = "file" | "example" | "placeholder";

export function buildSample(
  config: Config,
  source: SourceConfig,
  options: SampleOptions = {},
): SampleEvent & { origin: PayloadOrigin } {
  const name = options.eventName ?? defaultEventName(config, source);
  const id = options.id ?? freshId(source.type);
  if (options.payload) return { payload: options.payload, name, id, origin: "file" };
  const example = examplePayload(source.type, name);
  if (example) return { payload: unique(source, example, id), name, id, origin: "example" };
  let placeholder = placeholderPayload(config, source.id, name);
  // GitHub names an event by its header and the payload's `action`: keep the two in step.
  const [, action] = splitGithubName(name);
  if (source.type === "github" && action !== undefined) placeholder = { ...placeholder, action };
  return { payload: unique(source, placeholder, id), name, id, origin: "placeholder" };
}

/**
 * Where the event id is not signed (GitHub's delivery header, an HMAC source's id header),
 * hookline also deduplicates on the signed bytes: a sample carries its id in the body too, so
 * sending the same example twice is two events, as a fresh id promises.
 */
function unique(
  source: SourceConfig,
  payload: Record<string, unknown>,
  id: string,
): Record<string, unknown> {
  const unsignedId =
    source.type === "github" || (source.type === "hmac" && "header" in source.eventId);
  return unsignedId ? { ...payload, hookline_sample: id } : payload;
}

/**
 * The first literal event a route of the source names; else an example a route's pattern
 * matches; else a common event of the sender.
 */
export function defaultEventName(config: Config, source: SourceConfig): string {
  const patterns = config.routes
    .filter((route) => route.source === source.id)
    .flatMap((route) => route.events);
  const literal = patterns.find((pattern) => !pattern.includes("*"));
  if (literal) return literal;
  const matchers = patterns.map(patternToRegExp);
  const example = exampleNames(source.type).find((name) => matchers.some((m) => m.test(name)));
  if (example) return example;
  return patterns[0]?.replaceAll("*", "sample") ?? UNROUTED_DEFAULT[source.type] ?? "sample";
}

/** For a source no route listens to yet: a common event of its sender. */
const UNROUTED_DEFAULT: Partial<Record<SourceConfig["type"], string>> = {
  github: "issues.opened",
  stripe: "invoice.payment_failed",
};

export function freshId(type: SourceConfig["type"]): string {
  switch (type) {
    case "stripe":
      return `evt_${randomBytes(12).toString("hex")}`;
    case "standard-webhooks":
      return `msg_${randomUUID()}`;
    default:
      return randomUUID();
  }
}

/**
 * A payload with a value at every `payload.…` path the matching routes read: the user id
 * template gets a user it can resolve (a key of the lookup table it uses, else 1), URLs get an
 * https address, amounts a number, currencies `usd`, the rest `sample <name>`.
 */
export function placeholderPayload(
  config: Config,
  sourceId: string,
  eventName: string,
): Record<string, unknown> {
  let payload: Record<string, unknown> = {};
  config.routes.forEach((route, index) => {
    if (route.source !== sourceId) return;
    if (!route.events.some((pattern) => patternToRegExp(pattern).test(eventName))) return;
    for (const template of routeTemplates(route, index)) {
      const isUserId = template.key.endsWith(".userId");
      for (const path of variablesOf(template.source)) {
        if (path[0] !== "payload" || path.length < 2) continue;
        const value = isUserId ? userIdFor(config, template.source) : placeholderFor(path);
        payload = setPath(payload, path.slice(1), value);
      }
    }
  });
  return payload;
}

function userIdFor(config: Config, template: string): string | number {
  const table = /lookup\s*:\s*["']([^"']+)["']/.exec(template)?.[1];
  const first = table === undefined ? undefined : Object.keys(config.lookups[table] ?? {})[0];
  return first ?? 1;
}

function placeholderFor(path: VariablePath): unknown {
  const last = String(path[path.length - 1]).toLowerCase();
  if (/url|link|href/.test(last)) return "https://example.com/";
  if (/amount|total|count|price|quantity/.test(last)) return 1234;
  if (last === "currency") return "usd";
  if (/created|timestamp|_at$|date|time/.test(last)) return Math.floor(Date.now() / 1000);
  return `sample ${String(path[path.length - 1])}`;
}

/** Sets a value at a path of names (numbers become object keys: a placeholder, not real data). */
function setPath(
  object: Record<string, unknown>,
  path: VariablePath,
  value: unknown,
): Record<string, unknown> {
  const existing = path.reduce<unknown>(
    (current, segment) =>
      typeof current === "object" && current !== null
        ? (current as Record<string, unknown>)[String(segment)]
        : undefined,
    object,
  );
  if (existing !== undefined) return object;
  return withValueAtPath(object, path.map(String).join("."), value);
}
