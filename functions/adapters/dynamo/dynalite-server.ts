import type { AddressInfo } from "node:net";
import dynalite from "dynalite";

/** A running DynamoDB-protocol server and how to stop it. */
export interface LocalDynamo {
  /** e.g. `http://127.0.0.1:45123` */
  endpoint: string;
  close(): Promise<void>;
}

/**
 * Starts dynalite, an in-process DynamoDB-compatible server, in memory on 127.0.0.1. Port 0 (the
 * default) picks a free port. Tables become ACTIVE at once.
 *
 * @example const dynamo = await startDynalite();
 * const client = new DynamoDBClient({ endpoint: dynamo.endpoint, region: "local" });
 * await dynamo.close();
 */
export async function startDynalite(options: { port?: number } = {}): Promise<LocalDynamo> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        // Keep-alive sockets from SDK clients would otherwise hold the close open.
        server.closeAllConnections();
      }),
  };
}
