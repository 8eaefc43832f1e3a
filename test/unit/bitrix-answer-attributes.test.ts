import { describe, expect, it } from "vitest";
import { answerAttributes } from "../../functions/adapters/bitrix-client";

/** What a Bitrix24 call's client span records of the answer (docs/tracing.md). */
describe("a Bitrix24 answer's span attributes", () => {
  it.each([
    [
      "a success with its time block",
      { result: true, time: { operating: 0.4, operating_reset_at: 1796365507 } },
      { "bitrix24.time.operating": 0.4, "bitrix24.time.operating_reset_at": 1796365507 },
    ],
    [
      "an error code with the operating figures",
      {
        error: "OPERATION_TIME_LIMIT",
        time: { operating: 480.25, operating_reset_at: "1796365507" },
      },
      {
        "bitrix24.error_code": "OPERATION_TIME_LIMIT",
        "bitrix24.time.operating": 480.25,
        "bitrix24.time.operating_reset_at": 1796365507,
      },
    ],
    [
      "an error without a time block",
      { error: "QUERY_LIMIT_EXCEEDED", error_description: "Too many requests" },
      { "bitrix24.error_code": "QUERY_LIMIT_EXCEEDED" },
    ],
    [
      "a time block without the operating figures",
      { result: true, time: { start: 1, finish: 2 } },
      {},
    ],
    [
      "figures that are not numbers",
      { result: true, time: { operating: "soon", operating_reset_at: null } },
      {},
    ],
    ["an empty error", { error: "" }, {}],
    ["no JSON (a gateway page)", undefined, {}],
    ["a JSON string", "Service Unavailable", {}],
  ])("%s", (_name, answer, expected) => {
    expect(answerAttributes(answer)).toEqual(expected);
  });
});
