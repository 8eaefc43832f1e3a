import { EventEmitter } from "node:events";
import type { IncomingMessage, ServerResponse } from "node:http";
import { Readable } from "node:stream";

/**
 * The AWS SDK's transport for the local run's own DynamoDB client: each request goes straight
 * to the embedded dynalite's request listener in this process, with no socket, no HTTP parsing
 * on either side and no loopback write. The SDK still builds, signs and reads every call as it
 * would over the network, and dynalite still answers as the DynamoDB protocol says; only the
 * wire is gone. Under load the wire cost more than a third of the local run's CPU (see
 * bench/README.md, "The local run under load").
 */

/** What dynalite's `http.createServer` callback is. */
export type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

/** The parts of the SDK's `HttpRequest` this transport reads. */
interface SdkRequest {
  method: string;
  path: string;
  query?: Record<string, string | string[] | null>;
  headers: Record<string, string>;
  body?: unknown;
}

interface SdkResponse {
  statusCode: number;
  reason?: string;
  headers: Record<string, string>;
  body: Readable;
}

/**
 * A smithy `HttpHandler` over `listener`.
 *
 * @example new DynamoDBClient({ endpoint, region: "local", requestHandler: inProcessHandler(listener) })
 */
export function inProcessHandler(listener: RequestListener) {
  return {
    metadata: { handlerProtocol: "in-process" },
    handle(request: SdkRequest): Promise<{ response: SdkResponse }> {
      return new Promise((resolve, reject) => {
        const req = new EventEmitter() as EventEmitter & Record<string, unknown>;
        req.method = request.method;
        req.url = `${request.path}${queryString(request.query)}`;
        req.headers = lowerCase(request.headers);
        const headers: Record<string, string> = {};
        const res = {
          statusCode: 200,
          setHeader(name: string, value: unknown) {
            headers[name.toLowerCase()] = String(value);
          },
          getHeader: (name: string) => headers[name.toLowerCase()],
          end(body?: string | Buffer) {
            const bytes = body === undefined ? Buffer.alloc(0) : Buffer.from(body);
            resolve({
              response: { statusCode: this.statusCode, headers, body: Readable.from([bytes]) },
            });
          },
        };
        try {
          listener(req as unknown as IncomingMessage, res as unknown as ServerResponse);
        } catch (error) {
          reject(error);
          return;
        }
        const body = bodyBytes(request.body);
        if (body.length > 0) req.emit("data", body);
        req.emit("end");
      });
    },
    updateHttpClientConfig() {},
    httpHandlerConfigs: () => ({}),
    destroy() {},
  };
}

function bodyBytes(body: unknown): Buffer {
  if (body === undefined || body === null) return Buffer.alloc(0);
  if (typeof body === "string") return Buffer.from(body);
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  throw new TypeError("the in-process DynamoDB transport takes string or byte bodies only");
}

function lowerCase(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) out[name.toLowerCase()] = value;
  return out;
}

function queryString(query: SdkRequest["query"]): string {
  if (!query) return "";
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    for (const one of Array.isArray(value) ? value : [value]) params.append(name, one ?? "");
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}
