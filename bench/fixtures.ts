import { type Config, parseConfig } from "../functions/core/config";
import { OPEN_LINE_CODE, TEST_SECRETS } from "../test/support/bridge";
import { githubExamples } from "../test/support/signers";

/** The secret the GitHub source signs with (an `env:` reference in the config). */
export const GITHUB_SECRET_ENV = "GITHUB_SECRET";
export const GITHUB_SECRET = TEST_SECRETS.GITHUB_SECRET;

/** The size the issue's budget names: the median of all @octokit/webhooks-examples payloads. */
const ISSUE_MEDIAN_BYTES = 7_700;

export interface GithubPayload {
  /** X-GitHub-Event. */
  event: string;
  action: string | undefined;
  payload: Record<string, unknown>;
  /** The body as sent: compact JSON, as GitHub sends it. */
  body: string;
}

function candidates(): GithubPayload[] {
  return ["issues", "pull_request", "push"].flatMap((event) =>
    githubExamples(event).map((payload) => ({
      event,
      action: typeof payload.action === "string" ? payload.action : undefined,
      payload,
      body: JSON.stringify(payload),
    })),
  );
}

/**
 * Two real GitHub payloads from issues/pull_request/push examples: the one closest to the issue's
 * ~7.7 KB figure, and the median-length one of those three events (larger: ~13 KB).
 */
export function benchPayloads(): { nearIssueFigure: GithubPayload; median: GithubPayload } {
  const all = candidates().sort((a, b) => a.body.length - b.body.length);
  const median = all[Math.floor((all.length - 1) / 2)];
  const nearIssueFigure = [...all].sort(
    (a, b) =>
      Math.abs(a.body.length - ISSUE_MEDIAN_BYTES) - Math.abs(b.body.length - ISSUE_MEDIAN_BYTES),
  )[0];
  if (!median || !nearIssueFigure) throw new Error("no @octokit/webhooks-examples payloads found");
  return { nearIssueFigure, median };
}

export const eventName = (p: GithubPayload): string =>
  p.action === undefined ? p.event : `${p.event}.${p.action}`;

/**
 * A realistic single-source config (as JSON, the way a config file holds it): one GitHub route
 * with a user lookup, a message template and a link button.
 */
export function benchConfigInput(events: string[], senderIds: readonly unknown[]) {
  return {
    bitrix: { openLineCode: OPEN_LINE_CODE },
    sources: [{ id: "github", type: "github", secret: `env:${GITHUB_SECRET_ENV}` }],
    routes: [
      {
        source: "github",
        events,
        userId: "{{ payload.sender.id | lookup: 'githubUsers' }}",
        message:
          "[b]{{ payload.repository.full_name }}[/b]: {{ event.name }} by {{ payload.sender.login }}",
        keyboard: [{ TEXT: "Open", LINK: "{{ payload.repository.html_url }}" }],
      },
    ],
    lookups: {
      githubUsers: Object.fromEntries(senderIds.map((id, index) => [String(id), index + 7])),
    },
  };
}

export function benchConfig(events: string[], senderIds: readonly unknown[]): Config {
  return parseConfig(benchConfigInput(events, senderIds), "bench config");
}

export function senderId(p: GithubPayload): unknown {
  const sender = p.payload.sender as { id?: unknown } | undefined;
  return sender?.id;
}
