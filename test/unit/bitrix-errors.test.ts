import { describe, expect, it } from "vitest";
import {
  BITRIX_CONFIG_FAULT_CODES,
  classifyBitrixAnswer,
  isBitrixConfigFault,
  operatingRetryAfterMs,
} from "../../functions/core/bitrix-errors";

const NOW = Date.UTC(2025, 0, 6, 12, 0, 0);
const err = (code: string) => ({ error: code, error_description: "text" });

describe("classifyBitrixAnswer", () => {
  it("200 with result true is sent", () => {
    const body = { result: true, time: { start: NOW / 1000, operating_reset_at: NOW / 1000 } };
    expect(classifyBitrixAnswer(200, body, NOW)).toEqual({ kind: "sent" });
  });

  it("a 200 with a malformed time block is still sent", () => {
    expect(classifyBitrixAnswer(200, { result: true, time: "soon" }, NOW)).toEqual({
      kind: "sent",
    });
  });

  it("USER_MESSAGE_LIMIT is limited", () => {
    expect(classifyBitrixAnswer(400, err("USER_MESSAGE_LIMIT"), NOW)).toEqual({
      kind: "limited",
      code: "USER_MESSAGE_LIMIT",
    });
  });

  it.each([
    [400, "CODE"],
    [400, "CODE_ERROR"],
    [400, "NOT_FOUND"],
    [400, "IMBOT_ERROR"],
    [401, "expired_token"],
    [401, "invalid_token"],
    [401, "NO_AUTH_FOUND"],
    [401, "SOMETHING_NEW"],
    [403, "ACCESS_DENIED"],
    [403, "INVALID_CREDENTIALS"],
    [403, "insufficient_scope"],
    [403, "WRONG_AUTH_TYPE"],
    [403, "SOMETHING_NEW"],
    [404, "ERROR_METHOD_NOT_FOUND"],
  ])("%i %s is a config fault", (status, code) => {
    expect(classifyBitrixAnswer(status, err(code), NOW)).toEqual({ kind: "config", code, status });
  });

  it("401 without a Bitrix24 body is a config fault", () => {
    expect(classifyBitrixAnswer(401, undefined, NOW)).toEqual({
      kind: "config",
      code: "HTTP_401",
      status: 401,
    });
  });

  it.each([
    [400, "USER_ID_EMPTY"],
    [400, "MESSAGE_EMPTY"],
    [400, "ATTACH_ERROR"],
    [400, "ATTACH_OVERSIZE"],
    [400, "KEYBOARD_ERROR"],
    [400, "KEYBOARD_OVERSIZE"],
    [400, "WRONG_REQUEST"],
    [400, "SOMETHING_NEW"],
    [404, "SOMETHING_NEW"],
    [413, "REQUEST_TOO_LARGE"],
  ])("%i %s is permanent", (status, code) => {
    expect(classifyBitrixAnswer(status, err(code), NOW)).toEqual({
      kind: "permanent",
      code,
      status,
    });
  });

  it("a 4xx without a Bitrix24 body is permanent", () => {
    expect(classifyBitrixAnswer(404, undefined, NOW)).toEqual({
      kind: "permanent",
      code: "HTTP_404",
      status: 404,
    });
  });

  it.each([
    ["QUERY_LIMIT_EXCEEDED", 1500],
    // A manual block by Bitrix24 support: the portal is held back for long.
    ["OVERLOAD_LIMIT", 900_000],
  ])("503 %s is not processed: an overloaded retry after %i ms", (code, retryAfterMs) => {
    expect(classifyBitrixAnswer(503, err(code), NOW)).toEqual({
      kind: "retry",
      code,
      status: 503,
      retryAfterMs,
      overloaded: true,
    });
  });

  it.each([
    [502, undefined, "HTTP_502"],
    [502, "<html>Bad Gateway</html>", "HTTP_502"],
    [504, undefined, "HTTP_504"],
    [500, undefined, "HTTP_500"],
    [503, undefined, "HTTP_503"],
    [500, { result: true }, "HTTP_500"],
  ])(
    "%i %j without Bitrix24's error envelope is ambiguous: the method may have run",
    (status, body, code) => {
      expect(classifyBitrixAnswer(status, body, NOW)).toEqual({ kind: "ambiguous", code });
    },
  );

  it.each([
    ["CODE", 400],
    ["CODE_ERROR", 400],
    ["NOT_FOUND", 400],
    ["IMBOT_ERROR", 400],
    ["WRONG_AUTH_TYPE", 403],
  ])("the 2026 code %s is a configuration fault", (code, status) => {
    expect(classifyBitrixAnswer(status, err(code), NOW)).toEqual({ kind: "config", code, status });
  });

  it.each([
    [500, err("INTERNAL_SERVER_ERROR"), "INTERNAL_SERVER_ERROR"],
    [504, err("GATEWAY_TIMEOUT"), "GATEWAY_TIMEOUT"],
    [408, undefined, "HTTP_408"],
  ])("%i %j (Bitrix24's own error envelope, or 408) is a plain retry", (status, body, code) => {
    expect(classifyBitrixAnswer(status, body, NOW)).toEqual({
      kind: "retry",
      code,
      status,
      retryAfterMs: 1000,
      overloaded: false,
    });
  });

  describe("429 OPERATION_TIME_LIMIT", () => {
    it("waits 10 s when the answer has no reset time", () => {
      expect(classifyBitrixAnswer(429, err("OPERATION_TIME_LIMIT"), NOW)).toEqual({
        kind: "retry",
        code: "OPERATION_TIME_LIMIT",
        status: 429,
        retryAfterMs: 10_000,
        overloaded: false,
      });
    });

    it("waits until time.operating_reset_at", () => {
      const body = {
        ...err("OPERATION_TIME_LIMIT"),
        time: { operating_reset_at: NOW / 1000 + 95 },
      };
      expect(classifyBitrixAnswer(429, body, NOW)).toMatchObject({
        kind: "retry",
        retryAfterMs: 95_000,
      });
    });

    it("a 429 with another code is the same limit", () => {
      expect(classifyBitrixAnswer(429, undefined, NOW)).toMatchObject({
        kind: "retry",
        code: "HTTP_429",
        retryAfterMs: 10_000,
      });
    });
  });

  it.each([
    [{ result: false }, "UNEXPECTED_RESULT"],
    [{ result: { id: 1 } }, "UNEXPECTED_RESULT"],
    [undefined, "BAD_ANSWER"],
    ["<html>ok</html>", "BAD_ANSWER"],
    [{ foo: 1 }, "BAD_ANSWER"],
  ])("200 %j is ambiguous: the method may have run", (body, code) => {
    expect(classifyBitrixAnswer(200, body, NOW)).toEqual({ kind: "ambiguous", code });
  });

  it("an error envelope wins over a result", () => {
    const body = { result: true, ...err("WRONG_REQUEST") };
    expect(classifyBitrixAnswer(400, body, NOW)).toMatchObject({ kind: "permanent" });
  });

  it("a redirect the client did not follow is a config fault", () => {
    expect(classifyBitrixAnswer(302, undefined, NOW)).toEqual({
      kind: "config",
      code: "HTTP_302",
      status: 302,
    });
  });
});

describe("operatingRetryAfterMs", () => {
  const nowSec = NOW / 1000;
  it.each([
    [undefined, 10_000],
    [Number.NaN, 10_000],
    [nowSec - 30, 10_000], // already past
    [nowSec + 3, 10_000], // sooner than the floor
    [nowSec + 42.5, 42_500],
    [nowSec + 599, 599_000],
    [nowSec + 86_400, 600_000], // never more than one 10-minute window
  ])("reset at %s -> %i ms", (resetAt, expected) => {
    expect(operatingRetryAfterMs(resetAt, NOW)).toBe(expected);
  });

  it("reads a numeric string from the answer", () => {
    const body = { error: "OPERATION_TIME_LIMIT", time: { operating_reset_at: `${nowSec + 20}` } };
    expect(classifyBitrixAnswer(429, body, NOW)).toMatchObject({ retryAfterMs: 20_000 });
  });
});

describe("config fault codes", () => {
  it("lists the codes a person must fix", () => {
    for (const code of ["CODE_ERROR", "NOT_FOUND", "NO_AUTH_FOUND", "insufficient_scope"]) {
      expect(BITRIX_CONFIG_FAULT_CODES).toContain(code);
      expect(isBitrixConfigFault(code)).toBe(true);
    }
    expect(isBitrixConfigFault("USER_MESSAGE_LIMIT")).toBe(false);
    expect(isBitrixConfigFault("QUERY_LIMIT_EXCEEDED")).toBe(false);
  });
});
