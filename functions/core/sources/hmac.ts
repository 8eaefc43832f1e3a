import type { SourceConfig } from "../config";
import { BadRequestError, InvalidSignatureError } from "../errors";
import type { VerifiedEvent } from "./index";
import { header, parseJsonObject, type RawRequest, valueAtPath } from "./request";
import { assertFresh, contentHash, signedByAny } from "./signature";

export type HmacSourceConfig = Extract<SourceConfig, { type: "hmac" }>;
type Locator = HmacSourceConfig["eventId"];

/**
 * A generic HMAC sender, described by its config: the signature header (after an optional
 * prefix such as `sha256=`), algorithm and encoding; with `timestampHeader`, the signed content is
 * `<timestamp>.<raw body>` and the timestamp must be within tolerance. Id and name come from a
 * header or a dotted JSON path (`data.object.id`, `items.0.id`).
 */
export function verifyHmac(
  source: HmacSourceConfig,
  secrets: readonly string[],
  request: RawRequest,
  now: Date,
): VerifiedEvent {
  const signature = header(request, source.header);
  if (signature === undefined) throw new InvalidSignatureError(`missing ${source.header} header`);
  if (!signature.startsWith(source.prefix)) {
    throw new InvalidSignatureError(`${source.header} must start with "${source.prefix}"`);
  }
  const parts: (string | Buffer)[] = [request.body];
  if (source.timestampHeader !== undefined) {
    const timestamp = header(request, source.timestampHeader);
    if (timestamp === undefined) {
      throw new InvalidSignatureError(`missing ${source.timestampHeader} header`);
    }
    assertFresh(timestamp, now, source.toleranceSeconds);
    parts.unshift(`${timestamp}.`);
  }
  const content = { algorithm: source.algorithm, encoding: source.encoding, parts };
  if (!signedByAny(secrets, content, [signature.slice(source.prefix.length)])) {
    throw new InvalidSignatureError(`${source.header} does not match any configured secret`);
  }

  const payload = parseJsonObject(request.body.toString("utf8"));
  return {
    id: locate(source.eventId, "event id", request, payload),
    name: locate(source.eventName, "event name", request, payload),
    payload,
    // Id and name may come from unsigned headers: the signed bytes identify the event too.
    contentHash: contentHash(content),
  };
}

/** Reads a locator's value; numbers are accepted and stringified (`123` -> `"123"`). */
function locate(
  locator: Locator,
  what: string,
  request: RawRequest,
  payload: Record<string, unknown>,
): string {
  if ("header" in locator) {
    const value = header(request, locator.header);
    if (value === undefined) throw new BadRequestError(`missing ${what} header ${locator.header}`);
    return value;
  }
  const value = valueAtPath(payload, locator.path);
  if (typeof value === "string" && value !== "") return value;
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  throw new BadRequestError(`body has no string or number ${what} at "${locator.path}"`);
}
