import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { type LocalRunState, readRunState, runStatePath, TOKEN_HEADER } from "../devkit/run-state";
import { CliError } from "./errors";
import type { Io } from "./output";

/**
 * What the inspecting commands (`events`, `digests`, `slot`, `replay`) work against: the local
 * run, found through the state file `npm start` leaves, or a deployed stack, found through its
 * CloudFormation outputs. Both are read with the same AWS SDK code; only the endpoint differs.
 */
export interface Target {
  kind: "local" | "stack";
  /** For messages: `the local run at http://…` or `stack hookline-prod`. */
  label: string;
  dynamo: DynamoDBClient;
  tableName: string;
  /** The local run's base URL (its `/_local/` endpoints). */
  localUrl?: string;
  /** The local run's token, which its `/_local/` endpoints require. */
  localToken?: string;
  /** The deployed dead-letter queue (replay). */
  deadLetterQueueArn?: string;
  deadLetterQueueUrl?: string;
  /** The deployed delivery queue (replay of one event). */
  deliveryQueueUrl?: string;
  /** The deployed HTTP API's base URL (send). */
  apiUrl?: string;
  region?: string;
}

/** A stack's outputs by key (`TableName`, `DeadLetterQueueArn`, ...). */
export type StackOutputsReader = (
  stackName: string,
  region?: string,
) => Promise<Record<string, string>>;

export interface TargetOptions {
  stack?: string;
  region?: string;
}

/**
 * The target of a command: `--stack NAME` (the user's usual AWS credentials and region), else
 * the running local run.
 */
export async function resolveTarget(
  io: Io,
  options: TargetOptions,
  readOutputs: StackOutputsReader = cloudFormationOutputs,
): Promise<Target> {
  if (options.stack) {
    const region = options.region ?? io.env.AWS_REGION ?? io.env.AWS_DEFAULT_REGION;
    let outputs: Record<string, string>;
    try {
      outputs = await readOutputs(options.stack, region);
    } catch (error) {
      throw new CliError(`cannot read stack ${options.stack}: ${(error as Error).message}`);
    }
    const tableName = outputs.TableName;
    if (!tableName)
      throw new CliError(`stack ${options.stack} has no TableName output: is it a hookline stack?`);
    const deadLetterQueueArn = outputs.DeadLetterQueueArn;
    const apiUrl = outputs.HealthUrl?.replace(/\/health$/, "");
    const stackRegion = region ?? deadLetterQueueArn?.split(":")[3];
    return {
      kind: "stack",
      label: `stack ${options.stack}`,
      dynamo: new DynamoDBClient(stackRegion ? { region: stackRegion } : {}),
      tableName,
      ...(deadLetterQueueArn ? { deadLetterQueueArn } : {}),
      ...(outputs.DeadLetterQueueUrl ? { deadLetterQueueUrl: outputs.DeadLetterQueueUrl } : {}),
      ...(outputs.DeliveryQueueUrl ? { deliveryQueueUrl: outputs.DeliveryQueueUrl } : {}),
      ...(apiUrl ? { apiUrl } : {}),
      ...(stackRegion ? { region: stackRegion } : {}),
    };
  }
  const state = await verifiedLocalRun(io);
  if (!state) {
    throw new CliError(
      "no local run found (npm start leaves .hookline/local.json in its directory); start it, or pass --stack NAME",
    );
  }
  return {
    kind: "local",
    label: `the local run at ${state.url}`,
    dynamo: new DynamoDBClient({
      endpoint: state.dynamoEndpoint,
      region: "local",
      credentials: state.dynamoCredentials ?? { accessKeyId: "local", secretAccessKey: "local" },
    }),
    tableName: state.tableName,
    localUrl: state.url,
    ...(state.token ? { localToken: state.token } : {}),
  };
}

/**
 * The local run described by `.hookline/local.json`, once the file is shown to be true, else
 * undefined when there is none. A file planted in a repository could otherwise make `hookline
 * send` sign with real secrets and post anywhere (docs/security.md): its URLs must be loopback,
 * and the server there must know its token and be the process it names. A file that fails is a
 * CliError, never silently followed.
 */
export async function verifiedLocalRun(io: Io): Promise<LocalRunState | undefined> {
  const state = readRunState(io.cwd);
  if (!state) return undefined;
  const refuse = (why: string) =>
    new CliError(
      `${runStatePath(".")} ${why}: not followed (remove it if no npm start of yours runs here)`,
    );
  if (!isLoopbackUrl(state.url) || !isLoopbackUrl(state.dynamoEndpoint))
    throw refuse("points off this machine");
  if (typeof state.token !== "string" || state.token === "") throw refuse("has no run token");
  let pid: unknown;
  try {
    const response = await io.fetch(`${state.url}/_local/run`, {
      headers: { [TOKEN_HEADER]: state.token },
      signal: AbortSignal.timeout(5_000),
    });
    pid = response.ok ? ((await response.json()) as { pid?: unknown }).pid : undefined;
  } catch {
    pid = undefined;
  }
  if (pid !== state.pid) throw refuse(`does not match a local run at ${state.url}`);
  return state;
}

const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]"]);

/** `http://` to this machine's loopback, with no user info or path: a base URL of a local run. */
function isLoopbackUrl(value: unknown): boolean {
  if (typeof value !== "string") return false;
  try {
    const url = new URL(value);
    return (
      url.protocol === "http:" &&
      LOOPBACK_HOSTS.has(url.hostname) &&
      url.username === "" &&
      url.password === "" &&
      (url.pathname === "/" || url.pathname === "") &&
      url.search === "" &&
      url.hash === ""
    );
  } catch {
    return false;
  }
}

/** The CloudFormation outputs of a stack, with the SDK's default credentials. */
export const cloudFormationOutputs: StackOutputsReader = async (stackName, region) => {
  const { CloudFormationClient, DescribeStacksCommand } = await import(
    "@aws-sdk/client-cloudformation"
  );
  const client = new CloudFormationClient(region ? { region } : {});
  try {
    const { Stacks } = await client.send(new DescribeStacksCommand({ StackName: stackName }));
    const outputs: Record<string, string> = {};
    for (const output of Stacks?.[0]?.Outputs ?? [])
      if (output.OutputKey && output.OutputValue) outputs[output.OutputKey] = output.OutputValue;
    return outputs;
  } finally {
    client.destroy();
  }
};

/** Calls one of the local run's `/_local/` endpoints. */
export async function callLocal(
  io: Io,
  target: Target,
  method: "GET" | "POST",
  path: string,
): Promise<Record<string, unknown>> {
  if (!target.localUrl) throw new CliError(`${target.label} has no local endpoints`);
  let response: Response;
  try {
    response = await io.fetch(`${target.localUrl}${path}`, {
      method,
      headers: target.localToken ? { [TOKEN_HEADER]: target.localToken } : {},
      signal: AbortSignal.timeout(10_000),
    });
  } catch (error) {
    throw new CliError(`cannot reach ${target.label}: ${(error as Error).message}`);
  }
  const body = (await response.json().catch(() => ({}))) as Record<string, unknown>;
  if (!response.ok)
    throw new CliError(`${target.label} answered ${response.status}: ${JSON.stringify(body)}`);
  return body;
}
