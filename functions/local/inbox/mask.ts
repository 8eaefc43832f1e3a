import type { RawRequest } from "../request-log";
import { showBidi } from "./html";

/**
 * A stored request as the inbox shows it when opened: headers and payload, with what could let
 * someone forge or replay a request elsewhere masked (signatures, authorization, tokens,
 * secrets, keys). The start of a masked value stays, so two values can still be told apart.
 */

export interface ShownRequest {
  headers: [string, string][];
  /** The body: pretty JSON, form fields one per line, or the text as it came. */
  body: string;
  /** The body was cut to this many characters. */
  truncated?: number;
}

const SECRET_NAME =
  /signature|authorization|^auth$|token|secret|password|passwd|cookie|api[-_]?key|private[-_]?key|credential|session[-_]?id|cvc/i;
const KEPT_CHARACTERS = 4;
const MAX_BODY_CHARACTERS = 64 * 1024;

/** `whsec_abc…` → `whse… (masked, 38 characters)`. */
export function maskValue(value: string): string {
  if (value.length <= KEPT_CHARACTERS) return "… (masked)";
  return `${value.slice(0, KEPT_CHARACTERS)}… (masked, ${value.length} characters)`;
}

export const isSecretName = (name: string): boolean => SECRET_NAME.test(name);

/**
 * `signatureHeaders`: header names (lower case) that carry a signature under a name that does
 * not say so (a generic HMAC source's `header`).
 *
 * @example showRequest({ headers: { "stripe-signature": "t=1,v1=ab…" }, body }).headers
 * // [["stripe-signature", "t=1,… (masked, 72 characters)"]]
 */
export function showRequest(
  raw: RawRequest,
  signatureHeaders: ReadonlySet<string> = new Set(),
): ShownRequest {
  const masked = (name: string) => isSecretName(name) || signatureHeaders.has(name);
  const headers = Object.entries(raw.headers)
    .map(([name, value]): [string, string] => [name, masked(name) ? maskValue(value) : value])
    .sort(([a], [b]) => a.localeCompare(b));
  const text = raw.body.toString("utf8");
  const body = showBidi(showBody(text));
  return body.length > MAX_BODY_CHARACTERS
    ? { headers, body: body.slice(0, MAX_BODY_CHARACTERS), truncated: MAX_BODY_CHARACTERS }
    : { headers, body };
}

/** What a JSON body too deep for the masking's recursion shows: never the body, unmasked. */
const TOO_DEEP = "(a JSON body nested too deep to mask: not shown)";

function showBody(text: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = NOT_JSON;
  }
  if (parsed !== NOT_JSON) {
    try {
      return JSON.stringify(maskJson(parsed), null, 2);
    } catch {
      // The stack ran out (JSON.parse is not recursive, maskJson is): fail closed.
      return TOO_DEEP;
    }
  }
  if (/^[^=&\s]+=[^&]*(&[^=&\s]+=[^&]*)*$/.test(text)) {
    return [...new URLSearchParams(text)]
      .map(([name, value]) => `${name}=${isSecretName(name) ? maskValue(value) : showField(value)}`)
      .join("\n");
  }
  return text;
}

const NOT_JSON = Symbol("not JSON");

/** A form field; JSON in it (GitHub's `payload=`) is masked as a JSON body is, kept compact. */
function showField(value: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return value;
  }
  if (typeof parsed !== "object" || parsed === null) return value;
  try {
    return JSON.stringify(maskJson(parsed));
  } catch {
    return TOO_DEEP;
  }
}

function maskJson(value: unknown, name = ""): unknown {
  if (typeof value === "string") return isSecretName(name) ? maskValue(value) : value;
  if (Array.isArray(value)) return value.map((item) => maskJson(item, name));
  if (typeof value !== "object" || value === null) return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, inner]) => [key, maskJson(inner, key)]),
  );
}
