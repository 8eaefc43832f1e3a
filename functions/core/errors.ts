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

export class BadRequestError extends HooklineError {
  override readonly statusCode = 400;
  override readonly code = "bad_request";
  override readonly expose = true;
}

export class InvalidSignatureError extends HooklineError {
  override readonly statusCode = 401;
  override readonly code = "invalid_signature";
  override readonly expose = true;
}

export class UnknownSourceError extends HooklineError {
  override readonly statusCode = 404;
  override readonly code = "unknown_source";
  override readonly expose = true;
}

export class PayloadTooLargeError extends HooklineError {
  override readonly statusCode = 413;
  override readonly code = "payload_too_large";
  override readonly expose = true;
}

export class NotFoundError extends HooklineError {
  override readonly statusCode = 404;
  override readonly code = "not_found";
  override readonly expose = true;
}

/** Our own dependency (store, queue) failed: the sender should retry. */
export class ServiceUnavailableError extends HooklineError {
  override readonly statusCode = 503;
  override readonly code = "service_unavailable";
}

/** The configuration file or environment is wrong; the message names the key or variable. */
export class ConfigError extends HooklineError {
  override readonly code = "config_error";
}
