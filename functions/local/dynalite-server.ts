import { randomBytes, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import dynalite from "dynalite";

/** A running DynamoDB-protocol server and how to stop it. */
export interface LocalDynamo {
  /** e.g. `http://127.0.0.1:45123` */
  endpoint: string;
  /** The credentials a client must sign with (the access key id is what the server checks). */
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** The server's request listener, for a client in the same process (no socket in between). */
  requestListener?: (req: IncomingMessage, res: ServerResponse) => void;
  close(): Promise<void>;
}

/**
 * Starts dynalite, an in-process DynamoDB-compatible server, in memory on 127.0.0.1. Port 0 (the
 * default) picks a free port. Tables become ACTIVE at once.
 *
 * dynalite itself answers any origin (`Access-Control-Allow-Origin: *`) and checks no
 * credentials, so a web page could read and delete the local run's data, OAuth refresh tokens
 * included. In front of it: a request must be signed with this server's access key id (random
 * per run unless given), and any request that carries an `Origin` header (a browser's) or is not a
 * POST (a CORS preflight) is refused without CORS headers (docs/security.md).
 *
 * @example const dynamo = await startDynalite();
 * const client = new DynamoDBClient({ endpoint: dynamo.endpoint, region: "local", credentials: dynamo.credentials });
 * await dynamo.close();
 */
export async function startDynalite(
  options: { port?: number; credentials?: LocalDynamo["credentials"] } = {},
): Promise<LocalDynamo> {
  const credentials = options.credentials ?? {
    accessKeyId: `hookline-${randomBytes(16).toString("hex")}`,
    secretAccessKey: randomBytes(16).toString("hex"),
  };
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  const [serve] = server.listeners("request") as RequestListener[];
  if (!serve) throw new Error("dynalite has no request listener");
  server.removeAllListeners("request");
  server.on("request", (request: IncomingMessage, response: ServerResponse) => {
    if (isFromThisRun(request, credentials.accessKeyId)) {
      serve.call(server, request, response);
      return;
    }
    response.writeHead(403, { "content-type": "application/x-amz-json-1.0" });
    response.end(
      JSON.stringify({
        __type: "com.amazon.coral.service#UnrecognizedClientException",
        message: "refused: not signed with this local run's credentials, or sent by a web page",
      }),
    );
  });
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
    credentials,
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

const CREDENTIAL = /Credential=([^/,\s]+)\//;

/** A POST from an SDK client signed with `accessKeyId`, and nothing a browser sent. */
function isFromThisRun(request: IncomingMessage, accessKeyId: string): boolean {
  if (request.method !== "POST" || request.headers.origin !== undefined) return false;
  const given = CREDENTIAL.exec(request.headers.authorization ?? "")?.[1];
  if (given === undefined) return false;
  const expected = Buffer.from(accessKeyId);
  const actual = Buffer.from(given);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}
