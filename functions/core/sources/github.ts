import { BadRequestError, InvalidSignatureError } from "../errors";
import { payloadFitsEvent } from "./github-events";
import {
  header,
  parseJsonObject,
  type RawRequest,
  requireHeader,
  type VerifiedEvent,
} from "./request";
import { contentHash, signedByAny } from "./signature";

const SIGNATURE_PREFIX = "sha256=";
const EVENT_NAME = /^[a-z0-9_]{1,64}$/;

/**
 * GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, raw body)>`. The id is
 * `X-GitHub-Delivery` (stable across redeliveries); the name is `X-GitHub-Event` plus `.action`
 * when the payload has one, e.g. `issues.closed` or `push`. Neither header is signed, so the
 * event also carries the hash of the signed body (`contentHash`) for deduplication.
 *
 * node:crypto rather than `@octokit/webhooks-methods` `verify`: that takes the body as a string,
 * so it would verify a decoded and re-encoded copy instead of the bytes as sent.
 */
export function verifyGithub(secrets: readonly string[], request: RawRequest): VerifiedEvent {
  const signature = header(request, "x-hub-signature-256");
  if (signature === undefined) {
    throw new InvalidSignatureError("missing X-Hub-Signature-256 header");
  }
  if (!signature.startsWith(SIGNATURE_PREFIX)) {
    throw new InvalidSignatureError('X-Hub-Signature-256 must start with "sha256="');
  }
  const content = { algorithm: "sha256", encoding: "hex", parts: [request.body] } as const;
  if (!signedByAny(secrets, content, [signature.slice(SIGNATURE_PREFIX.length)])) {
    throw new InvalidSignatureError("X-Hub-Signature-256 does not match any configured secret");
  }

  const id = requireHeader(request, "x-github-delivery");
  const event = requireHeader(request, "x-github-event");
  // GitHub's event names are lower-case words joined by `_`. A dot would name no event of the
  // check below, so any body passed it, and `issues.x` made `issues.x.<action>` (docs/security.md).
  if (!EVENT_NAME.test(event)) {
    throw new BadRequestError("X-GitHub-Event is not a GitHub event name (such as issues or push)");
  }
  const payload = parseJsonObject(jsonText(request));
  // The event header is unsigned: the signed body must be what it names (docs/security.md).
  if (!payloadFitsEvent(event, payload)) {
    throw new BadRequestError(`body is not a "${event}" event: X-GitHub-Event does not match it`);
  }
  const name = typeof payload.action === "string" ? `${event}.${payload.action}` : event;
  // Neither the delivery id nor the event header is signed: the body is the event's identity.
  return { id, name, payload, contentHash: contentHash(content) };
}

const FORM_PREFIX = "payload=";

/**
 * The JSON text of the body, with its encoding decided by the signed bytes, never by the unsigned
 * `Content-Type` header: a body that starts with `payload=` is GitHub's form encoding (one field),
 * anything else is JSON. A header that says otherwise is a 400, so a signed JSON body holding
 * `&payload=...&` in a comment cannot be replayed as a form (docs/security.md).
 */
function jsonText(request: RawRequest): string {
  const text = request.body.toString("utf8");
  const isForm = text.startsWith(FORM_PREFIX);
  const declared = mediaType(header(request, "content-type"));
  if (declared !== undefined && declared !== (isForm ? FORM : JSON_TYPE)) {
    throw new BadRequestError(
      `body is ${isForm ? "form-encoded" : "not form-encoded"}: does not match its Content-Type`,
    );
  }
  if (!isForm) return text;
  const fields = [...new URLSearchParams(text)];
  const [[, payload] = []] = fields;
  if (fields.length !== 1 || payload === undefined) {
    throw new BadRequestError("form-encoded body must hold one payload field");
  }
  return payload;
}

const FORM = "application/x-www-form-urlencoded";
const JSON_TYPE = "application/json";

function mediaType(contentType: string | undefined): string | undefined {
  return contentType?.split(";", 1)[0]?.trim().toLowerCase();
}
