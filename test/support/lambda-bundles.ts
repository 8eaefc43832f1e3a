import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { apiGatewayEvent } from "../../functions/local/http-server";
import { githubExamples, type SignedRequest } from "./signers";

/**
 * Node's own `import()`, bypassing Vitest's module runner (which would transform a `.mjs` outside
 * node_modules): a bundle must load exactly as Lambda loads it. Vitest hands `data:` modules to
 * Node untouched, and their `import()` is Node's.
 */
const NATIVE_LOADER = "data:text/javascript,export default (url) => import(url);";

export async function nativeImport(file: string): Promise<Record<string, unknown>> {
  const loader = (await import(/* @vite-ignore */ NATIVE_LOADER)) as {
    default: (url: string) => Promise<Record<string, unknown>>;
  };
  return loader.default(pathToFileURL(file).href);
}

/**
 * Points a bundled function's AWS clients at local servers, as the process environment of a test
 * that loads bundles: removes what the machine's own AWS setup could steer them with, and sets
 * the region, dummy credentials, the endpoints and files that do not exist.
 */
export function useLocalAws(
  workDir: string,
  endpoints: { dynamodb: string; sqs: string },
  more: Record<string, string> = {},
): void {
  for (const name of [
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "HOOKLINE_SECRETS",
    "HOOKLINE_SECRET_PREFIX",
  ]) {
    delete process.env[name];
  }
  Object.assign(process.env, {
    AWS_REGION: "us-east-1",
    AWS_ACCESS_KEY_ID: "local",
    AWS_SECRET_ACCESS_KEY: "local",
    // No shared config or credentials file of the machine may steer the clients.
    AWS_CONFIG_FILE: join(workDir, "no-aws-config"),
    AWS_SHARED_CREDENTIALS_FILE: join(workDir, "no-aws-credentials"),
    AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamodb,
    AWS_ENDPOINT_URL_SQS: endpoints.sqs,
    ...more,
  });
}

/** Puts the process environment back as `saved` had it (a copy taken before `useLocalAws`). */
export function restoreEnv(saved: Record<string, string | undefined>): void {
  for (const name of Object.keys(process.env)) {
    if (!(name in saved)) delete process.env[name];
  }
  Object.assign(process.env, saved);
}

/** The API Gateway event of a signed webhook to `/webhooks/{sourceId}`. */
export function webhookEvent(sourceId: string, request: SignedRequest): APIGatewayProxyEventV2 {
  return apiGatewayEvent({
    method: "POST",
    path: `/webhooks/${sourceId}`,
    headers: request.headers,
    body: Buffer.from(request.body),
  });
}

/**
 * GitHub's issues.opened example; with a `title`, a payload of its own (the same payload twice
 * is a duplicate by its content).
 */
export function issueOpened(title?: string): Record<string, unknown> {
  const example = githubExamples("issues", "opened")[0] as
    | { issue: Record<string, unknown> }
    | undefined;
  if (!example) throw new Error("no issues.opened example in @octokit/webhooks-examples");
  return title === undefined ? example : { ...example, issue: { ...example.issue, title } };
}
