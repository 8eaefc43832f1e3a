import { describe, expect, it } from "vitest";
import { BadRequestError } from "../../../functions/core/errors";
import {
  header,
  parseJsonObject,
  requireHeader,
  valueAtPath,
} from "../../../functions/core/sources/request";

describe("request helpers", () => {
  const request = {
    headers: { "x-present": "yes", "x-empty": "", "x-absent": undefined },
    body: Buffer.alloc(0),
  };

  it("treats absent and empty headers alike", () => {
    expect(header(request, "x-present")).toBe("yes");
    expect(header(request, "x-empty")).toBeUndefined();
    expect(header(request, "x-absent")).toBeUndefined();
    expect(header(request, "x-never-sent")).toBeUndefined();
    expect(() => requireHeader(request, "x-empty")).toThrow(BadRequestError);
    expect(requireHeader(request, "x-present")).toBe("yes");
  });

  it("parses JSON objects and rejects everything else without quoting the body", () => {
    expect(parseJsonObject('{"a":[1,{"b":null}]}')).toEqual({ a: [1, { b: null }] });
    for (const text of ["{secret-ish text", "[]", "null", "1", '"s"', ""]) {
      const error = (() => {
        try {
          parseJsonObject(text);
        } catch (caught) {
          return caught as Error;
        }
      })();
      expect(error).toBeInstanceOf(BadRequestError);
      if (text) expect(error?.message).not.toContain(text);
    }
  });

  it("looks up dotted paths through objects and arrays", () => {
    const value = { data: { object: { id: "in_1" } }, items: [{ id: 5 }, { id: 6 }] };
    expect(valueAtPath(value, "data.object.id")).toBe("in_1");
    expect(valueAtPath(value, "items.1.id")).toBe(6);
    expect(valueAtPath(value, "items.2.id")).toBeUndefined();
    expect(valueAtPath(value, "data.missing.id")).toBeUndefined();
    expect(valueAtPath(value, "items.length")).toBeUndefined();
    expect(valueAtPath(value, "data.constructor")).toBeUndefined();
  });
});
