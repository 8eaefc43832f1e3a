import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { InvalidSignatureError } from "../errors";

export type HmacAlgorithm = "sha256" | "sha1";
export type SignatureEncoding = "hex" | "base64";

/** What a sender signed and how: the parts are hashed in order, never concatenated into a copy. */
export interface SignedContent {
  readonly algorithm: HmacAlgorithm;
  readonly encoding: SignatureEncoding;
  readonly parts: readonly (string | Buffer)[];
}

/**
 * True when the HMAC of `content` under any key equals any candidate signature (rotation on
 * both sides). Each key's HMAC is computed once; comparisons are constant-time. Empty keys never
 * match, so an unset secret cannot turn into a well-known one.
 */
export function signedByAny(
  keys: readonly (string | Buffer)[],
  content: SignedContent,
  candidates: readonly string[],
): boolean {
  if (candidates.length === 0) return false;
  // As UTF-8 bytes, both sides: Latin-1 would cut U+0163 to "c", giving one signature many
  // spellings (the digest is ASCII either way).
  const received = candidates.map((candidate) => Buffer.from(candidate, "utf8"));
  for (const key of keys) {
    if (key.length === 0) continue;
    const mac = createHmac(content.algorithm, key);
    for (const part of content.parts) mac.update(part);
    const expected = Buffer.from(mac.digest(content.encoding), "utf8");
    if (received.some((signature) => equalInConstantTime(expected, signature))) return true;
  }
  return false;
}

/** SHA-256 (hex) of what was signed, part by part as the HMAC saw it. */
export function contentHash(content: SignedContent): string {
  const hash = createHash("sha256");
  for (const part of content.parts) hash.update(part);
  return hash.digest("hex");
}

/** `timingSafeEqual` that answers false, instead of throwing, on a length mismatch. */
export function equalInConstantTime(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Rejects a signed unix-seconds timestamp that is not a plain number or lies further than
 * `toleranceSeconds` from `now`, in either direction (a future one is as suspicious as a stale one).
 */
export function assertFresh(timestamp: string, now: Date, toleranceSeconds: number): void {
  if (!/^\d{1,15}$/.test(timestamp)) {
    throw new InvalidSignatureError("signature timestamp is not a unix time in seconds");
  }
  const skew = Math.floor(now.getTime() / 1000) - Number(timestamp);
  if (Math.abs(skew) > toleranceSeconds) {
    const direction = skew > 0 ? "old" : "far in the future";
    throw new InvalidSignatureError(
      `signature timestamp is too ${direction} (${Math.abs(skew)} s; tolerance ${toleranceSeconds} s)`,
    );
  }
}
