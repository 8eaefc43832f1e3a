import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import dynalite from "dynalite";

/** A running DynamoDB-protocol server and how to stop it. */
export interface LocalDynamo {
  /** e.g. `http://127.0.0.1:45123` */
  endpoint: string;
  /** The server's request listener, for a client in the same process (no socket in between). */
  requestListener?: (req: IncomingMessage, res: ServerResponse) => void;
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
  const [listener] = server.listeners("request") as NonNullable<LocalDynamo["requestListener"]>[];
  if (!listener) throw new Error("dynalite has no request listener");
  let closed = false;
  // Like a closed socket: a call after close fails at once instead of reaching a closed database.
  const requestListener: LocalDynamo["requestListener"] = (req, res) => {
    if (closed) throw new Error("the embedded DynamoDB server is closed");
    listener(req, res);
  };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requestListener,
    close: () =>
      new Promise<void>((resolve, reject) => {
        closed = true;
        server.close((error) => (error ? reject(error) : resolve()));
        // Keep-alive sockets from SDK clients would otherwise hold the close open.
        server.closeAllConnections();
      }),
  };
}
