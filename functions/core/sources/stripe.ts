import type { SourceConfig } from "../config";
import { InvalidSignatureError } from "../errors";
import {
  header,
  parseJsonObject,
  type RawRequest,
  requireStringField,
  type VerifiedEvent,
} from "./request";
import { assertFresh, signedByAny } from "./signature";

export type StripeSourceConfig = Extract<SourceConfig, { type: "stripe" }>;

/**
 * Stripe: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]` over `<t>.<raw body>`, keyed with
 * the whole `whsec_...` string. Any v1 may match (Stripe sends several while a secret rolls).
 * The id is the event's `id`, the name its `type`. Same checks as the `stripe` SDK's
 * `constructEvent`, without loading the SDK, and future timestamps are rejected too.
 */
export function verifyStripe(
  source: StripeSourceConfig,
  secrets: readonly string[],
  request: RawRequest,
  now: Date,
): VerifiedEvent {
  const signatureHeader = header(request, "stripe-signature");
  if (signatureHeader === undefined) {
    throw new InvalidSignatureError("missing Stripe-Signature header");
  }
  const { timestamp, signatures } = parseSignatureHeader(signatureHeader);
  assertFresh(timestamp, now, source.toleranceSeconds);
  const content = {
    algorithm: "sha256",
    encoding: "hex",
    parts: [`${timestamp}.`, request.body],
  } as const;
  if (!signedByAny(secrets, content, signatures)) {
    throw new InvalidSignatureError(
      "Stripe-Signature has no v1 signature matching a configured secret",
    );
  }

  const payload = parseJsonObject(request.body.toString("utf8"));
  return {
    id: requireStringField(payload, "id"),
    name: requireStringField(payload, "type"),
    payload,
  };
}

function parseSignatureHeader(value: string): { timestamp: string; signatures: string[] } {
  let timestamp: string | undefined;
  const signatures: string[] = [];
  for (const item of value.split(",")) {
    const separator = item.indexOf("=");
    if (separator < 0) continue;
    const key = item.slice(0, separator).trim();
    const entry = item.slice(separator + 1).trim();
    if (key === "t") timestamp = entry;
    else if (key === "v1") signatures.push(entry);
  }
  if (timestamp === undefined || signatures.length === 0) {
    throw new InvalidSignatureError("Stripe-Signature must carry t=<timestamp> and v1=<signature>");
  }
  return { timestamp, signatures };
}
