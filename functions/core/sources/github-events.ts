/**
 * Which objects a GitHub payload carries for each event name, so that a signed body cannot be
 * relabelled under another `X-GitHub-Event` (the header is unsigned). An `ignored` delivery
 * records nothing (a write per ignored webhook would cost more than the rest of ingest), so this
 * check, which needs no write, is what refuses a relabelled one (docs/security.md).
 *
 * Each key is required at the top level of every payload of that event in GitHub's webhook
 * schemas (`@octokit/webhooks-types`); test/unit/sources/github-events.test.ts checks that against
 * the schemas and every example in `@octokit/webhooks-examples`. Events that carry no object of
 * their own (`watch`, `public`, `repository`, `installation`, ...) are not listed and not checked.
 */
export const GITHUB_EVENT_KEYS: Readonly<Record<string, readonly string[]>> = {
  branch_protection_rule: ["rule"],
  check_run: ["check_run"],
  check_suite: ["check_suite"],
  code_scanning_alert: ["alert", "commit_oid"],
  commit_comment: ["comment"],
  create: ["master_branch", "pusher_type", "ref", "ref_type"],
  delete: ["pusher_type", "ref", "ref_type"],
  dependabot_alert: ["alert"],
  deploy_key: ["key"],
  deployment: ["deployment"],
  deployment_status: ["deployment", "deployment_status"],
  discussion: ["discussion"],
  discussion_comment: ["comment", "discussion"],
  fork: ["forkee"],
  gollum: ["pages"],
  installation_repositories: ["repositories_added", "repositories_removed"],
  issue_comment: ["comment", "issue"],
  issues: ["issue"],
  label: ["label"],
  marketplace_purchase: ["marketplace_purchase"],
  member: ["member"],
  membership: ["member", "scope"],
  merge_group: ["merge_group"],
  meta: ["hook", "hook_id"],
  milestone: ["milestone"],
  org_block: ["blocked_user"],
  package: ["package"],
  page_build: ["build"],
  ping: ["hook_id", "zen"],
  project: ["project"],
  project_card: ["project_card"],
  project_column: ["project_column"],
  projects_v2_item: ["projects_v2_item"],
  pull_request: ["number", "pull_request"],
  pull_request_review: ["pull_request", "review"],
  pull_request_review_comment: ["comment", "pull_request"],
  pull_request_review_thread: ["pull_request", "thread"],
  push: ["commits", "pusher", "ref"],
  release: ["release"],
  repository_dispatch: ["branch", "client_payload"],
  repository_import: ["status"],
  repository_vulnerability_alert: ["alert"],
  security_advisory: ["security_advisory"],
  sponsorship: ["sponsorship"],
  star: ["starred_at"],
  status: ["commit", "context", "sha", "state"],
  team: ["team"],
  team_add: ["team"],
  workflow_dispatch: ["inputs", "ref", "workflow"],
  workflow_job: ["workflow_job"],
  workflow_run: ["workflow", "workflow_run"],
};

const carries = (payload: Record<string, unknown>, keys: readonly string[]): boolean =>
  keys.every((key) => Object.hasOwn(payload, key));

/** For each event, the listed events whose keys strictly include its own (`issue_comment` for `issues`). */
const moreSpecific: ReadonlyMap<string, readonly (readonly string[])[]> = new Map(
  Object.entries(GITHUB_EVENT_KEYS).map(([event, keys]) => [
    event,
    Object.values(GITHUB_EVENT_KEYS).filter(
      (other) => other.length > keys.length && keys.every((key) => other.includes(key)),
    ),
  ]),
);

/**
 * Whether a payload can be the event its `X-GitHub-Event` names: it carries that event's objects,
 * and no more specific event fits it better (an `issue_comment` body carries `issue` too, but is
 * not an `issues` event). Pure; true for events the table does not list.
 *
 * @example
 * payloadFitsEvent("issues", { action: "opened", issue: {} }) // true
 * payloadFitsEvent("issues", { ref: "refs/heads/main", commits: [] }) // false
 */
export function payloadFitsEvent(event: string, payload: Record<string, unknown>): boolean {
  const keys = Object.hasOwn(GITHUB_EVENT_KEYS, event) ? GITHUB_EVENT_KEYS[event] : undefined;
  if (keys === undefined) return true;
  if (!carries(payload, keys)) return false;
  return !(moreSpecific.get(event) ?? []).some((other) => carries(payload, other));
}
