import { createHash } from "node:crypto";
import type { SourceConfig } from "../config";
import { BadRequestError, InvalidSignatureError } from "../errors";
import {
  header,
  parseJsonObject,
  type RawRequest,
  type VerifiedEvent,
  valueAtPath,
} from "./request";
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
  const event: VerifiedEvent = {
    id: locate(source.eventId, "event id", request, payload),
    name: locate(source.eventName, "event name", request, payload),
    payload,
    // Id and name may come from unsigned headers: the signed bytes identify the event too.
    contentHash: contentHash(content),
  };
  // A re-signed retry is known by its id, which here anyone may change: its body must match too.
  if (source.timestampHeader !== undefined && "header" in source.eventId) {
    event.bodyHash = createHash("sha256").update(request.body).digest("hex");
  }
  return event;
}

/**
 * Reads a locator's value; integers are accepted and stringified (`123` -> `"123"`). A number
 * JSON parsing may have rounded (past 2^53 − 1, or not an integer) is refused: `2^53 + 1` parses
 * as `2^53`, so two events of a sender with 64-bit ids would share one id, and the second would
 * be settled as a copy of the first and never sent (docs/security.md).
 */
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
  if (typeof value === "number" && Number.isSafeInteger(value)) return String(value);
  if (typeof value === "number") {
    throw new BadRequestError(
      `body's ${what} at "${locator.path}" is a number JSON cannot carry exactly (an integer past 2^53 - 1, or a fraction): send it as a string`,
    );
  }
  throw new BadRequestError(`body has no string or number ${what} at "${locator.path}"`);
}

/**
 * A warning per HMAC source that takes its event name from a header while its signature covers
 * no timestamp: the header is unsigned, so anyone holding one signed body can replay it under
 * another event name at any time, and an `ignored` delivery records nothing to stop that
 * (docs/security.md). For `hookline check`; pure.
 */
export function unsignedEventNameWarnings(
  sources: readonly SourceConfig[],
): { key: string; message: string }[] {
  return sources.flatMap((source, index) =>
    source.type === "hmac" && "header" in source.eventName && source.timestampHeader === undefined
      ? [
          {
            key: `sources[${index}].eventName`,
            message:
              `"${source.id}" reads its event name from the ${source.eventName.header} header, which is unsigned: ` +
              "anyone holding one signed body can relabel it as another event. Prefer a JSON path in the body " +
              "(eventName.path), or have the sender sign a timestamp (timestampHeader).",
          },
        ]
      : [],
  );
}
