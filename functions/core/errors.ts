/**
 * One error family. Each HTTP-facing error owns its status; `expose` says whether its message
 * may reach the caller (never for 5xx). Anything that is not a HooklineError becomes a bare 500.
 */
export class HooklineError extends Error {
  readonly statusCode: number = 500;
  readonly code: string = "internal_error";
  readonly expose: boolean = false;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A 4xx error family member: its status and code fixed, its message shown to the caller. */
function callerError(statusCode: number, code: string) {
  return class extends HooklineError {
    override readonly statusCode = statusCode;
    override readonly code = code;
    override readonly expose = true;
  };
}

export class BadRequestError extends callerError(400, "bad_request") {}
export class InvalidSignatureError extends callerError(401, "invalid_signature") {}
export class UnknownSourceError extends callerError(404, "unknown_source") {}
export class PayloadTooLargeError extends callerError(413, "payload_too_large") {}
export class NotFoundError extends callerError(404, "not_found") {}

/** Our own dependency (store, queue) failed: the sender should retry. */
export class ServiceUnavailableError extends HooklineError {
  override readonly statusCode = 503;
  override readonly code = "service_unavailable";
}

/** The configuration file or environment is wrong; the message names the key or variable. */
export class ConfigError extends HooklineError {
  override readonly code = "config_error";
}
