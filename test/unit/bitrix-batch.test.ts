import { describe, expect, it } from "vitest";
import {
  batchBody,
  classifyBatchAnswer,
  operatingReport,
  phpQuery,
} from "../../functions/core/bitrix-batch";

const NOW = Date.parse("2030-01-07T09:00:00Z");

describe("a batch's answer, command by command", () => {
  it.each([
    [
      "a command missing from a 200 may have run",
      200,
      { result: { result: { m0: true }, result_error: {} } },
      [{ kind: "sent" }, { kind: "ambiguous", code: "NO_COMMAND_ANSWER" }],
    ],
    [
      "a 200 that is not a batch's answer is ambiguous for each",
      200,
      { result: true },
      [
        { kind: "ambiguous", code: "BAD_BATCH_ANSWER" },
        { kind: "ambiguous", code: "BAD_BATCH_ANSWER" },
      ],
    ],
    [
      "an error envelope for the whole request is every command's",
      503,
      { error: "QUERY_LIMIT_EXCEEDED", error_description: "Too many requests" },
      [
        {
          kind: "retry",
          code: "QUERY_LIMIT_EXCEEDED",
          status: 503,
          retryAfterMs: 1500,
          overloaded: true,
        },
        {
          kind: "retry",
          code: "QUERY_LIMIT_EXCEEDED",
          status: 503,
          retryAfterMs: 1500,
          overloaded: true,
        },
      ],
    ],
    [
      "a command's unknown error is a rejection; a non-true result may have landed",
      200,
      { result: { result: { m1: false }, result_error: { m0: { error: "SOMETHING_NEW" } } } },
      [
        { kind: "permanent", code: "SOMETHING_NEW", status: 400 },
        { kind: "ambiguous", code: "UNEXPECTED_RESULT" },
      ],
    ],
  ])("%s", (_name, status, body, expected) => {
    expect(classifyBatchAnswer(status, body, NOW, 2)).toEqual(expected);
  });

  it("waits for the reset the batch's time block reported after a command's OPERATION_TIME_LIMIT", () => {
    const body = {
      result: { result: {}, result_error: { m0: { error: "OPERATION_TIME_LIMIT" } } },
      time: { operating: 480.1, operating_reset_at: NOW / 1000 + 120 },
    };
    expect(classifyBatchAnswer(200, body, NOW, 1)).toEqual([
      {
        kind: "retry",
        code: "OPERATION_TIME_LIMIT",
        status: 400,
        retryAfterMs: 120_000,
        overloaded: false,
      },
    ]);
    expect(operatingReport(body, NOW)).toEqual({
      operatingSeconds: 480.1,
      resetAtMs: NOW + 120_000,
      at: NOW,
    });
  });
});

describe("a batch's body", () => {
  it("encodes each command's params as PHP's http_build_query does", () => {
    expect(phpQuery({ A: 1, B: { X: [1, { Y: "a b&c" }] }, C: true, D: undefined })).toBe(
      "A=1&B%5BX%5D%5B0%5D=1&B%5BX%5D%5B1%5D%5BY%5D=a%20b%26c&C=1",
    );
    expect(batchBody([["m.x", { A: 1 }]])).toEqual({ halt: 0, cmd: { m0: "m.x?A=1" } });
    expect(() => batchBody([])).toThrow(RangeError);
  });
});
