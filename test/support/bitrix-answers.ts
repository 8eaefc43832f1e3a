import type { SendResult } from "../../functions/core/ports";

/** Bitrix24's answers as the client classifies them, for scripted portals and decision tables. */
export const answers = {
  sent: { kind: "sent" } as SendResult,
  limited: { kind: "limited", code: "USER_MESSAGE_LIMIT" } as SendResult,
  timeout: { kind: "ambiguous", code: "TIMEOUT" } as SendResult,
  reset: { kind: "ambiguous", code: "CONNECTION_LOST" } as SendResult,
  http500: {
    kind: "retry",
    code: "HTTP_500",
    status: 500,
    retryAfterMs: 1000,
    overloaded: false,
  } as SendResult,
  overloaded: {
    kind: "retry",
    code: "QUERY_LIMIT_EXCEEDED",
    status: 503,
    retryAfterMs: 1500,
    overloaded: true,
  } as SendResult,
  operating: {
    kind: "retry",
    code: "OPERATION_TIME_LIMIT",
    status: 429,
    retryAfterMs: 10_000,
    overloaded: false,
  } as SendResult,
  config: { kind: "config", code: "NOT_FOUND", status: 400 } as SendResult,
};
