import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";

/** One HTTP request as hookline's Bitrix24 clients make it: JSON out, text back. */
export interface HttpRequest {
  method: "GET" | "POST";
  headers: Record<string, string>;
  body?: string;
}

/** The answer: its status, its `location` (a moved portal), its body as text. */
export interface HttpAnswer {
  status: number;
  location: string | undefined;
  text: string;
}

/**
 * Sends one request and reads its whole answer. Throws for a failure without an answer: the
 * error's own `code` says how (`ECONNREFUSED`: nothing went out; `ECONNRESET`: it may have), and
 * an aborted `signal` ends it at once. Injected where a test plays the server (the ledger world).
 */
export type HttpExchange = (
  url: URL,
  request: HttpRequest,
  signal: AbortSignal,
) => Promise<HttpAnswer>;

/**
 * Every request names its client, as `fetch` did (`node`): a proxy or firewall in front of a
 * portal may refuse a request without one.
 */
export const USER_AGENT = "hookline";

/** A Bitrix24 answer is a few KiB (a `batch` of 50 well under 100): more is not an answer. */
export const MAX_ANSWER_BYTES = 8 * 1024 * 1024;

/**
 * {@link HttpExchange} over `node:http`/`node:https` (keep-alive through the global agents). Not
 * `fetch`: Node loads its undici on the first call, some 20 ms of a deliver cold start that the
 * AWS SDK, already on `node:https`, does not need (docs/development.md, "Dependencies and why
 * each is there").
 */
export const nodeHttpExchange: HttpExchange = (url, request, signal) =>
  new Promise((resolve, reject) => {
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    const body = request.body;
    const headers = {
      "user-agent": USER_AGENT,
      ...request.headers,
      ...(body !== undefined && { "content-length": String(Buffer.byteLength(body)) }),
    };
    const outgoing = send(url, { method: request.method, headers, signal }, (incoming) => {
      const chunks: Buffer[] = [];
      let bytes = 0;
      incoming.on("data", (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes > MAX_ANSWER_BYTES) {
          incoming.destroy(
            Object.assign(new Error("answer too large"), { code: "ERR_ANSWER_TOO_LARGE" }),
          );
          return;
        }
        chunks.push(chunk);
      });
      incoming.on("error", reject);
      // A connection cut while the answer was coming: no whole answer, and the request went out.
      incoming.on("close", () => {
        if (!incoming.complete) {
          reject(Object.assign(new Error("answer cut short"), { code: "ECONNRESET" }));
        }
      });
      incoming.on("end", () => {
        const location = incoming.headers.location;
        resolve({
          status: incoming.statusCode ?? 0,
          location,
          // UTF-8 without a leading byte order mark, as fetch's `text()` decodes.
          text: new TextDecoder().decode(Buffer.concat(chunks)),
        });
      });
    });
    outgoing.on("error", reject);
    // A 101 answer: without this listener node:http drops the socket with no error, and nothing
    // (not even the signal) would settle the promise. The request went out.
    outgoing.on("upgrade", (_incoming, socket) => {
      socket.destroy();
      reject(Object.assign(new Error("unexpected upgrade"), { code: "ERR_UNEXPECTED_UPGRADE" }));
    });
    outgoing.end(body);
  });
