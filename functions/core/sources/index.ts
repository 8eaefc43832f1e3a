import type { SourceConfig } from "../config";
import { verifyGithub } from "./github";
import { verifyHmac } from "./hmac";
import type { RawRequest, VerifiedEvent } from "./request";
import { verifyStandardWebhook } from "./standard-webhooks";
import { verifyStripe } from "./stripe";

export type { RawRequest, VerifiedEvent } from "./request";

/**
 * Verifies the signature on the raw body (before any parsing), then parses and extracts id and
 * name. `secrets` are the source's resolved secret values; any one of them may have signed it.
 * Throws InvalidSignatureError (401) or BadRequestError (400).
 *
 * @example
 * const event = await verifyEvent(source, ["whsec_..."], { headers, body }, clock.now());
 * // { id: "evt_1", name: "invoice.payment_failed", payload: { ... } }
 */
export async function verifyEvent(
  source: SourceConfig,
  secrets: readonly string[],
  request: RawRequest,
  now: Date,
): Promise<VerifiedEvent> {
  return verifyEventNow(source, secrets, request, now);
}

/**
 * {@link verifyEvent} without the promise, for ingest's hot path: every check is synchronous,
 * and it throws the same errors.
 */
export function verifyEventNow(
  source: SourceConfig,
  secrets: readonly string[],
  request: RawRequest,
  now: Date,
): VerifiedEvent {
  switch (source.type) {
    case "github":
      return verifyGithub(secrets, request);
    case "stripe":
      return verifyStripe(source, secrets, request, now);
    case "standard-webhooks":
      return verifyStandardWebhook(source, secrets, request, now);
    case "hmac":
      return verifyHmac(source, secrets, request, now);
  }
}
