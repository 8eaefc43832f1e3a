import type { SourceConfig } from "../config";
import { ConfigError, InvalidSignatureError } from "../errors";
import {
  header,
  parseJsonObject,
  type RawRequest,
  requireHeader,
  requireStringField,
  type VerifiedEvent,
} from "./request";
import { assertFresh, signedByAny } from "./signature";

export type StandardWebhooksSourceConfig = Extract<SourceConfig, { type: "standard-webhooks" }>;

const SECRET_PREFIX = "whsec_";

/**
 * Standard Webhooks (Svix and others): `webhook-signature` holds space-separated `v1,<base64>`
 * entries over `<webhook-id>.<webhook-timestamp>.<raw body>`, keyed with the base64-decoded
 * secret after `whsec_`. The id is `webhook-id`, the name the payload's `type`.
 *
 * node:crypto rather than the `standardwebhooks` package: that hashes in pure JavaScript and
 * reads the clock itself with a fixed tolerance.
 */
export function verifyStandardWebhook(
  source: StandardWebhooksSourceConfig,
  secrets: readonly string[],
  request: RawRequest,
  now: Date,
): VerifiedEvent {
  const id = requireHeader(request, "webhook-id");
  const timestamp = header(request, "webhook-timestamp");
  const signatureHeader = header(request, "webhook-signature");
  if (timestamp === undefined || signatureHeader === undefined) {
    throw new InvalidSignatureError("missing webhook-timestamp or webhook-signature header");
  }
  assertFresh(timestamp, now, source.toleranceSeconds);
  const content = {
    algorithm: "sha256",
    encoding: "base64",
    parts: [`${id}.${timestamp}.`, request.body],
  } as const;
  const keys = secrets.map((secret) => signingKey(source, secret));
  if (!signedByAny(keys, content, v1Signatures(signatureHeader))) {
    throw new InvalidSignatureError(
      "webhook-signature has no v1 signature matching a configured secret",
    );
  }

  const payload = parseJsonObject(request.body.toString("utf8"));
  return { id, name: requireStringField(payload, "type"), payload };
}

/** Padded standard base64, all of it: what the reference libraries accept as a secret. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * The HMAC key: base64 after the optional `whsec_` prefix, as the reference libraries read it.
 * Anything else is refused, as they refuse it: `Buffer.from` would skip what is not base64 and
 * stop at the first `=`, keying the HMAC with a few guessable bytes (docs/security.md).
 */
function signingKey(source: StandardWebhooksSourceConfig, secret: string): Buffer {
  // A newline after it (a secret stored from a file) was always skipped: it still is.
  const text = secret.trim();
  const encoded = text.startsWith(SECRET_PREFIX) ? text.slice(SECRET_PREFIX.length) : text;
  if (!BASE64.test(encoded)) {
    throw new ConfigError(
      `source "${source.id}": a secret is not padded base64 (after an optional "${SECRET_PREFIX}"), as a Standard Webhooks secret is; check the value stored for it`,
    );
  }
  return Buffer.from(encoded, "base64");
}

/** The base64 parts of `v1,<base64>` entries; other versions (e.g. asymmetric `v1a`) are skipped. */
function v1Signatures(value: string): string[] {
  const signatures: string[] = [];
  for (const entry of value.split(" ")) {
    const [version, signature] = entry.split(",", 2);
    if (version === "v1" && signature) signatures.push(signature);
  }
  return signatures;
}
