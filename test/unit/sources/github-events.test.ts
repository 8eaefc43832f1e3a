import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type { WebhookDefinition } from "@octokit/webhooks-examples";
import { describe, expect, it } from "vitest";
import { GITHUB_EVENT_KEYS, payloadFitsEvent } from "../../../functions/core/sources/github-events";

const resolve = createRequire(import.meta.url).resolve;
const definitions = JSON.parse(
  readFileSync(resolve("@octokit/webhooks-examples"), "utf8"),
) as WebhookDefinition[];
const examples = definitions.flatMap((definition) =>
  (definition.examples as Record<string, unknown>[]).map((payload) => ({
    event: definition.name,
    payload,
  })),
);

/** GitHub's webhook schemas as `@octokit/webhooks-types` declares them (read by this test only). */
const schema = readFileSync(resolve("@octokit/webhooks-types/schema.d.ts"), "utf8");
const payloadTypes = new Map(
  [
    ...(/export interface EventPayloadMap \{([\s\S]*?)\n\}/
      .exec(schema)?.[1]
      ?.matchAll(/^\s+(\w+): (\w+);/gm) ?? []),
  ].map((match) => [match[1] ?? "", match[2] ?? ""]),
);
/** The interfaces of an event's payload: a union's members, or the interface itself. */
function interfaces(type: string): string[] {
  const union = new RegExp(`\\nexport type ${type} =([^;]+);`).exec(schema);
  if (!union) return [type];
  return [...(union[1] ?? "").matchAll(/\b([A-Z]\w*)\b/g)].flatMap((m) => interfaces(m[1] ?? ""));
}
function requiredTopLevelKeys(name: string): Set<string> {
  const body = new RegExp(`export interface ${name} \\{\\n([\\s\\S]*?)\\n\\}`).exec(schema)?.[1];
  if (body === undefined) throw new Error(`no interface ${name} in the schema`);
  return new Set([...body.matchAll(/^ {2}(\w+): /gm)].map((match) => match[1] ?? ""));
}

describe("the objects each GitHub event carries", () => {
  it("lists only keys that GitHub's schemas require in every payload of that event", () => {
    expect(payloadTypes.size).toBeGreaterThan(50);
    const optional: string[] = [];
    for (const [event, keys] of Object.entries(GITHUB_EVENT_KEYS)) {
      const type = payloadTypes.get(event);
      expect(type, event).toBeDefined();
      for (const name of interfaces(type ?? "")) {
        const required = requiredTopLevelKeys(name);
        optional.push(...keys.filter((key) => !required.has(key)).map((key) => `${name}.${key}`));
      }
    }
    expect(optional).toEqual([]);
  });

  it("accepts every real example under its own event name", () => {
    expect(examples.length).toBeGreaterThan(300);
    const refused = examples.filter(({ event, payload }) => !payloadFitsEvent(event, payload));
    expect(refused.map(({ event }) => event)).toEqual([]);
  });

  it.each([
    ["push", "issues"],
    ["push", "pull_request"],
    ["watch", "issues"],
    ["issue_comment", "issues"],
    ["pull_request_review", "pull_request"],
    ["pull_request_review_comment", "pull_request"],
    ["issues", "issue_comment"],
    ["create", "delete"],
    ["star", "release"],
  ])("refuses every real %s payload relabelled as %s", (from, to) => {
    const payloads = examples.filter(({ event }) => event === from);
    expect(payloads.length).toBeGreaterThan(0);
    for (const { payload } of payloads) expect(payloadFitsEvent(to, payload)).toBe(false);
  });

  it("refuses most relabellings of real examples to a listed event", () => {
    const listed = Object.keys(GITHUB_EVENT_KEYS);
    let relabelled = 0;
    let accepted = 0;
    for (const { event, payload } of examples) {
      for (const other of listed.filter((name) => name !== event)) {
        relabelled += 1;
        if (payloadFitsEvent(other, payload)) accepted += 1;
      }
    }
    // Measured: 329 examples, 16,484 relabellings, 50 accepted (0.3 %): events whose objects
    // another event carries too, e.g. `label` on an `issues.labeled` body, `team` and `team_add`.
    expect(accepted / relabelled).toBeLessThan(0.01);
  });
});
