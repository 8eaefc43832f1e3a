import { BadRequestError } from "../errors";

/** An HTTP request as received: header names lower-cased, the body as the exact bytes sent. */
export interface RawRequest {
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly body: Buffer;
}

/** A header's value, or undefined when it is absent or empty. `name` must be lower-case. */
export function header(request: RawRequest, name: string): string | undefined {
  const value = request.headers[name];
  return value === undefined || value === "" ? undefined : value;
}

/** A header that must be present; its absence is the sender's fault (400). */
export function requireHeader(request: RawRequest, name: string): string {
  const value = header(request, name);
  if (value === undefined) throw new BadRequestError(`missing required header ${name}`);
  return value;
}

/**
 * Parses JSON text that must hold an object. The error never quotes the text: it is the
 * sender's payload.
 */
export function parseJsonObject(text: string, what = "body"): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new BadRequestError(`${what} is not valid JSON`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new BadRequestError(`${what} must be a JSON object`);
  }
  return value as Record<string, unknown>;
}

/**
 * Looks up a dotted path in parsed JSON; numeric segments index arrays.
 * @example valueAtPath({ items: [{ id: 7 }] }, "items.0.id") // 7
 */
export function valueAtPath(value: unknown, path: string): unknown {
  let current = value;
  for (const segment of path.split(".")) {
    if (typeof current !== "object" || current === null) return undefined;
    // Only JSON data is reachable: no `length` of arrays, nothing inherited.
    if (Array.isArray(current) && !/^\d+$/.test(segment)) return undefined;
    if (!Object.hasOwn(current, segment)) return undefined;
    current = (current as Record<string, unknown>)[segment];
  }
  return current;
}

/** A non-empty string field of the payload, required to identify or name the event. */
export function requireStringField(payload: Record<string, unknown>, field: string): string {
  const value = payload[field];
  if (typeof value !== "string" || value === "") {
    throw new BadRequestError(`body must have a non-empty string "${field}"`);
  }
  return value;
}

/** A webhook whose signature checked out: its id (for dedupe), its name (for routes), its body. */
export interface VerifiedEvent {
  id: string;
  name: string;
  payload: unknown;
  /**
   * SHA-256 (hex) of the signed bytes, for senders whose signature covers neither the id nor
   * the name (GitHub, generic HMAC): the same signed bytes are the same event, whatever the
   * headers say, so ingest deduplicates on this too.
   */
  contentHash?: string;
  /**
   * SHA-256 (hex) of the body alone, for a sender that re-signs each retry and whose id is
   * unsigned (generic HMAC, a timestamp, the id in a header): see `Receipt.bodyHash`.
   */
  bodyHash?: string;
}
