import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type { WebhookDefinition } from "@octokit/webhooks-examples";
import { sign } from "@octokit/webhooks-methods";
import { type Config, parseConfig } from "../functions/core/config";

/** The secret the GitHub source signs with (an `env:` reference in the config). */
export const GITHUB_SECRET_ENV = "GITHUB_SECRET";
export const GITHUB_SECRET = "bench-github-secret";
export const OPEN_LINE_CODE = "ab515f5d85a8b844d484f6ea75a2e494";

export interface GithubPayload {
  /** X-GitHub-Event. */
  event: string;
  action: string | undefined;
  payload: Record<string, unknown>;
  /** The body as sent: compact JSON, as GitHub sends it. */
  body: string;
}

/**
 * Every payload of `@octokit/webhooks-examples` (api.github.com: 329 of 58 events), smallest
 * first. The budgets are stated over exactly this set.
 */
export function allGithubPayloads(indexFile = githubExamplesFile()): GithubPayload[] {
  const definitions = JSON.parse(readFileSync(indexFile, "utf8")) as WebhookDefinition[];
  return definitions
    .flatMap((definition) =>
      (definition.examples as Record<string, unknown>[]).map((payload) => ({
        event: definition.name,
        action: typeof payload.action === "string" ? payload.action : undefined,
        payload,
        body: JSON.stringify(payload),
      })),
    )
    .sort((a, b) => a.body.length - b.body.length);
}

/** Where `@octokit/webhooks-examples` keeps them (a bundled worker is told this path). */
export const githubExamplesFile = (): string =>
  createRequire(import.meta.url).resolve("@octokit/webhooks-examples");

/** GitHub's headers for `body`, signed with GitHub's own helper (`@octokit/webhooks-methods`). */
export async function githubHeaders(
  sample: Pick<GithubPayload, "event" | "body">,
  delivery: string,
): Promise<Record<string, string>> {
  return {
    "content-type": "application/json",
    "x-github-event": sample.event,
    "x-github-delivery": delivery,
    "x-hub-signature-256": await sign(GITHUB_SECRET, sample.body),
  };
}

export const eventName = (p: GithubPayload): string =>
  p.action === undefined ? p.event : `${p.event}.${p.action}`;

/**
 * A realistic single-source config (as JSON, the way a config file holds it): one GitHub route
 * with a user lookup, a message template and a link button. `events` defaults to every event.
 */
export function benchConfigInput(senderIds: readonly unknown[], events = ["*"]) {
  return {
    bitrix: {
      openLineCode: OPEN_LINE_CODE,
      webhookUrl: "env:BITRIX_WEBHOOK_URL",
      // Far above what the bench sends: no run may wait for the limiter.
      rateLimit: { perSecond: 100, burst: 1000 },
    },
    sources: [{ id: "github", type: "github", secret: `env:${GITHUB_SECRET_ENV}` }],
    routes: [
      {
        source: "github",
        events,
        userId: "{{ payload.sender.id | lookup: 'githubUsers' }}",
        message:
          "[b]{{ payload.repository.full_name }}[/b]: {{ event.name }} by {{ payload.sender.login }}",
        keyboard: [{ TEXT: "Open", LINK: "{{ payload.sender.html_url }}" }],
      },
    ],
    lookups: {
      githubUsers: Object.fromEntries(senderIds.map((id, index) => [String(id), index + 7])),
    },
  };
}

export function benchConfig(senderIds: readonly unknown[]): Config {
  return parseConfig(benchConfigInput(senderIds), "bench config");
}

export function senderId(p: GithubPayload): unknown {
  const sender = p.payload.sender as { id?: unknown } | undefined;
  return sender?.id;
}
